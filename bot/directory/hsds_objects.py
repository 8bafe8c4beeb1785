"""HSDS 3.0 JSON objects built from the tables for the read API, confidential locations
redacted.

Two shapes, as the HSDS API specification has them: a *full* object nests everything
related to it (``schema/compiled/service.json``…); a *list* object has its one-to-one
fields only (``service_list.json``…). Values follow the HSDS JSON schemas: a field without
a value is left out (never ``null``), a required text field without one is an empty
string, date-times are UTC ending in ``Z``, and schedule time zones and phone extensions
are numbers.

A confidential location keeps its id, name, city and state but loses its street address,
postal code, coordinates, description and transport notes (``bot.directory.confidential``):
the HSDS API is public, and a survivors' shelter must never be located through it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from bot.directory.confidential import confidential_ids, redact
from bot.directory.models import (
    Address,
    Attribute,
    Language,
    Location,
    Organization,
    Phone,
    RequiredDocument,
    Schedule,
    Service,
    ServiceArea,
    ServiceAtLocation,
    ServiceCapacity,
    Taxonomy,
    TaxonomyTerm,
    rows_where_in,
)

# Text fields HSDS requires that Haven's tables may leave empty (an address without a
# street, a confidential address, a taxonomy term without a description).
REQUIRED_TEXT = {
    "address": ("address_1", "city", "state_province", "postal_code", "country"),
    "taxonomy": ("name", "description"),
    "taxonomy_term": ("name", "description"),
}


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):  # stored as naive UTC
        return value.replace(tzinfo=None).isoformat() + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _compact(value: Any) -> Any:
    """``value`` with every ``None`` left out, at every depth: HSDS has no null fields."""
    if isinstance(value, dict):
        return {key: _compact(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_compact(item) for item in value]
    return value


def _filled(row: dict[str, Any], entity: str) -> dict[str, Any]:
    return {**row, **{field: row.get(field) or "" for field in REQUIRED_TEXT[entity]}}


def _number(value: Any) -> float | int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else number


def _utc_offset(timezone: str | None) -> float | int | None:
    """A schedule's time zone as HSDS wants it, a UTC offset in hours: Haven also accepts
    an IANA name, given as its offset now."""
    if not timezone or _number(timezone) is not None:
        return _number(timezone)
    try:
        offset = dt.datetime.now(ZoneInfo(timezone)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return _number(offset.total_seconds() / 3600) if offset is not None else None


def _rows(session: Session, model: Any, column: str, ids: Iterable[str | None]) -> dict:
    """Rows of ``model`` whose ``column`` is one of ``ids``, as JSON-ready dicts by value."""
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows_where_in(session, model.__table__, column, ids):
        grouped[row[column]].append({key: _json_value(value) for key, value in row.items()})
    return grouped


def _by_id(session: Session, model: Any, ids: Iterable[str | None]) -> dict[str, dict]:
    return {key: rows[0] for key, rows in _rows(session, model, "id", ids).items()}


def _in_order(objects: dict[str, dict], ids: Iterable[str]) -> list[dict]:
    return [_compact(objects[i]) for i in dict.fromkeys(ids) if i in objects]


def _converted(
    session: Session, model: Any, column: str, ids: Iterable[str], field: str, convert: Any
) -> dict[str, list[dict]]:
    """``_rows``, with one field of each row turned into the type HSDS wants."""
    grouped = _rows(session, model, column, ids)
    for rows in grouped.values():
        for row in rows:
            row[field] = convert(row[field])
    return grouped


def _phones(session: Session, column: str, ids: Iterable[str]) -> dict[str, list[dict]]:
    return _converted(session, Phone, column, ids, "extension", _number)


def _schedules(session: Session, column: str, ids: Iterable[str]) -> dict[str, list[dict]]:
    return _converted(session, Schedule, column, ids, "timezone", _utc_offset)


def taxonomy_objects(session: Session, ids: Iterable[str]) -> list[dict]:
    """HSDS taxonomy objects, in the order of ``ids`` (missing ids are skipped)."""
    taxonomies = _by_id(session, Taxonomy, ids)
    return _in_order({key: _filled(row, "taxonomy") for key, row in taxonomies.items()}, ids)


def taxonomy_term_objects(session: Session, ids: Iterable[str]) -> list[dict]:
    """HSDS taxonomy_term objects with their taxonomy (``taxonomy_detail``)."""
    terms = _by_id(session, TaxonomyTerm, ids)
    details = {
        t["id"]: t for t in taxonomy_objects(session, [t["taxonomy_id"] for t in terms.values()])
    }
    objects = {
        key: {**_filled(term, "taxonomy_term"), "taxonomy_detail": details.get(term["taxonomy_id"])}
        for key, term in terms.items()
    }
    return _in_order(objects, ids)


def _attributes(session: Session, entity: str, ids: Iterable[str]) -> dict[str, list[dict]]:
    rows = _rows(session, Attribute, "link_id", ids)
    terms = {
        t["id"]: t
        for t in taxonomy_term_objects(
            session, [a["taxonomy_term_id"] for items in rows.values() for a in items]
        )
    }
    out: dict[str, list[dict]] = defaultdict(list)
    for link_id, items in rows.items():
        for item in items:
            if item["link_entity"] == entity:
                out[link_id].append({**item, "taxonomy_term": terms.get(item["taxonomy_term_id"])})
    return out


def location_objects(session: Session, ids: Iterable[str], full: bool = True) -> dict[str, dict]:
    """HSDS location objects by id, confidential ones redacted; ``full`` nests addresses,
    phones, schedules, languages and attributes."""
    ids = list(dict.fromkeys(ids))
    locations = _by_id(session, Location, ids)
    secret = confidential_ids(session, ids)
    addresses = _rows(session, Address, "location_id", ids) if full else {}
    phones = _phones(session, "location_id", ids) if full else {}
    schedules = _schedules(session, "location_id", ids) if full else {}
    languages = _rows(session, Language, "location_id", ids) if full else {}
    attributes = _attributes(session, "location", ids) if full else {}
    out = {}
    for location_id, location in locations.items():
        obj, shown_addresses = location, addresses.get(location_id, [])
        if location_id in secret:
            obj, shown_addresses = redact(obj, shown_addresses)
        if full:
            obj = {
                **obj,
                "addresses": [
                    {**_filled(a, "address"), "address_type": a["address_type"] or "physical"}
                    for a in shown_addresses
                ],
                "phones": phones.get(location_id, []),
                "schedules": schedules.get(location_id, []),
                "languages": languages.get(location_id, []),
                "attributes": attributes.get(location_id, []),
            }
        out[location_id] = _compact(obj)
    return out


def _service_at_locations(
    session: Session, ids: list[str], full: bool, with_service: bool
) -> list[dict]:
    sals = _by_id(session, ServiceAtLocation, ids)
    locations = location_objects(session, [s["location_id"] for s in sals.values()], full=full)
    services = {}
    if with_service:
        service_ids = [s["service_id"] for s in sals.values()]
        nested = service_objects(session, service_ids, full=full, inside="service_at_location")
        services = {s["id"]: s for s in nested}
    phones = _phones(session, "service_at_location_id", sals) if full else {}
    schedules = _schedules(session, "service_at_location_id", sals) if full else {}
    objects = {}
    for sal_id, sal in sals.items():
        obj = {**sal, "location": locations.get(sal["location_id"])}
        if full:
            obj["phones"] = phones.get(sal_id, [])
            obj["schedules"] = schedules.get(sal_id, [])
        if with_service:
            obj["service"] = services.get(sal["service_id"])
        objects[sal_id] = obj
    return _in_order(objects, ids)


def service_at_location_objects(
    session: Session, ids: Iterable[str], full: bool = True
) -> list[dict]:
    """HSDS service_at_location objects with their location and service, in the order of
    ``ids``: full (``service_at_location.json``) or list ones (``…_list.json``)."""
    return _service_at_locations(session, list(ids), full=full, with_service=True)


def service_objects(
    session: Session, ids: Iterable[str], full: bool = True, inside: str | None = None
) -> list[dict]:
    """HSDS service objects in the order of ``ids`` (missing ids are skipped): full
    (``service.json``) or list ones (``service_list.json``, with the organization).
    ``inside`` names the object they are nested in, which they then leave out."""
    ids = list(dict.fromkeys(ids))
    services = _by_id(session, Service, ids)
    organizations = (
        {}
        if inside == "organization"
        else _by_id(session, Organization, [s["organization_id"] for s in services.values()])
    )
    related: dict[str, dict[str, list[dict]]] = {}
    if full:
        related = {
            "phones": _phones(session, "service_id", ids),
            "schedules": _schedules(session, "service_id", ids),
            "languages": _rows(session, Language, "service_id", ids),
            "service_areas": _rows(session, ServiceArea, "service_id", ids),
            "required_documents": _rows(session, RequiredDocument, "service_id", ids),
            "capacities": _rows(session, ServiceCapacity, "service_id", ids),
            "attributes": _attributes(session, "service", ids),
        }
    if full and inside != "service_at_location":
        sal_rows = _rows(session, ServiceAtLocation, "service_id", ids).values()
        sal_ids = [row["id"] for rows in sal_rows for row in rows]
        sals: dict[str, list[dict]] = defaultdict(list)
        for sal in _service_at_locations(session, sal_ids, full=True, with_service=False):
            sals[sal["service_id"]].append(sal)
        related["service_at_locations"] = sals
    objects = {}
    for service_id, service in services.items():
        obj = {**service, **{name: rows.get(service_id, []) for name, rows in related.items()}}
        if inside != "organization":
            obj["organization"] = organizations.get(service["organization_id"])
        objects[service_id] = obj
    return _in_order(objects, ids)


def organization_objects(
    session: Session,
    ids: Iterable[str],
    services: dict[str, list[str]] | None = None,
    full_services: bool = False,
) -> list[dict]:
    """HSDS organization objects in the order of ``ids``. Without ``services`` they are
    list ones (``organization_list.json``); with it (organization id → the service ids to
    show) full ones (``organization.json``): phones, locations, attributes and those
    services, as list objects or, with ``full_services``, full ones."""
    ids = list(dict.fromkeys(ids))
    organizations = _by_id(session, Organization, ids)
    if services is not None:
        phones = _phones(session, "organization_id", ids)
        attributes = _attributes(session, "organization", ids)
        location_ids = {
            key: [r["id"] for r in rows]
            for key, rows in _rows(session, Location, "organization_id", ids).items()
        }
        locations = location_objects(session, [i for v in location_ids.values() for i in v])
        service_by_id = {
            s["id"]: s
            for s in service_objects(
                session,
                [i for v in services.values() for i in v],
                full=full_services,
                inside="organization",
            )
        }
        for key, organization in organizations.items():
            organization.update(
                phones=phones.get(key, []),
                locations=[locations[i] for i in location_ids.get(key, []) if i in locations],
                attributes=attributes.get(key, []),
                services=[service_by_id[i] for i in services.get(key, []) if i in service_by_id],
            )
    return _in_order(organizations, ids)
