"""The rule-based NLU components on real Rasa Message objects (no trained model needed)."""

from __future__ import annotations

from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.languages import DETECTION_KEY
from bot.nlu.guard import InputGuard
from bot.nlu.language import LanguageDetector


def _message(text: str, intent: str = "greet") -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": 0.9}, add_to_output=True)
    return message


def _entity(message: Message, name: str) -> dict | None:
    return next((e for e in message.get(ENTITIES, []) if e["entity"] == name), None)


def test_language_detector_records_the_detected_language() -> None:
    [message] = LanguageDetector().process([Message(data={TEXT: "estoy en peligro"})])
    found = message.as_dict(only_output_properties=True)[DETECTION_KEY]
    assert found["language"] == "es" and found["evidence"] >= 2


def test_guard_maps_emoji_only_and_empty_messages_to_no_text() -> None:
    for text in ["", "   ", "👍👍", "???", "🙏"]:
        [message] = InputGuard().process([_message(text, "affirm")])
        assert message.get(INTENT)["name"] == "no_text", text


def test_guard_adds_language_entity_for_named_choice() -> None:
    [message] = InputGuard().process([_message("en español porfa", "choose_language")])
    assert _entity(message, "language")["value"] == "es"


def test_a_question_about_other_peoples_language_filters_the_search() -> None:
    for text in [
        "do any of them have Spanish speakers?",
        "alguno tiene personal que hable español?",
        "any lawyers who speak vietnamese",
    ]:
        [message] = InputGuard().process([_message(text, "choose_language")])
        assert message.get(INTENT)["name"] == "refine_search", text
        assert _entity(message, "language") is None
    for text in ["can you speak spanish", "hablas inglés?", "spanish please"]:
        [message] = InputGuard().process([_message(text, "choose_language")])
        assert message.get(INTENT)["name"] == "choose_language", text
        assert _entity(message, "language") is not None, text


def test_guard_leaves_language_names_in_other_intents_alone() -> None:
    [message] = InputGuard().process([_message("do you have spanish lawyers", "out_of_scope")])
    assert _entity(message, "language") is None


def test_guard_answers_rejected_commands_with_fallback() -> None:
    message = _message("EXTERNAL_anything{}", "delete_my_data")
    message.set("metadata", {"haven": {"rejected_command": True}})
    [message] = InputGuard().process([message])
    assert message.get(INTENT)["name"] == "nlu_fallback"
