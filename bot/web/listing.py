"""What each HSDS API list holds and in which order: the ids of one page and the total.

Services are filtered as the chat's search filters them (``_service_filters``: active
services only, a taxonomy term, words) plus HSDS's own filters (organization, taxonomy,
modified after). With a place, the candidates are the search's (``_local_candidates``):
locations within the radius, nearest first, then confidential locations matched by city
and services matched by service area, which have no distance (``bot.directory.confidential``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.directory.models import (
    Attribute,
    Organization,
    Service,
    ServiceAtLocation,
    Taxonomy,
    TaxonomyTerm,
)
from bot.directory.search import SearchQuery, _local_candidates, _service_filters

Page = tuple[list[str], int]  # the ids of one page, and how many there are in all


@dataclass(frozen=True)
class ServiceFilter:
    """What a list of services or services at locations asks for."""

    query: SearchQuery  # taxonomy term, words and place
    organization_id: str | None = None
    taxonomy_id: str | None = None  # a term of this taxonomy
    modified_after: dt.datetime | None = None  # naive UTC, like the stored values


def _hsds_conditions(wanted: ServiceFilter, s: sa.Table) -> list:
    """SQL conditions for the filters HSDS has and the chat's search does not."""
    conditions: list = []
    if wanted.organization_id:
        conditions.append(s.c.organization_id == wanted.organization_id)
    if wanted.taxonomy_id:
        attribute, term = Attribute.__table__.alias(), TaxonomyTerm.__table__.alias()
        conditions.append(
            sa.exists().where(
                attribute.c.link_entity == "service",
                attribute.c.link_id == s.c.id,
                attribute.c.taxonomy_term_id == term.c.id,
                term.c.taxonomy_id == wanted.taxonomy_id,
            )
        )
    if wanted.modified_after:
        conditions.append(s.c.last_modified >= wanted.modified_after)
    return conditions


def _contains(text: str | None, *columns: sa.Column) -> list:
    """SQL: ``text`` appears in one of ``columns``, any case (a bound LIKE pattern)."""
    if not text:
        return []
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = f"%{escaped}%"
    return [
        sa.or_(
            *(sa.func.lower(sa.func.coalesce(c, "")).like(pattern, escape="\\") for c in columns)
        )
    ]


def _sql_page(
    session: Session, table: sa.Table, conditions: list, order: Iterable, offset: int, limit: int
) -> Page:
    total = session.execute(sa.select(sa.func.count()).select_from(table).where(*conditions))
    statement = sa.select(table.c.id).where(*conditions).order_by(*order)
    ids = session.execute(statement.offset(offset).limit(limit)).scalars()
    return list(ids), int(total.scalar_one())


def _nearest_first(distances: dict[str, float | None], offset: int, limit: int) -> Page:
    """Ids nearest first; those without a distance (confidential locations, service areas)
    after them, by id."""
    ordered = sorted(distances, key=lambda i: (distances[i] is None, distances[i] or 0.0, i))
    return ordered[offset : offset + limit], len(ordered)


def _candidates(session: Session, wanted: ServiceFilter) -> list:
    candidates = _local_candidates(session, wanted.query)
    extra = _hsds_conditions(wanted, Service.__table__)
    if not extra:
        return candidates
    allowed = set(session.execute(sa.select(Service.id).where(*extra)).scalars())
    return [c for c in candidates if c.service_id in allowed]


def list_service_ids(session: Session, wanted: ServiceFilter, offset: int, limit: int) -> Page:
    """Services for ``/services``: by name, or nearest first (at their nearest location)
    when the query has a place."""
    s = Service.__table__
    if not wanted.query.located:
        conditions = _service_filters(wanted.query, s) + _hsds_conditions(wanted, s)
        return _sql_page(session, s, conditions, (s.c.name, s.c.id), offset, limit)
    distances: dict[str, list[float]] = defaultdict(list)
    for candidate in _candidates(session, wanted):
        found = distances[candidate.service_id]
        if candidate.distance_km is not None:
            found.append(candidate.distance_km)
    nearest = {key: min(found, default=None) for key, found in distances.items()}
    return _nearest_first(nearest, offset, limit)


def list_service_at_location_ids(
    session: Session, wanted: ServiceFilter, offset: int, limit: int
) -> Page:
    """Services at locations for ``/service_at_locations``: nearest first when the query
    has a place, otherwise by id."""
    distances = {c.sal_id: c.distance_km for c in _candidates(session, wanted) if c.sal_id}
    return _nearest_first(distances, offset, limit)


def list_organization_ids(session: Session, text: str | None, offset: int, limit: int) -> Page:
    """Organizations for ``/organizations``, by name; ``text`` in the name or description."""
    o = Organization.__table__
    conditions = _contains(text, o.c.name, o.c.description)
    return _sql_page(session, o, conditions, (o.c.name, o.c.id), offset, limit)


def list_taxonomy_ids(session: Session, text: str | None, offset: int, limit: int) -> Page:
    """Taxonomies for ``/taxonomies``, by name; ``text`` in the name or description."""
    t = Taxonomy.__table__
    conditions = _contains(text, t.c.name, t.c.description)
    return _sql_page(session, t, conditions, (t.c.name, t.c.id), offset, limit)


def list_taxonomy_term_ids(
    session: Session,
    text: str | None,
    offset: int,
    limit: int,
    taxonomy_id: str | None = None,
    parent_id: str | None = None,
    top_only: bool = False,
) -> Page:
    """Taxonomy terms for ``/taxonomy_terms``, by taxonomy and name; ``text`` in the code,
    name or description; ``top_only``: terms without a parent."""
    t = TaxonomyTerm.__table__
    conditions = _contains(text, t.c.code, t.c.name, t.c.description)
    if taxonomy_id:
        conditions.append(t.c.taxonomy_id == taxonomy_id)
    if parent_id:
        conditions.append(t.c.parent_id == parent_id)
    if top_only:
        conditions.append(t.c.parent_id.is_(None))
    return _sql_page(session, t, conditions, (t.c.taxonomy_id, t.c.name, t.c.id), offset, limit)


def _listed(statement: sa.Select) -> sa.Select:
    """``statement`` (over the service table) kept to services the API shows."""
    return statement.where(*_service_filters(SearchQuery(), Service.__table__))


def is_listed_service(session: Session, service_id: str) -> bool:
    """Whether ``/services/{id}`` shows this service (it exists and is active)."""
    statement = _listed(sa.select(Service.id).where(Service.id == service_id))
    return session.execute(statement).first() is not None


def is_listed_service_at_location(session: Session, sal_id: str) -> bool:
    """Whether ``/service_at_locations/{id}`` shows this one (its service is listed)."""
    sal = ServiceAtLocation.__table__
    statement = (
        sa.select(sal.c.id)
        .select_from(sal.join(Service.__table__, Service.id == sal.c.service_id))
        .where(sal.c.id == sal_id)
    )
    return session.execute(_listed(statement)).first() is not None


def listed_services_by_organization(
    session: Session, organization_ids: Iterable[str]
) -> dict[str, list[str]]:
    """The listed services of each organization, by name."""
    wanted = list(dict.fromkeys(organization_ids))
    statement = _listed(
        sa.select(Service.organization_id, Service.id)
        .where(Service.organization_id.in_(wanted))
        .order_by(Service.name, Service.id),
    )
    found: dict[str, list[str]] = {key: [] for key in wanted}
    for organization_id, service_id in session.execute(statement):
        found[organization_id].append(service_id)
    return found
