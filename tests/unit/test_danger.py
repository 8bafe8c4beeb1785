"""The danger model and its Rasa adapter, trained on the real data/safety (a few seconds)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.safety import ActionAnswerHeldMessage, ActionDisclosureNextSteps
from bot.channels.payloads import allowed_payloads
from bot.nlu.danger import DANGER_KEY, ORIGINAL_TEXT, DangerDetector
from bot.safety.danger_model import (
    DANGER_TYPES,
    DISCLOSURE,
    NONE,
    DangerModel,
    data_fingerprint,
    load_examples,
)
from tests.rendering import rendered

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "safety"


@pytest.fixture(scope="module")
def model() -> DangerModel:
    return DangerModel.train(load_examples(DATA))


@pytest.fixture(scope="module")
def detector(model: DangerModel) -> DangerDetector:
    return DangerDetector({"data": "data/safety"}, None, None, model)


def _message(text: str, intent: str, confidence: float = 0.9) -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": confidence}, add_to_output=True)
    message.set(INTENT_RANKING_KEY, [{"name": intent, "confidence": confidence}])
    return message


def _kind(message: Message) -> str | None:
    return next(
        (e["value"] for e in message.get(ENTITIES, []) if e["entity"] == "crisis_type"), None
    )


def test_training_data_has_what_each_language_needs() -> None:
    examples = load_examples(DATA)
    for language in ("en", "es"):
        labels = Counter(e.label for e in examples if e.language == language)
        assert sum(labels[t] for t in DANGER_TYPES) >= 300
        assert labels[NONE] >= 300 and labels[DISCLOSURE] >= 100
        assert all(labels[t] >= 40 for t in DANGER_TYPES), labels
    labels_of: dict[tuple[str, str], set[str]] = {}
    for e in examples:
        labels_of.setdefault((e.language, e.text.strip().casefold()), set()).add(e.label)
    assert len(labels_of) == len(examples), "an example is written twice in one language"
    by_text: dict[str, set[str]] = {}
    for (_, text), labels in labels_of.items():
        by_text.setdefault(text, set()).update(labels)
    assert all(len(labels) == 1 for labels in by_text.values()), "one text, two labels"


def test_an_unknown_kind_of_danger_is_refused(tmp_path: Path) -> None:
    (tmp_path / "xx.yml").write_text(yaml.safe_dump({"language": "xx", "danger": {"fire": ["x"]}}))
    with pytest.raises(ValueError, match="unknown danger type 'fire'"):
        load_examples(tmp_path)


def test_the_fingerprint_follows_the_data(tmp_path: Path) -> None:
    (tmp_path / "xx.yml").write_text("language: xx\nnone: [hello]\n")
    before = data_fingerprint(tmp_path)
    (tmp_path / "xx.yml").write_text("language: xx\nnone: [hello, hi]\n")
    assert data_fingerprint(tmp_path) != before


def test_a_saved_model_loads_with_the_same_answers(model: DangerModel, tmp_path: Path) -> None:
    model.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl")), "plain arrays and JSON only"
    loaded = DangerModel.load(tmp_path)
    texts = ["he is outside my door with a bat", "hola", "mi patron guarda mi pasaporte"]
    assert loaded.labels == model.labels
    assert np.allclose(loaded.probabilities(texts), model.probabilities(texts))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("he is outside my door with a bat and says he will kill me", "danger"),
        ("me hice una cortada y no deja de sangrar", "emergency"),
        ("i dont want to wake up tomorrow, i want it all to end", "self_harm"),
        ("quiero que todo se acabe, ya tengo las pastillas", "self_harm"),
    ],
)
def test_present_danger_gets_the_crisis_intent_whatever_the_model_read(
    detector: DangerDetector, text: str, kind: str
) -> None:
    message = _message(text, "find_service")
    detector.process([message])
    assert message.get(INTENT)["name"] == "crisis"
    assert _kind(message) in DANGER_TYPES
    assert message.get(DANGER_KEY)["held"]["intent"]["name"] == "find_service"


@pytest.mark.parametrize(
    "text", ["this commute is killing me lol", "what is a T visa", "me muero de hambre jaja"]
)
def test_ordinary_messages_keep_their_intent(detector: DangerDetector, text: str) -> None:
    message = _message(text, "out_of_scope")
    detector.process([message])
    assert message.get(INTENT)["name"] == "out_of_scope"
    assert _kind(message) is None


def test_one_word_replies_are_read_as_replies(detector: DangerDetector) -> None:
    """'no' after a question is not despair; but an unreadable short message is checked."""
    answered = _message("no", "deny", 0.95)
    detector.process([answered])
    assert answered.get(INTENT)["name"] == "deny"
    unclear = _message("sangrando", "nlu_fallback", 1.0)
    detector.process([unclear])
    assert unclear.get(INTENT)["name"] in ("danger_check", "nlu_fallback")
    assert unclear.get(INTENT)["name"] != "crisis", "one word never triggers the crisis reply"


def test_the_keyword_floor_always_counts(detector: DangerDetector) -> None:
    named = _message("is this domestic violence", "out_of_scope")
    detector.process([named])
    assert named.get(INTENT)["name"] in ("danger_check", "crisis")
    said = _message("estoy en peligro", "greet")
    detector.process([said])
    assert said.get(INTENT)["name"] == "crisis"


def test_the_original_text_of_a_translated_message_is_read_too(detector: DangerDetector) -> None:
    message = _message("some harmless pivot text", "greet")
    message.set(ORIGINAL_TEXT, "estoy en peligro")
    detector.process([message])
    assert message.get(INTENT)["name"] == "crisis"


def test_the_intent_models_own_crisis_reading_is_at_least_checked(
    detector: DangerDetector,
) -> None:
    message = _message("please come quickly to the farm", "crisis")
    detector.process([message])
    assert message.get(INTENT)["name"] in ("danger_check", "crisis")


def test_a_disclosure_is_recognised(detector: DangerDetector) -> None:
    message = _message(
        "he makes me have sex with men for money and keeps all of it", "find_service"
    )
    detector.process([message])
    assert message.get(INTENT)["name"] in ("disclosure", "danger_check")
    assert message.get(INTENT)["name"] != "find_service"


def test_every_kind_of_danger_has_its_reviewed_reply() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    kinds = {
        c["value"] for v in domain["responses"]["utter_crisis"] for c in v.get("condition", [])
    }
    assert kinds == set(DANGER_TYPES) - {"danger"}  # "danger" is the general reply
    assert set(domain["slots"]["crisis_type"]["values"]) == set(DANGER_TYPES)


# ---------------------------------------------------------------- the actions that follow


def _user(text: str, tier: str, held_intent: str, confidence: float, ranking: list) -> dict:
    held = {
        "intent": {"name": held_intent, "confidence": confidence},
        "intent_ranking": ranking,
        "entities": [],
    }
    parse = {"intent": {"name": "x"}, DANGER_KEY: {"tier": tier, "held": held}}
    return {"event": "user", "text": text, "parse_data": parse}


def _run(action, events: list[dict]) -> tuple[list[dict], list[dict]]:
    tracker = Tracker("someone", {"language": "en"}, {}, events, False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    result = asyncio.run(action.run(dispatcher, tracker, {}))
    return rendered(dispatcher.messages), result


def test_no_after_the_check_in_answers_the_question_that_was_held() -> None:
    asked = _user("my boss hit me, can i get a t visa", "possible", "kb_t_visa", 0.8, [])
    messages, events = _run(ActionAnswerHeldMessage(), [asked, {"event": "user", "text": "no"}])
    assert messages == []
    assert [e["event"] for e in events] == ["action", "user"]
    assert events[0]["name"] == "action_listen"
    assert events[1]["text"] == asked["text"]
    assert events[1]["parse_data"]["intent"]["name"] == "kb_t_visa"
    assert events[1]["parse_data"][DANGER_KEY]["tier"] == "answered"


def test_no_after_the_check_in_acknowledges_a_story_of_exploitation() -> None:
    ranking = [{"name": "kb_rights_at_work", "confidence": 0.3}]
    story = _user("they locked us in last night and keep our pay", "possible", "find_service",
                  0.4, ranking)  # fmt: skip
    story["parse_data"][DANGER_KEY]["disclosure"] = 0.6
    messages, events = _run(ActionAnswerHeldMessage(), [story, {"event": "user", "text": "no"}])
    assert messages[0]["response"] == "utter_disclosure"
    assert events == [] and "/kb_rights_at_work" in [b["payload"] for b in messages[1]["buttons"]]
    story["parse_data"][DANGER_KEY]["disclosure"] = 0.1  # not a story: the question, replayed
    messages, events = _run(ActionAnswerHeldMessage(), [story, {"event": "user", "text": "no"}])
    assert messages == [] and events[1]["text"] == story["text"]


def test_a_rights_question_inside_a_disclosure_is_answered_after_the_acknowledgement() -> None:
    story = _user(
        "he keeps my passport, is that legal", "disclosure", "kb_passport_and_id", 0.9, []
    )
    messages, events = _run(ActionDisclosureNextSteps(), [story])
    assert messages == []
    assert events[1]["parse_data"]["intent"]["name"] == "kb_passport_and_id"


def test_a_story_gets_next_steps_that_fit_and_never_a_search() -> None:
    ranking = [
        {"name": "find_service", "confidence": 0.5},
        {"name": "kb_rights_at_work", "confidence": 0.3},
        {"name": "kb_what_is_trafficking", "confidence": 0.12},
    ]
    story = _user("i owe them for the trip and they keep my pay", "disclosure", "find_service",
                  0.5, ranking)  # fmt: skip
    [message], events = _run(ActionDisclosureNextSteps(), [story])
    assert events == []
    payloads = [b["payload"] for b in message["buttons"]]
    assert payloads[:2] == ["/kb_rights_at_work", "/kb_what_is_trafficking"]
    assert '/find_service{"need": "emergency_shelter"}' in payloads
    assert "/request_human" in payloads
    assert set(payloads) <= allowed_payloads() | {"/help"}
