"""The eligibility road map: every path of the questions reaches the intended outcome."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.roadmap import ActionRoadmap
from bot.channels.payloads import allowed_payloads
from bot.knowledge.roadmap import SLOTS, VALUES, choose_outcome, load_outcomes, next_question
from bot.safety.sanitize import canonical_payload
from tests.rendering import rendered

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = load_outcomes(ROOT / "data" / "knowledge" / "roadmap.yml")


def intended(answers: dict[str, str]) -> str:
    """The outcome each situation must get, written independently of the file's order."""
    age, status = answers["roadmap_age"], answers.get("roadmap_status")
    if age == "minor":
        return {"foreign_national": "minor_foreign_national", "unknown": "minor_status_unknown",
                "us_citizen": "minor_us_citizen",
                "permanent_resident": "minor_permanent_resident"}[status]  # fmt: skip
    if age == "adult" and status in ("us_citizen", "permanent_resident"):
        return f"adult_{status}"
    if age == "adult" and status == "foreign_national":
        stage = answers["roadmap_stage"]
        if stage in ("continued_presence", "t_bona_fide", "t_approved", "certified"):
            return f"adult_foreign_{stage}"
        if answers["roadmap_cooperation"] == "yes":
            return "adult_foreign_cooperating"
        return "adult_foreign_not_cooperating"
    return "not_enough_information"


def every_path() -> list[dict[str, str]]:
    """Every sequence of button answers the action can be given, to the end."""
    paths, pending = [], [{}]
    while pending:
        answers = pending.pop()
        slot = next_question(answers)
        if slot is None:
            paths.append(answers)
        else:
            pending.extend({**answers, slot: value} for value in VALUES[slot])
    return paths


PATHS = every_path()


def test_paths_cover_every_combination_of_answers() -> None:
    assert len(PATHS) == 21
    for combination in itertools.product(*(VALUES[s] for s in SLOTS)):
        answers = dict(zip(SLOTS, combination, strict=True))
        assert choose_outcome(OUTCOMES, answers).id == intended(answers)


@pytest.mark.parametrize("answers", PATHS, ids=lambda a: "/".join(a.values()))
def test_every_path_gets_its_outcome_through_the_action(answers: dict[str, str]) -> None:
    last_slot = list(answers)[-1]
    latest = {
        "intent": {"name": "eligibility_roadmap"},
        "entities": [{"entity": last_slot, "value": answers[last_slot]}],
    }
    tracker = Tracker(
        "provider", {**answers, "language": "en"}, latest, [], False, None, {}, "action_listen"
    )
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionRoadmap().run(dispatcher, tracker, {}))
    [message] = rendered(dispatcher.messages)
    outcome = next(o for o in OUTCOMES if o.id == intended(answers))
    assert outcome.sections["summary"].splitlines()[0] in message["text"]
    assert "https://" in message["text"]


def test_a_new_road_map_asks_the_first_question_with_allowed_buttons() -> None:
    latest = {"intent": {"name": "eligibility_roadmap"}, "entities": []}
    tracker = Tracker(
        "provider",
        {"roadmap_age": "adult", "language": "es"},
        latest,
        [],
        False,
        None,
        {},
        "action_listen",
    )
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionRoadmap().run(dispatcher, tracker, {}))
    [message] = rendered(dispatcher.messages, "es")
    assert "18" in message["text"]
    assert all(canonical_payload(b["payload"]) in allowed_payloads() for b in message["buttons"])
    assert {"event": "slot", "timestamp": None, "name": "roadmap_age", "value": None} in events


def test_adult_with_continued_presence_gets_certification_through_shepherd() -> None:
    answers = {
        "roadmap_age": "adult",
        "roadmap_status": "foreign_national",
        "roadmap_stage": "continued_presence",
    }
    text = " ".join(choose_outcome(OUTCOMES, answers).sections.values())
    assert "Shepherd" in text and "refugee" in text.lower()


def test_every_outcome_is_cited_and_reviewed() -> None:
    for outcome in OUTCOMES:
        assert any((s.url or "").startswith("https://") for s in outcome.sources), outcome.id
        assert outcome.reviewed.year >= 2026
