"""The search points: the directory's search index, rebuilt from the HSDS tables.

A search by need near a place asks "which services of this term are inside this box?".
On the HSDS tables alone that means visiting every location in the box and testing each
one's services for the need: at 100,000 services, thousands of index lookups per search.
``search_point`` answers it from one index range: each row is a service at a location
under one of the service's taxonomy terms, with the location's coordinates (open
locations) or its state and city (confidential ones, which never take part in geometry).

Beside it, ``search_service`` holds what ranking reads about each service in one row
(name, assured date, population profile, languages, the latest count of free places),
so every match is ranked from one query whatever its number; ``search_hours`` holds the
hours that apply to each service at a location and the time zone they are read in, so
"open now" is one query too.

Both tables are derived: every import rebuilds them in the same transaction as the rows
they come from, so they are never out of date and never exported. Profile terms (population,
cost…) are filters with values and are not indexed here; a search by one of them, or
by no term, reads the ``ANY_TERM`` rows, which every service at a location has.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from bot.directory.confidential import is_confidential
from bot.directory.details import shown_address
from bot.directory.geocode import timezone_for
from bot.directory.hours import pack_schedule, timezone_named
from bot.directory.models import (
    Address,
    Attribute,
    Language,
    Location,
    Schedule,
    SearchHours,
    SearchPoint,
    SearchService,
    Service,
    ServiceAtLocation,
    ServiceCapacity,
)
from bot.directory.taxonomy import PROFILE_PREFIX, profile_term

ANY_TERM = "*"  # the rows every service at a location has, whatever its terms


def point_term(term: str | None) -> str:
    """The ``taxonomy_term_id`` a search reads: the term itself when it is indexed."""
    return term if term and not term.startswith(PROFILE_PREFIX) else ANY_TERM


def indexed(term: str | None) -> bool:
    """Whether the search points answer the term filter themselves."""
    return point_term(term) != ANY_TERM


def _terms() -> sa.Select:
    """(term, service id): every indexed term of every service, and ANY_TERM for each."""
    a = Attribute.__table__
    linked = sa.select(a.c.taxonomy_term_id.label("term"), a.c.link_id.label("service_id")).where(
        a.c.link_entity == "service", sa.not_(a.c.taxonomy_term_id.startswith(PROFILE_PREFIX))
    )
    sal = ServiceAtLocation.__table__
    every = sa.select(sa.literal(ANY_TERM).label("term"), sal.c.service_id)
    return sa.union(linked, every).subquery("terms")


def _service_rows(connection: Any) -> list[dict]:
    """One ``search_service`` row per service, from four reads of the whole tables."""
    a, lang, cap, s = (t.__table__ for t in (Attribute, Language, ServiceCapacity, Service))
    populations: dict[str, list[str]] = {}
    population = sa.select(a.c.link_id, a.c.value).where(
        a.c.taxonomy_term_id == profile_term("population"), a.c.link_entity == "service"
    )
    for service_id, value in connection.execute(population.order_by(a.c.id)):
        populations.setdefault(service_id, []).append(value or "")
    languages: dict[str, list[str]] = {}
    spoken = sa.select(lang.c.service_id, lang.c.code).where(lang.c.service_id.is_not(None))
    for service_id, code in connection.execute(spoken.order_by(lang.c.id)):
        languages.setdefault(service_id, []).append(code or "")
    latest: dict[str, tuple] = {}  # the last count by date (ties: the last by id)
    counts = sa.select(cap.c.service_id, cap.c.available, cap.c.updated).order_by(cap.c.id)
    for service_id, available, updated in connection.execute(counts):
        if service_id not in latest or updated >= latest[service_id][1]:
            latest[service_id] = (int(available), updated)
    return [
        {
            "service_id": service_id,
            "name": name,
            "assured_date": assured,
            "populations": " ".join(dict.fromkeys(p for p in populations.get(service_id, ()) if p)),
            "languages": " ".join(dict.fromkeys(c for c in languages.get(service_id, ()) if c)),
            "capacity_available": latest.get(service_id, (None, None))[0],
            "capacity_updated": latest.get(service_id, (None, None))[1],
        }
        for service_id, name, assured in connection.execute(
            sa.select(s.c.id, s.c.name, s.c.assured_date)
        )
    ]


def _hours_rows(connection: Any) -> list[dict]:
    """One ``search_hours`` row per service at a location and per service: the rows of
    the service-at-location, else of the service, else of the location; the time zone of
    the schedule, else of the location's ZIP code or state."""
    schedule, address = Schedule.__table__, Address.__table__
    links = ("service_at_location_id", "service_id", "location_id")
    by: dict[str, dict[str, list]] = {link: {} for link in links}
    for row in connection.execute(sa.select(schedule).order_by(schedule.c.id)).mappings():
        for link in links:
            if row[link]:
                by[link].setdefault(row[link], []).append(row)
    addresses: dict[str, list] = {}
    columns = (address.c.location_id, address.c.address_type, address.c.postal_code)
    read = sa.select(*columns, address.c.state_province).order_by(address.c.id)
    for row in connection.execute(read).mappings():
        addresses.setdefault(row["location_id"], []).append(row)

    def row_for(service_id: str, sal_id: str | None, location_id: str | None) -> dict:
        rows = (
            by["service_at_location_id"].get(sal_id or "")
            or by["service_id"].get(service_id)
            or by["location_id"].get(location_id or "")
            or []
        )
        zone = next((r["timezone"] for r in rows if r["timezone"]), None)
        if timezone_named(zone) is None:
            shown = shown_address(addresses.get(location_id or "", []))
            zone = timezone_for(shown["postal_code"], shown["state_province"]) if shown else None
        return {
            "service_id": service_id,
            "service_at_location_id": sal_id,
            "timezone": zone,
            "schedule": pack_schedule(rows),
        }

    sal, service = ServiceAtLocation.__table__, Service.__table__
    places = sa.select(sal.c.service_id, sal.c.id, sal.c.location_id)
    found = [row_for(*row) for row in connection.execute(places)]
    found += [row_for(sid, None, None) for (sid,) in connection.execute(sa.select(service.c.id))]
    return found


def rebuild(connection: Any) -> int:
    """Replace every search point, service and hours row with what the tables say now;
    returns
    the number of points. ``connection`` is a Session or a Connection, inside the
    caller's transaction."""
    for model, derive in ((SearchService, _service_rows), (SearchHours, _hours_rows)):
        connection.execute(sa.delete(model.__table__))
        rows = derive(connection)
        for start in range(0, len(rows), 5000):
            connection.execute(sa.insert(model.__table__), rows[start : start + 5000])
    points, sal = SearchPoint.__table__, ServiceAtLocation.__table__
    location, address = Location.__table__, Address.__table__
    terms = _terms()
    connection.execute(sa.delete(points))
    located = (
        sa.select(
            terms.c.term, sal.c.service_id, sal.c.id, location.c.id,
            location.c.latitude, location.c.longitude,
        )
        .select_from(terms.join(sal, sal.c.service_id == terms.c.service_id))
        .join(location, location.c.id == sal.c.location_id)
        .where(
            location.c.latitude.is_not(None),
            location.c.longitude.is_not(None),
            sa.not_(is_confidential(location.c.id)),
        )
    )  # fmt: skip
    confidential = (
        sa.select(
            terms.c.term, sal.c.service_id, sal.c.id, sal.c.location_id,
            sa.func.upper(sa.func.trim(address.c.state_province)), address.c.city,
        )
        .select_from(terms.join(sal, sal.c.service_id == terms.c.service_id))
        .join(address, address.c.location_id == sal.c.location_id)
        .where(address.c.state_province.is_not(None), is_confidential(sal.c.location_id))
        .distinct()
    )  # fmt: skip
    ids = ["taxonomy_term_id", "service_id", "service_at_location_id", "location_id"]
    connection.execute(sa.insert(points).from_select([*ids, "latitude", "longitude"], located))
    connection.execute(sa.insert(points).from_select([*ids, "state", "city"], confidential))
    return connection.execute(sa.select(sa.func.count()).select_from(points)).scalar_one()
