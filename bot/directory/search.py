"""Service search: filters, distance, open-now and ranking over the HSDS tables.

One indexed SQL query finds the candidate services at locations (need category, bounding
box around the place, language, population, cost, capacity, free text). Open-now is
decided on the candidates' schedule rows; every match is then ranked on a few columns
(``bot.directory.ranking``) and the full details are loaded for the page shown only
(``bot.directory.details``). When nothing local matches, national resources answer,
marked as national. Confidential locations take no part in any distance, box or radius:
they are found by city, county or state only (``bot.directory.confidential``), and a
result for one has no address, no coordinates and no distance.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.directory.confidential import is_confidential, matches_place
from bot.directory.details import Opening, ServiceResult, grouped, load_details, shown_address
from bot.directory.geocode import CITY_RADIUS_KM, STATES, timezone_for
from bot.directory.hours import Hours, is_open
from bot.directory.hours import schedule_hours as _hours
from bot.directory.hours import timezone_named as _timezone
from bot.directory.models import (
    IDS,
    Address,
    Attribute,
    Language,
    Location,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    in_chunks,
)
from bot.directory.ranking import load_facts, rank
from bot.directory.taxonomy import need_term, profile_term
from bot.i18n.text import fold

__all__ = [
    "DEFAULT_RADIUS_KM",
    "Hours",
    "SearchQuery",
    "SearchResults",
    "ServiceResult",
    "haversine_km",
    "is_open",
    "search",
]

DEFAULT_RADIUS_KM = CITY_RADIUS_KM  # a search without a place's own radius
NATIONAL_AREAS = ("united states", "usa", "us", "national", "nationwide")
# A user asking for one population is also served by these (ranked after an exact match).
POPULATION_SERVED_BY = {
    "men": ("men", "all"),
    "women": ("women", "all", "families"),
    "boys": ("boys", "minors", "unaccompanied_minors"),
    "girls": ("girls", "minors", "unaccompanied_minors"),
    "minors": ("minors", "boys", "girls", "unaccompanied_minors"),
    "unaccompanied_minors": ("unaccompanied_minors", "minors"),
    "lgbtq": ("lgbtq",),
    "families": ("families", "all"),
    "trafficking_specialized": ("trafficking_specialized",),
}
COSTS = {"free": ("free",), "low_cost": ("free", "sliding_scale")}


@dataclass(frozen=True)
class SearchQuery:
    """What to look for. Every field is optional; coordinates come from geocoding."""

    need: str | None = None  # a Haven need category ("legal_aid")…
    taxonomy_term_id: str | None = None  # …or any taxonomy term id (HSDS API)
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float = DEFAULT_RADIUS_KM
    state: str | None = None
    areas: tuple[str, ...] = ()  # local names (city, counties) a service area may name
    language: str | None = None  # ISO 639-1 code the service should speak
    open_now: bool = False
    population: str | None = None
    cost: str | None = None  # "free" or "low_cost" (free or sliding scale)
    immigration: str | None = None  # what the person has, e.g. "hhs_certification"
    capacity: bool = False  # only services reporting a free place
    text: str | None = None  # words in the name or description
    national_fallback: bool = True
    # What the conversation knows about the person: services whose population profile
    # leaves them out are ranked after the others, and say so (``ServiceResult.fit_note``).
    gender: str | None = None  # "man" or "woman"
    age_group: str | None = None  # "adult" or "youth"
    with_children: bool = False  # family services rank as an exact population match

    @property
    def term(self) -> str | None:
        return self.taxonomy_term_id or (need_term(self.need) if self.need else None)

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True)
class SearchResults:
    results: tuple[ServiceResult, ...]
    total: int
    national_fallback: bool = False  # nothing local matched: these are national resources
    offset: int = 0

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.results) < self.total


@dataclass
class _Candidate:
    service_id: str
    sal_id: str | None = None
    location_id: str | None = None
    distance_km: float | None = None
    national: bool = False


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


# The tables the filters' subqueries read, aliased once (an alias costs time to build).
_ATTRIBUTE = Attribute.__table__.alias("filter_attribute")
_LANGUAGE = Language.__table__.alias("filter_language")
_CAPACITY = ServiceCapacity.__table__.alias("filter_capacity")
_AREA = ServiceArea.__table__.alias("national_area")
# Whether a location is confidential, for the two candidate queries (built once).
_LOCATION_CONFIDENTIAL = is_confidential(Location.__table__.c.id)
_ADDRESS_CONFIDENTIAL = is_confidential(Address.__table__.c.location_id)


def _service_filters(
    query: SearchQuery, s: sa.Table, service_id: sa.ColumnElement | None = None
) -> list:
    """SQL conditions on the service table for the query's filters (all bound parameters).

    The subqueries (need, language, profile, capacity) match ``service_id``, the service
    table's id unless a joined column is given (``service_at_location.service_id`` lets
    the database test them before it reads the service)."""
    service_id = s.c.id if service_id is None else service_id
    conditions: list = [s.c.status == "active"]

    def has_attribute(term: str, values: tuple[str, ...] | None = None):
        a = _ATTRIBUTE
        condition = sa.exists().where(
            a.c.link_entity == "service", a.c.link_id == service_id, a.c.taxonomy_term_id == term
        )
        return condition.where(a.c.value.in_(values)) if values else condition

    if query.term:
        conditions.append(has_attribute(query.term))
    if query.language:
        lang = _LANGUAGE
        conditions.append(
            sa.exists().where(lang.c.service_id == service_id, lang.c.code == query.language)
        )
    if query.population:
        served_by = POPULATION_SERVED_BY.get(query.population, (query.population,))
        conditions.append(has_attribute(profile_term("population"), served_by))
    if query.cost in COSTS:
        conditions.append(has_attribute(profile_term("cost"), COSTS[query.cost]))
    if query.immigration:
        accepted = tuple({query.immigration, "none_required"})
        conditions.append(has_attribute(profile_term("immigration_eligibility"), accepted))
    if query.capacity:
        capacity = _CAPACITY
        conditions.append(
            sa.exists().where(capacity.c.service_id == service_id, capacity.c.available > 0)
        )
    if query.text and query.text.strip():
        pattern = _like(query.text.strip()[:200])
        conditions.append(
            sa.or_(
                sa.func.lower(s.c.name).like(pattern, escape="\\"),
                sa.func.lower(sa.func.coalesce(s.c.description, "")).like(pattern, escape="\\"),
            )
        )
    return conditions


def _is_national(area: sa.Table):
    """SQL: the service area is the whole country."""
    return sa.or_(area.c.extent_type == "country", sa.func.lower(area.c.name).in_(NATIONAL_AREAS))


def _national_condition(s: sa.Table):
    """SQL: the service has a service area that is the whole country."""
    return sa.exists().where(_AREA.c.service_id == s.c.id, _is_national(_AREA))


def _box(query: SearchQuery, loc: sa.Table) -> list:
    """SQL: the location is inside the bounding box of the query's radius (indexed)."""
    dlat = query.radius_km / 111.0
    dlon = query.radius_km / (111.0 * max(0.01, math.cos(math.radians(query.latitude))))
    return [
        loc.c.latitude.between(query.latitude - dlat, query.latitude + dlat),
        loc.c.longitude.between(query.longitude - dlon, query.longitude + dlon),
    ]


def _local_candidates(session: Session, query: SearchQuery) -> list[_Candidate]:
    """The query's services at the locations within its radius (none confidential), then,
    with a state, confidential locations by city and services by service area; without
    coordinates, every matching service at every location, with no distance."""
    s, sal, loc = Service.__table__, ServiceAtLocation.__table__, Location.__table__
    statement = (
        sa.select(s.c.id, sal.c.id, loc.c.id)
        .select_from(loc.join(sal, sal.c.location_id == loc.c.id))
        .join(s, s.c.id == sal.c.service_id)
        .where(*_service_filters(query, s, sal.c.service_id))
    )
    if not query.located:
        return [_Candidate(*row) for row in session.execute(statement)]
    located = statement.add_columns(loc.c.latitude, loc.c.longitude, _LOCATION_CONFIDENTIAL)
    rows = session.execute(located.where(*_box(query, loc)))
    candidates = []
    for service_id, sal_id, location_id, latitude, longitude, confidential in rows:
        if confidential:
            continue
        distance = haversine_km(query.latitude, query.longitude, latitude, longitude)
        if distance <= query.radius_km:
            candidates.append(_Candidate(service_id, sal_id, location_id, distance))
    if query.state:
        candidates += _confidential_candidates(session, query)
        candidates += _area_candidates(session, query, {c.service_id for c in candidates})
    return candidates


def _letter_cases(code: str) -> list[str]:
    """Every spelling of a state code in upper or lower case ("TX", "Tx", "tX", "tx"): an
    indexed ``IN`` equal to comparing in upper case."""
    cases = [dict.fromkeys((c.upper(), c.lower())) for c in code]
    return ["".join(letters) for letters in itertools.product(*cases)]


def _confidential_candidates(session: Session, query: SearchQuery) -> list[_Candidate]:
    """Confidential locations near the query's place, by city, county or state: no geometry.

    Near a city, the state's city names are read first (an index scan) and matched in
    Python; only the addresses in the matching cities are joined."""
    s, sal, address = Service.__table__, ServiceAtLocation.__table__, Address.__table__
    in_state = address.c.state_province.in_(_letter_cases(query.state or ""))
    statement = (
        sa.select(s.c.id, sal.c.id, sal.c.location_id)
        .select_from(address.join(sal, sal.c.location_id == address.c.location_id))
        .join(s, s.c.id == sal.c.service_id)
        .where(
            in_state,
            _ADDRESS_CONFIDENTIAL,
            *_service_filters(query, s, sal.c.service_id),
        )
    )
    if query.areas:
        names = session.execute(sa.select(address.c.city).where(in_state).distinct()).scalars()
        # every name read is in the query's state (matched above, in any letter case)
        cities = [c for c in names if matches_place(c, query.state, query.state, query.areas)]
        rows = in_chunks(session, statement.where(address.c.city.in_(IDS)), cities)
    else:  # a state-wide search: every city
        rows = session.execute(statement)
    found: dict[tuple[str, str], _Candidate] = {}
    for service_id, sal_id, location_id in rows:
        found.setdefault((service_id, sal_id), _Candidate(service_id, sal_id, location_id))
    return list(found.values())


def _serves(area_name: str, query: SearchQuery) -> bool:
    """Whether a service area's name covers the query's place: the whole state, or the
    state plus one of the place's local names ("Harris County, TX" for Houston)."""
    words = fold(area_name).replace(",", " ")
    tokens = set(words.split())
    state_name = fold(STATES.get(query.state or "", ""))
    in_state = (query.state or "").lower() in tokens or bool(state_name and state_name in words)
    if not in_state:
        return False
    if words.strip() in {(query.state or "").lower(), state_name}:
        return True
    return any(re.search(rf"\b{re.escape(area)}\b", words) for area in query.areas)


def _area_candidates(session: Session, query: SearchQuery, seen: set[str]) -> list[_Candidate]:
    """Services without a nearby location whose service area covers the place (phone-only
    services such as ride programs or crisis lines that serve a county or a state).

    The distinct area names are read first (an index scan) and matched in Python; only the
    services of the matching names are then filtered."""
    s, area = Service.__table__, ServiceArea.__table__
    names = session.execute(sa.select(area.c.name).distinct()).scalars()
    serving = [name for name in names if name and _serves(name, query)]
    statement = (
        sa.select(s.c.id)
        .select_from(area.join(s, s.c.id == area.c.service_id))
        .where(*_service_filters(query, s, area.c.service_id), sa.not_(_national_condition(s)))
    )
    rows = in_chunks(session, statement.where(area.c.name.in_(IDS)), serving)
    found = {service_id for (service_id,) in rows}
    return [_Candidate(service_id) for service_id in sorted(found - seen)]


def _national_candidates(session: Session, query: SearchQuery) -> list[_Candidate]:
    """Services whose service area is the whole country (read from the areas first)."""
    s, area = Service.__table__, ServiceArea.__table__
    national = sa.select(area.c.service_id).where(_is_national(area))
    statement = sa.select(s.c.id).where(s.c.id.in_(national), *_service_filters(query, s))
    return [_Candidate(sid, national=True) for sid in session.execute(statement).scalars()]


# The address columns a location's time zone is read from when its schedule has none.
ADDRESS_COLUMNS = ("location_id", "address_type", "postal_code", "state_province")
SCHEDULE_LINKS = ("id", "service_id", "location_id", "service_at_location_id")


def _openings(session: Session, candidates: list[_Candidate], now: dt.datetime) -> list[Opening]:
    """Each candidate's hours (the service-at-location's, else the service's, else the
    location's) and whether it is open at ``now`` in its time zone (the schedule's, else
    the ZIP code's, else the state's): schedule rows and a few address columns only."""
    table = Schedule.__table__
    by_service = grouped(session, table, "service_id", {c.service_id for c in candidates})
    by_sal = grouped(session, table, "service_at_location_id", {c.sal_id for c in candidates})
    location_ids = {c.location_id for c in candidates}
    by_location = grouped(session, table, "location_id", location_ids)
    addresses = grouped(session, Address.__table__, "location_id", location_ids, ADDRESS_COLUMNS)
    known: dict[tuple, Opening] = {}  # the same hours in the same zone are read once
    openings = []
    for candidate in candidates:
        rows = (
            by_sal.get(candidate.sal_id, [])
            or by_service.get(candidate.service_id, [])
            or by_location.get(candidate.location_id, [])
        )
        address = shown_address(addresses.get(candidate.location_id, []))
        tz_name = next((r["timezone"] for r in rows if r["timezone"]), None)
        tz = _timezone(tz_name) or _timezone(
            timezone_for(address["postal_code"], address["state_province"]) if address else None
        )
        key = (tz, *(tuple(v for k, v in r.items() if k not in SCHEDULE_LINKS) for r in rows))
        if key not in known:
            hours = _hours(rows)
            known[key] = Opening(hours, is_open(hours, tz, now))
        openings.append(known[key])
    return openings


def _open_now(session: Session, candidates: list[_Candidate], now: dt.datetime) -> list[_Candidate]:
    openings = _openings(session, candidates, now)
    return [c for c, opening in zip(candidates, openings, strict=True) if opening.open_now]


def search(
    session: Session,
    query: SearchQuery,
    offset: int = 0,
    limit: int = 3,
    now: dt.datetime | None = None,
) -> SearchResults:
    """Ranked services for ``query``; ``offset``/``limit`` page through them."""
    now = now or dt.datetime.now(dt.timezone.utc)
    national = False
    # Without a place, the chat shows national resources; the HSDS API lists everything.
    local = query.located or not query.national_fallback
    candidates = _local_candidates(session, query) if local else []
    if query.open_now:
        candidates = _open_now(session, candidates, now)
    if not candidates and query.national_fallback:
        national = True
        candidates = _national_candidates(session, query)
        if query.open_now:
            candidates = _open_now(session, candidates, now)
    facts = load_facts(session, {c.service_id for c in candidates}, query, now)
    ranked = rank(candidates, facts, query)
    offset = max(0, offset)
    page = ranked[offset : offset + limit]
    openings = _openings(session, [r.candidate for r in page], now)
    results = load_details(session, page, openings)
    return SearchResults(tuple(results), len(ranked), national, offset)
