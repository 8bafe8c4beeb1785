"""Everything shown about a result, loaded for the page shown only: ``ServiceResult``.

A few batched queries for the page's services and places: the service and its
organization, profile attributes, languages, phones (the service-at-location's, the
service's, the location's), the address. A confidential location's result has no
address and no distance.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.directory.confidential import confidential_ids
from bot.directory.hours import Hours, always_open
from bot.directory.models import (
    IDS,
    Address,
    Attribute,
    Language,
    Organization,
    Phone,
    Service,
    grouped_by,
    in_chunks,
    rows_where_in,
)
from bot.directory.ranking import POPULATION_TERM, Ranked
from bot.directory.taxonomy import NEED_PREFIX, profile_term

COST_TERM = profile_term("cost")
_SERVICES = (
    sa.select(Service.__table__, Organization.name.label("organization_name"))
    .select_from(Service.__table__.outerjoin(Organization.__table__))
    .where(Service.id.in_(IDS))
)


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
    fits: bool = True  # False: the population profile leaves the person out (fit_note says how)
    fit_note: str | None = None  # "women_only", "men_only", "minors_only", "adults_only"…
    full: bool = False  # capacity reported with no place free
    capacity_updated: dt.datetime | None = None  # when beds_available was counted (UTC)
    capacity_stale: bool = False  # that count is old enough to have changed


@dataclass(frozen=True)
class Opening:
    """A place's hours and whether it is open at the moment searched."""

    hours: tuple[Hours, ...]
    open_now: bool | None

    @property
    def always_open(self) -> bool:
        return always_open(self.hours)


def grouped(
    session: Session,
    table: sa.Table,
    column: str,
    ids: Iterable[str | None],
    columns: tuple[str, ...] = (),
) -> dict[str, list]:
    """The rows of ``table`` (only ``columns`` if given) whose ``column`` is one of ``ids``,
    by that column's value, in id order."""
    found: dict[str, list] = defaultdict(list)
    for row in rows_where_in(session, table, column, ids, columns):
        found[row[column]].append(row)
    return found


def shown_address(rows: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """A location's address to show: the first that is not postal, else the first."""
    return next((r for r in rows if r["address_type"] != "postal"), rows[0] if rows else None)


def _street(address: Mapping[str, Any] | None) -> str | None:
    if address is None:
        return None
    return ", ".join(p for p in (address["address_1"], address["address_2"]) if p) or None


def load_details(
    session: Session, page: list[Ranked], openings: list[Opening]
) -> list[ServiceResult]:
    """The results for ``page`` (``openings``: each one's hours, in the same order)."""
    candidates = [r.candidate for r in page]
    service_ids = {c.service_id for c in candidates}
    location_ids = {c.location_id for c in candidates if c.location_id}
    sal_ids = {c.sal_id for c in candidates if c.sal_id}
    services = {row.id: row._mapping for row in in_chunks(session, _SERVICES, service_ids)}
    attributes = grouped(session, Attribute.__table__, "link_id", service_ids)
    confidential = confidential_ids(session, location_ids)
    languages = grouped(session, Language.__table__, "service_id", service_ids)
    phones_of = grouped_by(
        session,
        Phone.__table__,
        {"service_at_location_id": sal_ids, "service_id": service_ids, "location_id": location_ids},
    )
    sal_phones, service_phones, location_phones = phones_of.values()
    addresses = grouped(session, Address.__table__, "location_id", location_ids)
    results = []
    for ranked, opening in zip(page, openings, strict=True):
        candidate, facts = ranked.candidate, ranked.facts
        service = services[candidate.service_id]
        categories, populations, costs = [], [], []
        for row in attributes.get(candidate.service_id, []):
            term = row["taxonomy_term_id"] or ""
            if row["link_entity"] != "service":
                continue
            if term.startswith(NEED_PREFIX):
                categories.append(term[len(NEED_PREFIX) :])
            elif term == POPULATION_TERM:
                populations.append(row["value"])
            elif term == COST_TERM:
                costs.append(row["value"])
        is_confidential = candidate.location_id in confidential
        address = shown_address(addresses.get(candidate.location_id, []))
        phones: list[tuple[str, str | None]] = []
        for row in (
            sal_phones.get(candidate.sal_id, [])
            + service_phones.get(candidate.service_id, [])
            + location_phones.get(candidate.location_id, [])
        ):
            if (row["number"], row["type"]) not in phones:
                phones.append((row["number"], row["type"]))
        capacity = facts.capacity
        results.append(
            ServiceResult(
                service_id=candidate.service_id,
                service_at_location_id=candidate.sal_id,
                name=service["name"],
                organization=service["organization_name"],
                description=service["description"],
                phones=tuple(phones),
                address=None if is_confidential else _street(address),
                city=address["city"] if address else None,
                state=address["state_province"] if address else None,
                confidential=is_confidential,
                distance_km=None if is_confidential else candidate.distance_km,
                languages=tuple(
                    dict.fromkeys(
                        r["code"] for r in languages.get(candidate.service_id, []) if r["code"]
                    )
                ),
                hours=opening.hours,
                open_now=opening.open_now,
                always_open=opening.always_open,
                assured_date=facts.assured_date,
                stale=facts.stale,
                categories=tuple(categories),
                populations=tuple(populations),
                cost=costs[0] if costs else None,
                national=candidate.national,
                beds_available=capacity.available if capacity else None,
                url=service["url"],
                fees_description=service["fees_description"],
                fits=facts.fits,
                fit_note=facts.fit_note,
                full=facts.full,
                capacity_updated=capacity.updated if capacity else None,
                capacity_stale=capacity.stale if capacity else False,
            )
        )
    return results
