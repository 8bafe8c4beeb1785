"""Service search: filters, distance, open-now and ranking over the HSDS tables.

One index range of the search points (``bot.directory.points``) finds the candidate
services of a need near a place; the other filters (language, population, cost,
capacity, free text) are tested on those rows in the same query. Open-now is decided on
each candidate's resolved hours; every match is then ranked on one row of facts per
service (``bot.directory.ranking``) and the full details are loaded for the page shown
only (``bot.directory.details``). When nothing local matches, national resources answer,
marked as national. Confidential locations take no part in any distance, box or radius:
their search points have no coordinates, and they are found by city, county or state
only (``bot.directory.confidential``); a result for one has no address, no coordinates
and no distance.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.directory.confidential import matches_place
from bot.directory.details import Opening, ServiceResult, load_details
from bot.directory.geocode import CITY_RADIUS_KM, STATES
from bot.directory.hours import Hours, is_open, unpack_hours
from bot.directory.hours import timezone_named as _timezone
from bot.directory.models import (
    IDS,
    Attribute,
    Language,
    SearchHours,
    SearchPoint,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    grouped_by,
    in_chunks,
)
from bot.directory.points import indexed, point_term
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
# Filter value name → the profile term it is tested against (a tuple of allowed values).
PROFILE_FILTERS = {
    "populations": "population", "costs": "cost", "immigration": "immigration_eligibility",
}  # fmt: skip
HOURS_COLUMNS = ("service_id", "service_at_location_id", "timezone", "schedule")


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


def _filter_values(query: SearchQuery, by_term: bool = True) -> dict[str, Any]:
    """The values of the query's filters, by bound parameter name: the filters a query
    uses are the names present (``_service_filters``)."""
    values: dict[str, Any] = {}
    if query.term and by_term:
        values["term"] = query.term
    if query.language:
        values["language"] = query.language
    if query.population:
        values["populations"] = POPULATION_SERVED_BY.get(query.population, (query.population,))
    if query.cost in COSTS:
        values["costs"] = COSTS[query.cost]
    if query.immigration:
        values["immigration"] = tuple(sorted({query.immigration, "none_required"}))
    if query.capacity:
        values["free_places"] = 0  # more than this many
    if query.text and query.text.strip():
        values["pattern"] = _like(query.text.strip()[:200])
    return values


def _service_filters(
    query: SearchQuery,
    s: sa.Table,
    service_id: sa.ColumnElement | None = None,
    by_term: bool = True,
) -> list:
    """SQL conditions on the service table for the query's filters (all bound parameters).

    The subqueries (need, language, profile, capacity) match ``service_id``, the service
    table's id unless a joined column is given (``search_point.service_id`` lets the
    database test them before it reads the service). ``by_term=False``: the rows are
    already those of the query's term (search points)."""
    return _conditions(
        _filter_values(query, by_term), s, s.c.id if service_id is None else service_id
    )


def _conditions(values: dict[str, Any], s: sa.Table, service_id: sa.ColumnElement) -> list:
    """The conditions of ``_service_filters`` for these filter values, each value a bound
    parameter of its name: a statement built once serves every query with the same
    filters, given that query's ``_filter_values`` as parameters."""

    def value(name: str) -> sa.BindParameter:
        return sa.bindparam(name, values[name], expanding=name in PROFILE_FILTERS)

    def has_attribute(term: Any, allowed: str | None = None):
        a = _ATTRIBUTE
        condition = sa.exists().where(
            a.c.link_entity == "service", a.c.link_id == service_id, a.c.taxonomy_term_id == term
        )
        return condition.where(a.c.value.in_(value(allowed))) if allowed else condition

    conditions: list = [s.c.status == "active"]
    if "term" in values:
        conditions.append(has_attribute(value("term")))
    if "language" in values:
        lang = _LANGUAGE
        conditions.append(
            sa.exists().where(lang.c.service_id == service_id, lang.c.code == value("language"))
        )
    for name, term in PROFILE_FILTERS.items():
        if name in values:
            conditions.append(has_attribute(profile_term(term), name))
    if "free_places" in values:
        capacity = _CAPACITY
        conditions.append(
            sa.exists().where(
                capacity.c.service_id == service_id, capacity.c.available > value("free_places")
            )
        )
    if "pattern" in values:
        pattern = value("pattern")
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


def _box(query: SearchQuery) -> dict[str, float]:
    """The bounding box of the query's radius, as the parameters of ``_points``."""
    dlat = query.radius_km / 111.0
    dlon = query.radius_km / (111.0 * max(0.01, math.cos(math.radians(query.latitude))))
    return {
        "south": query.latitude - dlat,
        "north": query.latitude + dlat,
        "west": query.longitude - dlon,
        "east": query.longitude + dlon,
    }


@functools.lru_cache(maxsize=256)
def _points(filters: frozenset[str], near: bool) -> sa.Select:
    """The search points (``bot.directory.points``) of a term (parameter ``point_term``)
    that pass ``filters`` (``_filter_values`` names), tested on the few rows of the
    term's index range: inside a box (``_box``) with ``near``, else in a ``state`` with
    their city. Built once per kind of query; the values are parameters."""
    s, points = Service.__table__, SearchPoint.__table__
    conditions = _conditions(dict.fromkeys(filters), s, points.c.service_id)
    statement = (
        sa.select(points.c.service_id, points.c.service_at_location_id, points.c.location_id)
        .join(s, s.c.id == points.c.service_id)
        .where(points.c.taxonomy_term_id == sa.bindparam("point_term"), *conditions)
    )
    if near:
        return statement.add_columns(points.c.latitude, points.c.longitude).where(
            points.c.latitude.between(sa.bindparam("south"), sa.bindparam("north")),
            points.c.longitude.between(sa.bindparam("west"), sa.bindparam("east")),
        )
    return statement.add_columns(points.c.city).where(points.c.state == sa.bindparam("state"))


def _read_points(session: Session, query: SearchQuery, near: bool, **place: Any) -> Any:
    values = _filter_values(query, by_term=not indexed(query.term))
    statement = _points(frozenset(values), near)
    return session.execute(statement, {**values, "point_term": point_term(query.term), **place})


def _local_candidates(session: Session, query: SearchQuery) -> list[_Candidate]:
    """The query's services at the locations within its radius (none confidential), then,
    with a state, confidential locations by city and services by service area; without
    coordinates, every matching service at every location, with no distance."""
    if not query.located:
        s, sal = Service.__table__, ServiceAtLocation.__table__
        statement = (
            sa.select(s.c.id, sal.c.id, sal.c.location_id)
            .join(sal, sal.c.service_id == s.c.id)
            .where(*_service_filters(query, s, sal.c.service_id))
        )
        return [_Candidate(*row) for row in session.execute(statement)]
    candidates = []
    rows = _read_points(session, query, True, **_box(query))
    for service_id, sal_id, location_id, latitude, longitude in rows:
        distance = haversine_km(query.latitude, query.longitude, latitude, longitude)
        if distance <= query.radius_km:
            candidates.append(_Candidate(service_id, sal_id, location_id, distance))
    if query.state:
        candidates += _confidential_candidates(session, query)
        candidates += _area_candidates(session, query, {c.service_id for c in candidates})
    return candidates


def _confidential_candidates(session: Session, query: SearchQuery) -> list[_Candidate]:
    """Confidential locations near the query's place, by city, county or state: no
    geometry. Their search points carry only a state and a city, matched in Python."""
    state = (query.state or "").upper()
    found: dict[tuple[str, str], _Candidate] = {}
    near: dict[str | None, bool] = {}  # each city is matched once
    for service_id, sal_id, location_id, city in _read_points(session, query, False, state=state):
        if city not in near:
            near[city] = matches_place(city, state, state, query.areas)
        if near[city]:
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
    names = session.execute(_AREA_NAMES).scalars()
    serving = [name for name in names if name and _serves(name, query)]
    values = _filter_values(query)
    rows = in_chunks(session, _area_services(frozenset(values)), serving, **values)
    found = {service_id for (service_id,) in rows}
    return [_Candidate(service_id) for service_id in sorted(found - seen)]


_AREA_NAMES = sa.select(ServiceArea.__table__.c.name).distinct()


@functools.lru_cache(maxsize=256)
def _area_services(filters: frozenset[str]) -> sa.Select:
    """Services named by the areas ``IDS`` that pass ``filters`` and are not national
    (built once per kind of query; the values are parameters)."""
    s, area = Service.__table__, ServiceArea.__table__
    return (
        sa.select(s.c.id)
        .select_from(area.join(s, s.c.id == area.c.service_id))
        .where(
            area.c.name.in_(IDS),
            *_conditions(dict.fromkeys(filters), s, area.c.service_id),
            sa.not_(_national_condition(s)),
        )
    )


def _national_candidates(session: Session, query: SearchQuery) -> list[_Candidate]:
    """Services whose service area is the whole country (read from the areas first)."""
    s, area = Service.__table__, ServiceArea.__table__
    national = sa.select(area.c.service_id).where(_is_national(area))
    statement = sa.select(s.c.id).where(s.c.id.in_(national), *_service_filters(query, s))
    return [_Candidate(sid, national=True) for sid in session.execute(statement).scalars()]


def _openings(session: Session, candidates: list[_Candidate], now: dt.datetime) -> list[Opening]:
    """Each candidate's hours and whether it is open at ``now`` in its time zone, from
    the derived ``search_hours`` rows (``bot.directory.points``): one query."""
    found = grouped_by(
        session,
        SearchHours.__table__,
        {
            "service_at_location_id": [c.sal_id for c in candidates],
            "service_id": [c.service_id for c in candidates if not c.sal_id],
        },
        HOURS_COLUMNS,
    )
    by_sal, by_service = found.values()
    known: dict[tuple, Opening] = {}  # the same hours in the same zone are read once
    openings = []
    for candidate in candidates:
        if candidate.sal_id:
            rows = by_sal.get(candidate.sal_id, [])
        else:
            rows = by_service.get(candidate.service_id, [])
            rows = [r for r in rows if r["service_at_location_id"] is None]
        key = (rows[0]["timezone"], rows[0]["schedule"]) if rows else (None, "[]")
        if key not in known:
            hours = unpack_hours(key[1])
            known[key] = Opening(hours, is_open(hours, _timezone(key[0]), now))
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
