"""HSDS 3.0 JSON objects (a service with its organization, locations, phones, schedules…)
built from the tables for the read API, with confidential locations redacted.

A confidential location keeps its id, name, city and state but loses its street address,
postal code, coordinates, description and transport notes (``bot.directory.confidential``):
the HSDS API is public, and a survivors' shelter must never be located through it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

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
    TaxonomyTerm,
    rows_where_in,
)


def _plain(row: Any) -> dict[str, Any]:
    values = dict(row)
    for key, value in values.items():
        if isinstance(value, (dt.date, dt.datetime)):
            values[key] = value.isoformat()
    return values


def _rows(session: Session, model: Any, column: str, ids: list[str]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows_where_in(session, model.__table__, column, ids):
        grouped[row[column]].append(_plain(row))
    return grouped


def _by_id(session: Session, model: Any, ids: list[str]) -> dict[str, dict]:
    return {key: rows[0] for key, rows in _rows(session, model, "id", ids).items()}


def _attributes(session: Session, entity: str, ids: list[str]) -> dict[str, list[dict]]:
    rows = _rows(session, Attribute, "link_id", ids)
    terms = _by_id(
        session, TaxonomyTerm, [a["taxonomy_term_id"] for items in rows.values() for a in items]
    )
    out: dict[str, list[dict]] = defaultdict(list)
    for link_id, items in rows.items():
        for item in items:
            if item["link_entity"] == entity:
                out[link_id].append({**item, "taxonomy_term": terms.get(item["taxonomy_term_id"])})
    return out


def location_objects(session: Session, ids: list[str]) -> dict[str, dict]:
    locations = _by_id(session, Location, ids)
    secret = confidential_ids(session, ids)
    addresses = _rows(session, Address, "location_id", ids)
    phones = _rows(session, Phone, "location_id", ids)
    languages = _rows(session, Language, "location_id", ids)
    attributes = _attributes(session, "location", ids)
    out = {}
    for location_id, location in locations.items():
        obj, shown_addresses = dict(location), addresses.get(location_id, [])
        if location_id in secret:
            obj, shown_addresses = redact(obj, shown_addresses)
        obj["addresses"] = shown_addresses
        obj["phones"] = phones.get(location_id, [])
        obj["languages"] = languages.get(location_id, [])
        obj["attributes"] = attributes.get(location_id, [])
        out[location_id] = obj
    return out


def service_at_location_objects(
    session: Session, ids: list[str], with_service: bool = True
) -> list[dict]:
    """HSDS service_at_location objects (with their location and, by default, service)."""
    sals = _by_id(session, ServiceAtLocation, ids)
    locations = location_objects(session, [s["location_id"] for s in sals.values()])
    phones = _rows(session, Phone, "service_at_location_id", list(sals))
    schedules = _rows(session, Schedule, "service_at_location_id", list(sals))
    services = (
        {
            s["id"]: s
            for s in service_objects(
                session, [s["service_id"] for s in sals.values()], with_locations=False
            )
        }  # fmt: skip
        if with_service
        else {}
    )
    out = []
    for sal_id in ids:
        sal = sals.get(sal_id)
        if sal is None:
            continue
        obj = {
            **sal,
            "location": locations.get(sal["location_id"]),
            "phones": phones.get(sal_id, []),
            "schedules": schedules.get(sal_id, []),
        }
        if with_service:
            obj["service"] = services.get(sal["service_id"])
        out.append(obj)
    return out


def service_objects(session: Session, ids: list[str], with_locations: bool = True) -> list[dict]:
    """HSDS service objects, in the order of ``ids`` (missing ids are skipped)."""
    services = _by_id(session, Service, ids)
    organizations = _by_id(session, Organization, [s["organization_id"] for s in services.values()])
    phones = _rows(session, Phone, "service_id", ids)
    schedules = _rows(session, Schedule, "service_id", ids)
    languages = _rows(session, Language, "service_id", ids)
    areas = _rows(session, ServiceArea, "service_id", ids)
    documents = _rows(session, RequiredDocument, "service_id", ids)
    capacities = _rows(session, ServiceCapacity, "service_id", ids)
    attributes = _attributes(session, "service", ids)
    sal_ids = (
        {
            key: [r["id"] for r in rows]
            for key, rows in _rows(session, ServiceAtLocation, "service_id", ids).items()
        }
        if with_locations
        else {}
    )
    sal_objects = (
        {
            obj["id"]: obj
            for obj in service_at_location_objects(
                session, [i for items in sal_ids.values() for i in items], with_service=False
            )
        }
        if with_locations
        else {}
    )
    out = []
    for service_id in ids:
        service = services.get(service_id)
        if service is None:
            continue
        obj = {
            **service,
            "organization": organizations.get(service["organization_id"]),
            "phones": phones.get(service_id, []),
            "schedules": schedules.get(service_id, []),
            "languages": languages.get(service_id, []),
            "service_areas": areas.get(service_id, []),
            "required_documents": documents.get(service_id, []),
            "capacities": capacities.get(service_id, []),
            "attributes": attributes.get(service_id, []),
        }
        if with_locations:
            obj["service_at_locations"] = [
                sal_objects[i] for i in sal_ids.get(service_id, []) if i in sal_objects
            ]
        out.append(obj)
    return out
