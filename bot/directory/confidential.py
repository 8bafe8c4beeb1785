"""Confidential locations (survivor shelters): the one place that decides how they appear.

A location whose profile says ``address_confidential = true`` never takes part in geometry:
no distance filter, no distance sort, no bounding box, no radius, in the chat search, the
HSDS API or anywhere else. Its coordinates would make "is it within X miles of ZIP Y?" a
yes/no question that, asked from a few ZIP codes, pins the house down to a few metres.

Instead it is matched by words only: the city on its address, every county that city lies
in, or a state-wide search of its state. Whatever a query asks, the answer about a
confidential location depends on nothing finer than its city and state. It is shown
without address, coordinates, description, transport notes or distance (``redact``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.directory.geocode import local_names
from bot.directory.models import IDS, Attribute, Location, in_chunks
from bot.directory.taxonomy import profile_term

CONFIDENTIAL_TERM = profile_term("address_confidential")
# Location fields that could place a confidential location more finely than its city.
HIDDEN_LOCATION_FIELDS = ("latitude", "longitude", "description", "transportation")
HIDDEN_ADDRESS_FIELDS = ("attention", "address_1", "address_2", "region", "postal_code")


def is_confidential(location_id: sa.ColumnElement) -> sa.ColumnElement:
    """SQL: the location with this id is confidential."""
    attribute = Attribute.__table__.alias()
    return sa.exists().where(
        attribute.c.link_entity == "location",
        attribute.c.link_id == location_id,
        attribute.c.taxonomy_term_id == CONFIDENTIAL_TERM,
        sa.func.lower(attribute.c.value) == "true",
    )


@functools.cache
def _confidential_statement() -> sa.Select:
    """The ids among ``IDS`` of confidential locations (built once: an alias per call
    would make a new statement to compile every time)."""
    table = Location.__table__
    return sa.select(table.c.id).where(table.c.id.in_(IDS), is_confidential(table.c.id))


def confidential_ids(session: Session, location_ids: Iterable[str | None]) -> set[str]:
    """Which of ``location_ids`` are confidential."""
    return {row.id for row in in_chunks(session, _confidential_statement(), location_ids)}


def matches_place(
    city: str | None, state: str | None, query_state: str | None, query_areas: Iterable[str]
) -> bool:
    """Whether a confidential location in ``city, state`` answers a search near a place.

    The place is described by its state and its local names (its city and counties, as
    geocoding gives them); a state-wide search has no local names. Only the location's
    city and state are read, never its coordinates or street address.
    """
    if not state or not query_state or state.strip().upper() != query_state.upper():
        return False
    areas = set(query_areas)
    if not areas:
        return True  # a search of the whole state
    return bool(city) and not areas.isdisjoint(local_names(city, state))


def redact(location: dict[str, Any], addresses: list[dict[str, Any]]) -> tuple[dict, list[dict]]:
    """A confidential location and its addresses with everything below the city removed."""
    shown = {**location, **{field: None for field in HIDDEN_LOCATION_FIELDS}}
    kept = [{**a, **{field: None for field in HIDDEN_ADDRESS_FIELDS}} for a in addresses]
    return shown, kept
