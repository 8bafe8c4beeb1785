"""Ranking: the order matches are shown in, decided on a few columns per service.

Every match is ranked, so ranking reads only what it needs (``ServiceFacts``: name,
assured date, population profile, whether it speaks the language asked for, the latest
capacity), one row per service of the derived ``search_service`` table. The full details are
loaded afterwards, for the page shown only (``bot.directory.details``).

Order, first to last: services that fit the person before those whose population
profile leaves them out (``fit_note``), then services with a free place before full ones,
then by score (distance, language, specialisation, freshness), then by name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bot.directory.models import IDS, SearchService, in_chunks
from bot.directory.taxonomy import profile_term

if TYPE_CHECKING:
    from bot.directory.search import SearchQuery, _Candidate

STALE_AFTER_DAYS = 180  # a listing not confirmed for this long is marked stale
CAPACITY_STALE_AFTER = dt.timedelta(days=2)  # a count of free places older than this may be wrong
POPULATION_TERM = profile_term("population")


@dataclass(frozen=True)
class Audience:
    """Who a population value is limited to (None: no limit on that side)."""

    gender: str | None = None  # "man" or "woman"
    age_group: str | None = None  # "adult" or "youth"


# Population values that limit who may come. "all" opens a service to anyone; "families"
# (the people listed and their children), "lgbtq" and "trafficking_specialized" say whom a
# service welcomes or knows, never whom it refuses.
AUDIENCES = {
    "men": Audience("man", "adult"),
    "women": Audience("woman", "adult"),
    "boys": Audience("man", "youth"),
    "girls": Audience("woman", "youth"),
    "minors": Audience(age_group="youth"),
    "unaccompanied_minors": Audience(age_group="youth"),
}
OPEN_TO_ALL = ("all",)
QUALIFIERS = ("families", "lgbtq", "trafficking_specialized")
# The note for a service that leaves the person out, by the side that does.
AGE_NOTES = {"youth": "minors_only", "adult": "adults_only"}
GENDER_NOTES = {"woman": "women_only", "man": "men_only"}  # women_only: women or girls
MIXED_NOTE = "restricted"  # left out on both sides by different values


def _admits(limit: str | None, person: str | None) -> bool:
    return limit is None or person is None or limit == person


def fit_note(populations: Iterable[str], gender: str | None, age_group: str | None) -> str | None:
    """None when the population profile may take the person; else why not ("women_only").

    Only a clear exclusion counts: an unknown gender or age, or a profile open to anyone
    or without a limiting value, fits."""
    values = set(populations)
    limits = [AUDIENCES[v] for v in values if v in AUDIENCES]
    if not limits or values & set(OPEN_TO_ALL):
        return None
    gender = gender if gender in GENDER_NOTES else None
    age_group = age_group if age_group in AGE_NOTES else None
    if any(_admits(a.gender, gender) and _admits(a.age_group, age_group) for a in limits):
        return None
    if not any(_admits(a.age_group, age_group) for a in limits):
        return AGE_NOTES[limits[0].age_group]
    if not any(_admits(a.gender, gender) for a in limits):
        return GENDER_NOTES[limits[0].gender]
    return MIXED_NOTE


def _utc(moment: dt.datetime) -> dt.datetime:
    """A stored naive datetime (UTC, as imported) or an aware one, as aware UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


@dataclass(frozen=True)
class Capacity:
    """The latest count of free places, with when it was made."""

    available: int
    updated: dt.datetime  # aware UTC
    stale: bool  # older than CAPACITY_STALE_AFTER

    @property
    def full(self) -> bool:
        return self.available <= 0


@dataclass(frozen=True)
class ServiceFacts:
    """What ranking reads about one service."""

    name: str
    assured_date: dt.date | None
    stale: bool
    populations: frozenset[str]
    speaks_language: bool
    capacity: Capacity | None
    fit_note: str | None

    @property
    def fits(self) -> bool:
        return self.fit_note is None

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.capacity.full


@dataclass(frozen=True)
class Ranked:
    """A service at its best-ranked place."""

    candidate: _Candidate
    facts: ServiceFacts


# What ``load_facts`` reads: one row per service of the derived ranking table.
_ranked = SearchService.__table__
_FACTS = sa.select(
    *(_ranked.c[name] for name in (
        "service_id", "name", "assured_date", "populations", "languages",
        "capacity_available", "capacity_updated",
    ))
).where(_ranked.c.service_id.in_(IDS))  # fmt: skip


def load_facts(
    session: Session, service_ids: Iterable[str], query: SearchQuery, now: dt.datetime
) -> dict[str, ServiceFacts]:
    """The facts of each service, from one batched query (``bot.directory.points``)."""
    today, utc_now = now.date(), _utc(now)
    gender, age_group, language = query.gender, query.age_group, query.language
    facts = {}
    for service_id, name, assured, populations, languages, available, updated in in_chunks(
        session, _FACTS, service_ids
    ):
        capacity = None
        if updated is not None:
            updated = _utc(updated)
            capacity = Capacity(available, updated, utc_now - updated > CAPACITY_STALE_AFTER)
        served = frozenset(populations.split())
        facts[service_id] = ServiceFacts(
            name=name,
            assured_date=assured,
            stale=assured is None or (today - assured).days > STALE_AFTER_DAYS,
            populations=served,
            speaks_language=bool(language) and language in languages.split(),
            capacity=capacity,
            fit_note=fit_note(served, gender, age_group),
        )
    return facts


def rank_key(candidate: _Candidate, facts: ServiceFacts, query: SearchQuery) -> tuple:
    """Lowest first: fit, free place, score, name (ids only to make ties stable)."""
    score = candidate.distance_km if candidate.distance_km is not None else query.radius_km / 2
    wanted = {query.population, "families" if query.with_children else None} - {None}
    if facts.speaks_language:
        score -= 8
    if "trafficking_specialized" in facts.populations:
        score -= 5
    if wanted & facts.populations:
        score -= 5
    if facts.stale:
        score += 10
    return (
        not facts.fits,
        facts.full,
        score,
        facts.name.lower(),
        candidate.service_id,
        candidate.sal_id or "",
    )


def rank(
    candidates: list[_Candidate], facts: dict[str, ServiceFacts], query: SearchQuery
) -> list[Ranked]:
    """Each matching service once, at its best-ranked place, best first."""
    listed = [c for c in candidates if c.service_id in facts]
    ordered = sorted(listed, key=lambda c: rank_key(c, facts[c.service_id], query))
    best: dict[str, _Candidate] = {}
    for candidate in ordered:
        best.setdefault(candidate.service_id, candidate)
    return [Ranked(candidate, facts[candidate.service_id]) for candidate in best.values()]
