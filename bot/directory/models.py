"""The HSDS 3.0 subset Haven keeps (docs/directory.md), as SQLAlchemy tables with HSDS names.

Field names are HSDS's, so an import or export is a plain column copy. Haven's own profile
(confidential addresses, immigration eligibility, population served, cost, referral method)
lives in ``attribute`` rows against Haven's taxonomies, never in extra columns: a dataset
exported from Haven is plain HSDS that any other HSDS tool reads.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.db.base import Base

Text = sa.Text


def _fk(table: str, nullable: bool = True) -> sa.Column:
    return sa.Column(
        sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=nullable, index=True
    )


class Organization(Base):
    __tablename__ = "organization"
    id = sa.Column(Text, primary_key=True)
    name = sa.Column(Text, nullable=False)
    description = sa.Column(Text, nullable=False)
    website = sa.Column(Text)
    email = sa.Column(Text)


class Service(Base):
    __tablename__ = "service"
    id = sa.Column(Text, primary_key=True)
    organization_id = _fk("organization")
    name = sa.Column(Text, nullable=False)
    description = sa.Column(Text)
    url = sa.Column(Text)
    email = sa.Column(Text)
    status = sa.Column(Text, nullable=False)
    eligibility_description = sa.Column(Text)
    minimum_age = sa.Column(sa.Float)
    maximum_age = sa.Column(sa.Float)
    application_process = sa.Column(Text)
    fees_description = sa.Column(Text)
    interpretation_services = sa.Column(Text)
    alert = sa.Column(Text)
    assured_date = sa.Column(sa.Date)
    last_modified = sa.Column(sa.DateTime)


class Location(Base):
    __tablename__ = "location"
    id = sa.Column(Text, primary_key=True)
    organization_id = _fk("organization")
    location_type = sa.Column(Text, nullable=False)
    name = sa.Column(Text)
    description = sa.Column(Text)
    latitude = sa.Column(sa.Float)
    longitude = sa.Column(sa.Float)
    transportation = sa.Column(Text)


class Address(Base):
    __tablename__ = "address"
    id = sa.Column(Text, primary_key=True)
    location_id = _fk("location")
    attention = sa.Column(Text)
    address_1 = sa.Column(Text)
    address_2 = sa.Column(Text)
    city = sa.Column(Text)
    region = sa.Column(Text)
    state_province = sa.Column(Text)
    postal_code = sa.Column(Text)
    country = sa.Column(Text)
    address_type = sa.Column(Text)


class ServiceAtLocation(Base):
    __tablename__ = "service_at_location"
    # From a location to its services without reading the table (migration 0003).
    __table_args__ = (
        sa.Index("ix_service_at_location_location_service", "location_id", "service_id", "id"),
    )
    id = sa.Column(Text, primary_key=True)
    service_id = _fk("service", nullable=False)
    location_id = _fk("location", nullable=False)
    description = sa.Column(Text)


class Phone(Base):
    __tablename__ = "phone"
    id = sa.Column(Text, primary_key=True)
    location_id = _fk("location")
    service_id = _fk("service")
    organization_id = _fk("organization")
    service_at_location_id = _fk("service_at_location")
    number = sa.Column(Text, nullable=False)
    extension = sa.Column(Text)
    type = sa.Column(Text)
    description = sa.Column(Text)


class Schedule(Base):
    __tablename__ = "schedule"
    id = sa.Column(Text, primary_key=True)
    service_id = _fk("service")
    location_id = _fk("location")
    service_at_location_id = _fk("service_at_location")
    freq = sa.Column(Text)
    byday = sa.Column(Text)
    opens_at = sa.Column(Text)
    closes_at = sa.Column(Text)
    timezone = sa.Column(Text)  # HSDS gives a UTC offset; an IANA name is accepted too
    description = sa.Column(Text)
    # The rest of the RFC 5545 rule (bot/directory/hours.py reads it); migration 0002.
    valid_from = sa.Column(sa.Date)
    valid_to = sa.Column(sa.Date)
    dtstart = sa.Column(sa.Date)
    until = sa.Column(sa.Date)
    count = sa.Column(sa.Integer)
    interval = sa.Column(sa.Integer)
    wkst = sa.Column(Text)
    bymonthday = sa.Column(Text)  # comma-separated, like byday
    byweekno = sa.Column(Text)
    byyearday = sa.Column(Text)


class Language(Base):
    __tablename__ = "language"
    id = sa.Column(Text, primary_key=True)
    service_id = _fk("service")
    location_id = _fk("location")
    phone_id = _fk("phone")
    name = sa.Column(Text)
    code = sa.Column(Text)
    note = sa.Column(Text)


class ServiceArea(Base):
    __tablename__ = "service_area"
    __table_args__ = (sa.Index("ix_service_area_name", "name"),)  # areas are matched by name
    id = sa.Column(Text, primary_key=True)
    service_id = _fk("service")
    service_at_location_id = _fk("service_at_location")
    name = sa.Column(Text)
    description = sa.Column(Text)
    extent = sa.Column(Text)
    extent_type = sa.Column(Text)


class RequiredDocument(Base):
    __tablename__ = "required_document"
    id = sa.Column(Text, primary_key=True)
    service_id = _fk("service")
    document = sa.Column(Text)
    uri = sa.Column(Text)


class Taxonomy(Base):
    __tablename__ = "taxonomy"
    id = sa.Column(Text, primary_key=True)
    name = sa.Column(Text, nullable=False)
    description = sa.Column(Text)
    uri = sa.Column(Text)
    version = sa.Column(Text)


class TaxonomyTerm(Base):
    __tablename__ = "taxonomy_term"
    id = sa.Column(Text, primary_key=True)
    code = sa.Column(Text)
    name = sa.Column(Text, nullable=False)
    description = sa.Column(Text)
    parent_id = _fk("taxonomy_term")
    taxonomy = sa.Column(Text)
    taxonomy_id = _fk("taxonomy")
    language = sa.Column(Text)
    term_uri = sa.Column(Text)


class Attribute(Base):
    __tablename__ = "attribute"
    # Every filter and profile lookup by term reads this index alone (migration 0003).
    __table_args__ = (
        sa.Index(
            "ix_attribute_term_entity_link_value",
            "taxonomy_term_id",
            "link_entity",
            "link_id",
            "value",
        ),
    )
    id = sa.Column(Text, primary_key=True)
    link_id = sa.Column(Text, nullable=False, index=True)
    taxonomy_term_id = sa.Column(
        sa.ForeignKey("taxonomy_term.id", ondelete="CASCADE"), nullable=False
    )
    link_type = sa.Column(Text)
    link_entity = sa.Column(Text, nullable=False)
    value = sa.Column(Text)
    label = sa.Column(Text)


class ServiceCapacity(Base):
    __tablename__ = "service_capacity"
    id = sa.Column(Text, primary_key=True)
    service_id = _fk("service", nullable=False)
    unit_id = sa.Column(Text)
    available = sa.Column(sa.Float, nullable=False)
    maximum = sa.Column(sa.Float)
    description = sa.Column(Text)
    updated = sa.Column(sa.DateTime, nullable=False)


class SearchPoint(Base):
    """Where a service can be found, per need term: derived from the tables above by every
    import (``bot.directory.points``), never exported, never edited.

    One row per service at location and per taxonomy term of the service (``ANY_TERM``
    too): an open location carries its coordinates, a confidential one only its state
    and city. A search by need and place reads one index range of this table, however
    many services the directory holds (migration 0004)."""

    __tablename__ = "search_point"
    __table_args__ = (
        sa.Index(
            "ix_search_point_box", "taxonomy_term_id", "latitude", "longitude", "service_id",
            "service_at_location_id", "location_id",
        ),
        sa.Index(
            "ix_search_point_state", "taxonomy_term_id", "state", "city", "service_id",
            "service_at_location_id", "location_id",
        ),
    )  # fmt: skip
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    taxonomy_term_id = sa.Column(Text, nullable=False)
    service_id = sa.Column(Text, nullable=False)
    service_at_location_id = sa.Column(Text, nullable=False)
    location_id = sa.Column(Text, nullable=False)
    latitude = sa.Column(sa.Float)  # open locations only
    longitude = sa.Column(sa.Float)
    state = sa.Column(Text)  # confidential locations only: upper case, as on the address
    city = sa.Column(Text)


class SearchService(Base):
    """What ranking reads about a service, one row each: derived by every import with the
    search points (``bot.directory.points``), never exported, never edited."""

    __tablename__ = "search_service"
    service_id = sa.Column(Text, primary_key=True)
    name = sa.Column(Text, nullable=False)
    assured_date = sa.Column(sa.Date)
    populations = sa.Column(Text, nullable=False, server_default="")  # space-separated
    languages = sa.Column(Text, nullable=False, server_default="")  # ISO codes, space-separated
    capacity_available = sa.Column(sa.Integer)  # the latest count of free places, if any
    capacity_updated = sa.Column(sa.DateTime)


class SearchHours(Base):
    """The hours that apply to each service at a location (its own, else its service's,
    else its location's) and to each service without one, with the time zone they are
    read in: derived by every import (``bot.directory.points``), never exported."""

    __tablename__ = "search_hours"
    __table_args__ = (
        sa.Index("ix_search_hours_sal", "service_at_location_id"),
        sa.Index("ix_search_hours_service", "service_id"),
    )
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    service_id = sa.Column(Text, nullable=False)
    service_at_location_id = sa.Column(Text)  # None: the service's own hours
    timezone = sa.Column(Text)  # the schedule's, else the address's ZIP code's or state's
    schedule = sa.Column(Text, nullable=False)  # bot.directory.hours.pack_schedule


# Import order (parents first) and the HSDS table names; export and import both use it.
TABLES: tuple[type[Base], ...] = (
    Organization,
    Taxonomy,
    TaxonomyTerm,
    Service,
    Location,
    Address,
    ServiceAtLocation,
    Phone,
    Schedule,
    Language,
    ServiceArea,
    RequiredDocument,
    Attribute,
    ServiceCapacity,
)
TABLE_BY_NAME = {model.__tablename__: model for model in TABLES}


IN_CHUNK = 500  # ids per IN (...) query: SQLite caps the number of bound parameters
IDS = sa.bindparam("ids", expanding=True)  # one chunk of ids (``in_chunks``)


def in_chunks(
    session: Session, statement: sa.Select, ids: Iterable[str | None], **params: Any
) -> Iterator[Any]:
    """The rows of ``statement``, which tests ``column.in_(IDS)``, for ``ids``: a chunk
    of ids per query, one expanding parameter (no SQL built per id or per call). Each
    chunk's rows are fetched at once (row by row costs a driver call per row)."""
    wanted = [i for i in dict.fromkeys(ids) if i]
    for start in range(0, len(wanted), IN_CHUNK):
        chunk = wanted[start : start + IN_CHUNK]
        yield from session.execute(statement, {**params, "ids": chunk}).all()


@functools.cache
def _rows_of(table: sa.Table, column: str, columns: tuple[str, ...]) -> sa.Select:
    """The rows of ``table`` whose ``column`` is in ``IDS``, in id order (built once)."""
    selected = sa.select(*(table.c[name] for name in columns)) if columns else sa.select(table)
    return selected.where(table.c[column].in_(IDS)).order_by(table.c.id)


def rows_where_in(
    session: Session,
    table: sa.Table,
    column: str,
    ids: Iterable[str | None],
    columns: tuple[str, ...] = (),
) -> Iterator[Any]:
    """The rows of ``table`` (only ``columns`` if given) whose ``column`` is one of ``ids``,
    as mappings ordered by id."""
    for row in in_chunks(session, _rows_of(table, column, columns), ids):
        yield row._mapping


@functools.cache
def _rows_of_any(table: sa.Table, keys: tuple[str, ...], columns: tuple[str, ...]) -> sa.Select:
    """The rows of ``table`` whose ``keys`` columns are each in their own ids (built once)."""
    selected = sa.select(*(table.c[name] for name in columns)) if columns else sa.select(table)
    tests = [table.c[key].in_(sa.bindparam(f"ids_{key}", expanding=True)) for key in keys]
    return selected.where(sa.or_(*tests)).order_by(table.c.id)


def grouped_by(
    session: Session,
    table: sa.Table,
    wanted: Mapping[str, Iterable[str | None]],
    columns: tuple[str, ...] = (),
) -> dict[str, dict[str, list]]:
    """The rows of ``table`` linked by any of several columns (``wanted``: column → ids),
    in one query per chunk of ids: by column, then by that column's value, in id order."""
    keys = tuple(wanted)
    ids = {key: [i for i in dict.fromkeys(wanted[key]) if i] for key in keys}
    statement = _rows_of_any(table, keys, columns)
    found: dict[str, dict[str, list]] = {key: defaultdict(list) for key in keys}
    longest = max((len(values) for values in ids.values()), default=0)
    chunk = max(1, IN_CHUNK // max(1, len(keys)))
    for start in range(0, longest, chunk):
        parts = {key: ids[key][start : start + chunk] for key in keys}
        params = {f"ids_{key}": part for key, part in parts.items()}
        sought = {key: set(part) for key, part in parts.items()}
        for row in session.execute(statement, params).all():
            mapping = row._mapping
            for key in keys:
                if mapping[key] in sought[key]:
                    found[key][mapping[key]].append(mapping)
    return found
