"""Service search: filters, distance, open-now and ranking over the HSDS tables.

One indexed SQL query finds the candidate services at locations (need category, bounding
box around the place, language, population, cost, capacity, free text); their details are
then fetched in a few batched queries and ranked in Python by distance, language match,
trafficking specialisation and freshness. When nothing local matches, national resources
answer, marked as national. Confidential locations take no part in any distance, box or
radius: they are found by city, county or state only (``bot.directory.confidential``), and
a result for one has no address, no coordinates and no distance.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.directory.confidential import confidential_ids, is_confidential, matches_place
from bot.directory.geocode import STATES, timezone_for
from bot.directory.models import (
    Address,
    Attribute,
    Language,
    Location,
    Organization,
    Phone,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    rows_where_in,
)
from bot.directory.taxonomy import NEED_PREFIX, need_term, profile_term
from bot.i18n.text import fold

STALE_AFTER_DAYS = 180
DEFAULT_RADIUS_KM = 40.0
NATIONAL_AREAS = ("united states", "usa", "us", "national", "nationwide")
DAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
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

    @property
    def term(self) -> str | None:
        return self.taxonomy_term_id or (need_term(self.need) if self.need else None)

    @property
    def located(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True)
class Hours:
    byday: tuple[str, ...]
    opens_at: str | None
    closes_at: str | None
    description: str | None

    @property
    def all_day(self) -> bool:
        return self.opens_at in ("00:00", "0:00") and (self.closes_at or "").startswith("23:59")


@dataclass(frozen=True)
class ServiceResult:
    """One service at one place, safe to show: no confidential address ever."""

    service_id: str
    service_at_location_id: str | None
    name: str
    organization: str | None
    description: str | None
    phones: tuple[tuple[str, str | None], ...]  # (number, type)
    address: str | None
    city: str | None
    state: str | None
    confidential: bool
    distance_km: float | None
    languages: tuple[str, ...]
    hours: tuple[Hours, ...]
    open_now: bool | None
    always_open: bool
    assured_date: dt.date | None
    stale: bool
    categories: tuple[str, ...]
    populations: tuple[str, ...]
    cost: str | None
    national: bool
    beds_available: int | None
    url: str | None
    fees_description: str | None


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


def _service_filters(query: SearchQuery, s: sa.Table) -> list:
    """SQL conditions on the service table for the query's filters (all bound parameters)."""
    conditions: list = [s.c.status == "active"]

    def has_attribute(term: str, values: tuple[str, ...] | None = None):
        a = Attribute.__table__.alias()
        condition = sa.exists().where(
            a.c.link_entity == "service", a.c.link_id == s.c.id, a.c.taxonomy_term_id == term
        )
        return condition.where(a.c.value.in_(values)) if values else condition

    if query.term:
        conditions.append(has_attribute(query.term))
    if query.language:
        lang = Language.__table__.alias()
        conditions.append(
            sa.exists().where(lang.c.service_id == s.c.id, lang.c.code == query.language)
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
        capacity = ServiceCapacity.__table__.alias()
        conditions.append(
            sa.exists().where(capacity.c.service_id == s.c.id, capacity.c.available > 0)
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


def _national_condition(s: sa.Table):
    area = ServiceArea.__table__.alias()
    return sa.exists().where(
        area.c.service_id == s.c.id,
        sa.or_(area.c.extent_type == "country", sa.func.lower(area.c.name).in_(NATIONAL_AREAS)),
    )


def _local_candidates(session: Session, query: SearchQuery) -> list[_Candidate]:
    s, sal, loc = Service.__table__, ServiceAtLocation.__table__, Location.__table__
    statement = (
        sa.select(s.c.id, sal.c.id, loc.c.id, loc.c.latitude, loc.c.longitude)
        .select_from(s.join(sal, sal.c.service_id == s.c.id))
        .join(loc, loc.c.id == sal.c.location_id)
        .where(*_service_filters(query, s))
    )
    if query.located:
        dlat = query.radius_km / 111.0
        dlon = query.radius_km / (111.0 * max(0.01, math.cos(math.radians(query.latitude))))
        statement = statement.where(
            loc.c.latitude.between(query.latitude - dlat, query.latitude + dlat),
            loc.c.longitude.between(query.longitude - dlon, query.longitude + dlon),
            sa.not_(is_confidential(loc.c.id)),
        )
    candidates = []
    for service_id, sal_id, location_id, latitude, longitude in session.execute(statement):
        distance = None
        if query.located and latitude is not None and longitude is not None:
            distance = haversine_km(query.latitude, query.longitude, latitude, longitude)
            if distance > query.radius_km:
                continue
        candidates.append(_Candidate(service_id, sal_id, location_id, distance))
    if query.located and query.state:
        candidates += _confidential_candidates(session, query)
        candidates += _area_candidates(session, query, {c.service_id for c in candidates})
    return candidates


def _confidential_candidates(session: Session, query: SearchQuery) -> list[_Candidate]:
    """Confidential locations near the query's place, by city, county or state: no geometry."""
    s, sal, loc = Service.__table__, ServiceAtLocation.__table__, Location.__table__
    address = Address.__table__
    statement = (
        sa.select(s.c.id, sal.c.id, loc.c.id, address.c.city, address.c.state_province)
        .select_from(s.join(sal, sal.c.service_id == s.c.id))
        .join(loc, loc.c.id == sal.c.location_id)
        .join(address, address.c.location_id == loc.c.id)
        .where(
            *_service_filters(query, s),
            is_confidential(loc.c.id),
            sa.func.upper(address.c.state_province) == (query.state or "").upper(),
        )
    )
    found: dict[tuple[str, str], _Candidate] = {}
    for service_id, sal_id, location_id, city, state in session.execute(statement):
        if matches_place(city, state, query.state, query.areas):
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
    services such as ride programs or crisis lines that serve a county or a state)."""
    s, area = Service.__table__, ServiceArea.__table__
    statement = (
        sa.select(s.c.id, area.c.name)
        .select_from(s.join(area, area.c.service_id == s.c.id))
        .where(*_service_filters(query, s), sa.not_(_national_condition(s)))
    )
    found = {
        service_id
        for service_id, name in session.execute(statement)
        if service_id not in seen and name and _serves(name, query)
    }
    return [_Candidate(service_id) for service_id in sorted(found)]


def _national_candidates(session: Session, query: SearchQuery) -> list[_Candidate]:
    s = Service.__table__
    statement = sa.select(s.c.id).where(*_service_filters(query, s), _national_condition(s))
    return [_Candidate(sid, national=True) for sid in session.execute(statement).scalars()]


def _grouped(session: Session, table: sa.Table, column: str, ids: set[str]) -> dict[str, list]:
    grouped: dict[str, list] = defaultdict(list)
    for row in rows_where_in(session, table, column, ids):
        grouped[row[column]].append(row)
    return grouped


def _timezone(name: str | None) -> dt.tzinfo | None:
    if not name:
        return None
    try:
        hours = float(name)
        return dt.timezone(dt.timedelta(hours=hours))
    except ValueError:
        pass
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _minutes(text: str | None) -> int | None:
    if not text:
        return None
    parts = text.split(":")
    return int(parts[0]) * 60 + int(parts[1])


def is_open(hours: tuple[Hours, ...], tz: dt.tzinfo | None, now: dt.datetime) -> bool | None:
    """Open at ``now`` in the service's time zone; None when hours or zone are unknown."""
    if not hours:
        return None
    if all(h.all_day and len(h.byday) == 7 for h in hours):
        return True
    if tz is None:
        return None
    local = now.astimezone(tz)
    today, yesterday = DAY_CODES[local.weekday()], DAY_CODES[(local.weekday() - 1) % 7]
    minute = local.hour * 60 + local.minute
    known = False
    for h in hours:
        opens, closes = _minutes(h.opens_at), _minutes(h.closes_at)
        if opens is None or closes is None:
            continue
        known = True
        closes = 24 * 60 if h.all_day else closes
        if closes > opens and today in h.byday and opens <= minute < closes:
            return True
        if closes <= opens:  # overnight: 20:00–08:00
            if (today in h.byday and minute >= opens) or (yesterday in h.byday and minute < closes):
                return True
    return False if known else None


def _hours(rows: list) -> tuple[Hours, ...]:
    return tuple(
        Hours(
            byday=tuple(d.strip()[-2:].upper() for d in (r["byday"] or "").split(",") if d.strip()),
            opens_at=r["opens_at"],
            closes_at=r["closes_at"],
            description=r["description"],
        )
        for r in rows
    )


def _load_details(session: Session, candidates: list[_Candidate], query: SearchQuery,
                  now: dt.datetime) -> list[ServiceResult]:  # fmt: skip
    service_ids = {c.service_id for c in candidates}
    location_ids = {c.location_id for c in candidates if c.location_id}
    sal_ids = {c.sal_id for c in candidates if c.sal_id}
    services = {
        row.id: row._mapping
        for start in range(0, len(service_ids), 500)
        for row in session.execute(
            sa.select(Service.__table__, Organization.name.label("organization_name"))
            .select_from(Service.__table__.outerjoin(Organization.__table__))
            .where(Service.id.in_(list(service_ids)[start : start + 500]))
        )
    }
    service_attrs = _grouped(session, Attribute.__table__, "link_id", service_ids)
    confidential = confidential_ids(session, location_ids)
    languages = _grouped(session, Language.__table__, "service_id", service_ids)
    service_hours = _grouped(session, Schedule.__table__, "service_id", service_ids)
    sal_hours = _grouped(session, Schedule.__table__, "service_at_location_id", sal_ids)
    location_hours = _grouped(session, Schedule.__table__, "location_id", location_ids)
    service_phones = _grouped(session, Phone.__table__, "service_id", service_ids)
    sal_phones = _grouped(session, Phone.__table__, "service_at_location_id", sal_ids)
    location_phones = _grouped(session, Phone.__table__, "location_id", location_ids)
    addresses = _grouped(session, Address.__table__, "location_id", location_ids)
    capacities = _grouped(session, ServiceCapacity.__table__, "service_id", service_ids)
    today = now.date()
    results = []
    for candidate in candidates:
        service = services.get(candidate.service_id)
        if service is None:
            continue
        attributes = service_attrs.get(candidate.service_id, [])
        profile = defaultdict(list)
        categories = []
        for row in attributes:
            term = row["taxonomy_term_id"] or ""
            if row["link_entity"] != "service":
                continue
            if term.startswith(NEED_PREFIX):
                categories.append(term[len(NEED_PREFIX) :])
            elif term.startswith("haven-profile-"):
                profile[term[len("haven-profile-") :]].append(row["value"])
        is_confidential = candidate.location_id in confidential
        address_rows = [
            a for a in addresses.get(candidate.location_id, []) if a["address_type"] != "postal"
        ] or addresses.get(candidate.location_id, [])
        address = address_rows[0] if address_rows else None
        schedule_rows = (
            sal_hours.get(candidate.sal_id, [])
            or service_hours.get(candidate.service_id, [])
            or location_hours.get(candidate.location_id, [])
        )
        hours = _hours(schedule_rows)
        tz_name = next((r["timezone"] for r in schedule_rows if r["timezone"]), None)
        tz = _timezone(tz_name) or _timezone(
            timezone_for(address["postal_code"], address["state_province"]) if address else None
        )
        phones = []
        for row in (
            sal_phones.get(candidate.sal_id, [])
            + service_phones.get(candidate.service_id, [])
            + location_phones.get(candidate.location_id, [])
        ):
            if (row["number"], row["type"]) not in phones:
                phones.append((row["number"], row["type"]))
        capacity = sorted(capacities.get(candidate.service_id, []), key=lambda r: r["updated"])
        assured = service["assured_date"]
        results.append(
            ServiceResult(
                service_id=candidate.service_id,
                service_at_location_id=candidate.sal_id,
                name=service["name"],
                organization=service["organization_name"],
                description=service["description"],
                phones=tuple(phones),
                address=None
                if is_confidential or address is None
                else ", ".join(p for p in (address["address_1"], address["address_2"]) if p)
                or None,
                city=address["city"] if address else None,
                state=address["state_province"] if address else None,
                confidential=is_confidential,
                distance_km=None if is_confidential else candidate.distance_km,
                languages=tuple(
                    dict.fromkeys(
                        r["code"] for r in languages.get(candidate.service_id, []) if r["code"]
                    )
                ),
                hours=hours,
                open_now=is_open(hours, tz, now),
                always_open=bool(hours) and all(h.all_day and len(h.byday) == 7 for h in hours),
                assured_date=assured,
                stale=assured is None or (today - assured).days > STALE_AFTER_DAYS,
                categories=tuple(categories),
                populations=tuple(profile.get("population", [])),
                cost=(profile.get("cost") or [None])[0],
                national=candidate.national,
                beds_available=int(capacity[-1]["available"]) if capacity else None,
                url=service["url"],
                fees_description=service["fees_description"],
            )
        )
    return results


def _rank_key(result: ServiceResult, query: SearchQuery, radius: float) -> tuple:
    score = result.distance_km if result.distance_km is not None else radius / 2
    if query.language and query.language in result.languages:
        score -= 8
    if "trafficking_specialized" in result.populations:
        score -= 5
    if query.population and query.population in result.populations:
        score -= 5
    if result.stale:
        score += 10
    return (score, result.name.lower())


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
    results = _load_details(session, candidates, query, now)
    if query.open_now:
        results = [r for r in results if r.open_now]
    if not results and query.national_fallback:
        national = True
        results = _load_details(session, _national_candidates(session, query), query, now)
        if query.open_now:
            results = [r for r in results if r.open_now]
    # One result per service: its nearest location.
    best: dict[str, ServiceResult] = {}
    for result in sorted(results, key=lambda r: _rank_key(r, query, query.radius_km)):
        best.setdefault(result.service_id, result)
    ranked = list(best.values())
    offset = max(0, offset)
    return SearchResults(tuple(ranked[offset : offset + limit]), len(ranked), national, offset)


def list_service_ids(
    session: Session, query: SearchQuery, offset: int, limit: int
) -> tuple[list[str], int]:
    """Service ids matching the query's filters (no place), by name: the HSDS API's list."""
    s = Service.__table__
    conditions = _service_filters(replace(query, national_fallback=False), s)
    total = session.execute(sa.select(sa.func.count()).select_from(s).where(*conditions)).scalar()
    statement = (
        sa.select(s.c.id).where(*conditions).order_by(s.c.name, s.c.id).offset(offset).limit(limit)
    )
    return list(session.execute(statement).scalars()), int(total or 0)


def list_service_at_location_ids(
    session: Session, query: SearchQuery, offset: int, limit: int
) -> tuple[list[str], int]:
    """Service-at-location ids for the query, nearest first when it has coordinates (places
    without a distance, such as confidential ones, after them, by id)."""
    candidates = _local_candidates(session, replace(query, national_fallback=False))
    candidates = [c for c in candidates if c.sal_id]
    candidates.sort(key=lambda c: (c.distance_km is None, c.distance_km or 0.0, c.sal_id))
    return [c.sal_id for c in candidates[offset : offset + limit]], len(candidates)
