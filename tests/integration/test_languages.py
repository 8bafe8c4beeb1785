"""Every language a survivor writes in, through the real stack over REST.

The session stack has the tiny Argos packages installed (``tests/argos_packages.py``):
German both ways (a language with no catalog), French, Portuguese and Arabic to English
(catalog languages read through the English pivot). Vietnamese has neither: its door.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.languages import REGISTRY
from tests.conftest import ROOT, RunningStack
from tests.integration.chat import new_sender, say, texts, tracker

pytestmark = pytest.mark.integration

NOTICE = "ⓘ"
ARABIC_LETTERS = re.compile(r"[\u0600-\u06FF]")


def catalog_strings(language: str) -> list[str]:
    path = ROOT / "locales" / language / "LC_MESSAGES" / "haven.po"
    with Path(path).open("rb") as handle:
        return [m.string for m in read_po(handle) if m.id and isinstance(m.string, str)]


def from_catalog(reply: str, language: str) -> bool:
    """Some sentence of the reply is a sentence of that language's catalog."""
    strings = catalog_strings(language)
    lines = [line.strip() for line in reply.splitlines() if len(line.strip()) > 12]
    return any(line[:40] in string for line in lines for string in strings)


def latest(stack: RunningStack, sender: str) -> dict:
    return tracker(stack.rasa_url, stack.token, sender)


def user_parse(state: dict, text: str) -> dict:
    """The parse data of the user message with this text, as the NLU read it (a
    disclosure's answer replays the held intent as a second event with the same text)."""
    found = [e for e in state["events"] if e["event"] == "user" and e.get("text") == text]
    return found[0]["parse_data"]


def slot(stack: RunningStack, sender: str, name: str):
    return latest(stack, sender)["slots"].get(name)


def test_french_is_read_through_the_pivot_and_answered_from_the_catalog(stack) -> None:
    sender = new_sender("fr")
    reply = texts(say(stack.rasa_url, sender, "Bonjour, mon patron a pris mon passeport"))
    assert from_catalog(reply, "fr"), reply
    assert NOTICE not in reply  # a catalog language never shows the machine notice
    state = latest(stack, sender)
    assert state["slots"]["language"] == "fr"
    parse = user_parse(state, "Bonjour, mon patron a pris mon passeport")
    assert parse["haven_original_text"] == "Bonjour, mon patron a pris mon passeport"
    assert "passport" in parse["text"].lower()
    # Understood: the passport topic, answered at once or after acknowledging what was said.
    held = ((parse.get("haven_danger") or {}).get("held") or {}).get("intent") or {}
    assert "kb_passport_and_id" in (parse["intent"]["name"], held.get("name")), parse["intent"]


def test_arabic_gets_arabic(stack) -> None:
    sender = new_sender("ar")
    reply = texts(say(stack.rasa_url, sender, "مرحبا ساعدني"))
    assert slot(stack, sender, "language") == "ar"
    assert ARABIC_LETTERS.search(reply) and from_catalog(reply, "ar"), reply


def test_a_portuguese_passport_message_is_answered_in_portuguese(stack) -> None:
    sender = new_sender("pt")
    reply = texts(say(stack.rasa_url, sender, "meu patrão pegou meu passaporte"))
    assert slot(stack, sender, "language") == "pt"
    assert from_catalog(reply, "pt") and not from_catalog(reply, "es"), reply


def test_a_language_with_packages_only_round_trips_with_the_notice(stack) -> None:
    sender = new_sender("de")
    reply = texts(say(stack.rasa_url, sender, "ich brauche essen in Houston"))
    state = latest(stack, sender)
    assert state["slots"]["language"] == "de"
    parse = user_parse(state, "ich brauche essen in Houston")
    assert parse["text"].lower().startswith("i need food in houston")
    assert NOTICE in reply, reply
    assert "Houston" in reply  # the search ran on the pivot: food in Houston
    english = texts(say(stack.rasa_url, new_sender("en"), "i need food in Houston"))
    # the same services, by name (data is never translated)
    names = [line for line in english.splitlines() if line and line[0].isupper()][:3]
    assert any(name in reply for name in names), (names, reply)


def test_crisis_replies_are_never_machine_translated(stack) -> None:
    sender = new_sender("de-crisis")
    reply = texts(say(stack.rasa_url, sender, "er hat ein messer"))
    assert "911" in reply
    assert NOTICE not in reply, reply
    assert REGISTRY["de"].door in reply  # English, with the door line in German


def test_an_unreviewed_catalog_does_not_write_the_crisis_reply(stack) -> None:
    sender = new_sender("fr-crisis")
    reply = texts(say(stack.rasa_url, sender, "je veux mourir"))
    assert "988" in reply
    assert not from_catalog(reply.replace(REGISTRY["fr"].door, ""), "fr"), reply
    assert REGISTRY["fr"].door in reply


def test_no_package_no_catalog_english_with_the_door_line(stack) -> None:
    sender = new_sender("vi")
    reply = texts(say(stack.rasa_url, sender, "xin chào, tôi cần giúp đỡ"))
    assert slot(stack, sender, "language") == "vi"
    assert REGISTRY["vi"].door in reply
    assert NOTICE not in reply


@pytest.mark.parametrize(
    ("greeting", "language"),
    [("Привет", "ru"), ("xin chào", "vi"), ("你好", "zh"), ("안녕하세요", "ko"), ("سلام", "ar")],
)
def test_a_greeting_in_another_language_is_never_read_as_english_or_spanish(
    stack, greeting: str, language: str
) -> None:
    sender = new_sender("greet")
    replies = say(stack.rasa_url, sender, greeting)
    assert replies, "never silence"
    assert slot(stack, sender, "language") == language


def test_spanish_never_shows_the_notice_and_short_words_never_flip_it(stack) -> None:
    sender = new_sender("es")
    first = texts(say(stack.rasa_url, sender, "hola, necesito ayuda con mi trabajo"))
    assert NOTICE not in first
    say(stack.rasa_url, sender, "danke")
    assert slot(stack, sender, "language") == "es"


def test_an_explicit_choice_wins_over_detection(stack) -> None:
    sender = new_sender("choice")
    say(stack.rasa_url, sender, '/choose_language{"language": "ht"}')
    reply = texts(say(stack.rasa_url, sender, "what is a T visa?"))
    assert slot(stack, sender, "language") == "ht"
    assert from_catalog(reply, "ht"), reply


def test_the_language_menu_comes_from_the_registry(stack) -> None:
    replies = say(stack.rasa_url, new_sender("menu"), "/choose_language")
    offered = {b["payload"] for r in replies for b in r.get("buttons") or []}
    for code in ("en", "es", "fr", "pt", "ar", "ht", "de"):  # catalogs, and German's pair
        assert f'/choose_language{{"language": "{code}"}}' in offered
    assert '/choose_language{"language": "vi"}' not in offered  # nothing to answer with yet
