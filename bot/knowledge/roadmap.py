"""The provider eligibility road map: which questions to ask, and which outcome applies.

Outcomes are curated, cited content in ``data/knowledge/roadmap.yml`` ("what is my client
eligible for, how to get it, which documents, what makes them ineligible, whom to call").
This module only walks the questions and picks the first outcome whose conditions match.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.knowledge.entries import KnowledgeError, Source

AGE, STATUS, STAGE, COOPERATION = (
    "roadmap_age",
    "roadmap_status",
    "roadmap_stage",
    "roadmap_cooperation",
)
SLOTS = (AGE, STATUS, STAGE, COOPERATION)
VALUES: dict[str, tuple[str, ...]] = {
    AGE: ("minor", "adult", "unknown"),
    STATUS: ("foreign_national", "us_citizen", "permanent_resident", "unknown"),
    STAGE: ("none", "continued_presence", "t_bona_fide", "t_approved", "certified", "unknown"),
    COOPERATION: ("yes", "no", "unknown"),
}
SECTIONS = ("summary", "use_now", "next_steps", "documents", "ineligible_if")


@dataclass(frozen=True)
class Outcome:
    """What a client in one situation can use, how, and what to watch for."""

    id: str
    when: dict[str, str]
    sections: dict[str, str]
    contacts: tuple[str, ...]
    sources: tuple[Source, ...]
    reviewed: dt.date

    def matches(self, answers: dict[str, str]) -> bool:
        return all(answers.get(slot) == value for slot, value in self.when.items())


def is_asked(slot: str, answers: dict[str, str]) -> bool:
    """Stage and cooperation matter only for adult foreign nationals (and cooperation only
    before any status)."""
    adult_foreign = answers.get(AGE) == "adult" and answers.get(STATUS) == "foreign_national"
    if slot == STAGE:
        return adult_foreign
    if slot == COOPERATION:
        return adult_foreign and answers.get(STAGE) in ("none", "unknown")
    return True


def next_question(answers: dict[str, str]) -> str | None:
    """The next slot to ask about, or None when the outcome can be given."""
    for slot in SLOTS:
        if is_asked(slot, answers) and answers.get(slot) not in VALUES[slot]:
            return slot
    return None


def relevant_answers(answers: dict[str, str]) -> dict[str, str]:
    """Only the answers to questions that are asked on this path."""
    return {slot: v for slot, v in answers.items() if slot in SLOTS and is_asked(slot, answers)}


@lru_cache(maxsize=4)
def load_outcomes(path: Path) -> tuple[Outcome, ...]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    outcomes = []
    for item in raw.get("outcomes") or []:
        where = f"{path.name}, outcome {item.get('id', '?')!r}"
        when = {str(k): str(v) for k, v in (item.get("when") or {}).items()}
        for slot, value in when.items():
            if slot not in VALUES or value not in VALUES[slot]:
                raise KnowledgeError(f"{where}: unknown condition {slot}: {value}")
        outcomes.append(
            Outcome(
                id=item["id"],
                when=when,
                sections={s: str(item[s]).strip() for s in SECTIONS if item.get(s)},
                contacts=tuple(item.get("contacts") or ()),
                sources=tuple(Source(**s) for s in item.get("sources") or ()),
                reviewed=dt.date.fromisoformat(str(item["reviewed"])),
            )
        )
    if not outcomes or outcomes[-1].when:
        raise KnowledgeError(f"{path.name}: the last outcome must match everything (when: {{}})")
    return tuple(outcomes)


def choose_outcome(outcomes: tuple[Outcome, ...], answers: dict[str, Any]) -> Outcome:
    """The first outcome whose conditions match the answers on this path."""
    relevant = relevant_answers({k: str(v) for k, v in answers.items() if v is not None})
    return next(o for o in outcomes if o.matches(relevant))


def answer_payload(slot: str, value: str) -> str:
    """The button payload that answers one road map question."""
    return "/eligibility_roadmap" + json.dumps({slot: value})


def roadmap_payloads() -> frozenset[str]:
    """Every answer button the road map may show (channels allow exactly these)."""
    return frozenset(answer_payload(slot, value) for slot in SLOTS for value in VALUES[slot])
