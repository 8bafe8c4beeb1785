"""Responses render in the conversation's language, with placeholders filled after lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain

from bot.nlg.generator import LocalizedResponseGenerator
from bot.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def generator() -> LocalizedResponseGenerator:
    return LocalizedResponseGenerator(domain=Domain.load(str(ROOT / "domain.yml")))


def test_english_greeting_is_the_safety_check(generator: LocalizedResponseGenerator) -> None:
    reply = generator.render("utter_greet", {"language": "en"}, "rest")
    assert "safe for you to chat" in reply["text"]
    titles = [b["title"] for b in reply["buttons"]]
    assert "Español" in titles and "Quick exit" in titles


def test_spanish_greeting_is_translated_and_offers_english(
    generator: LocalizedResponseGenerator,
) -> None:
    reply = generator.render("utter_greet", {"language": "es"}, "rest")
    assert "seguro" in reply["text"] and "safe" not in reply["text"]
    titles = [b["title"] for b in reply["buttons"]]
    assert "English" in titles and "Salida rápida" in titles
    assert all(b["payload"].startswith("/") for b in reply["buttons"])


def test_placeholders_are_filled_in_the_translation(generator: LocalizedResponseGenerator) -> None:
    english = generator.render("utter_language_changed", {"language": "en"}, "rest")["text"]
    spanish = generator.render("utter_language_changed", {"language": "es"}, "rest")["text"]
    assert english.endswith("in English.")
    assert "español" in spanish.lower() and "{" not in spanish


def test_retention_days_come_from_settings(
    generator: LocalizedResponseGenerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAVEN_RETENTION_DAYS", "45")  # not the default (30): really configured
    get_settings.cache_clear()
    try:
        english = generator.render("utter_about", {"language": "en"}, "rest")["text"]
        spanish = generator.render("utter_about", {"language": "es"}, "rest")["text"]
    finally:
        monkeypatch.delenv("HAVEN_RETENTION_DAYS")
        get_settings.cache_clear()
    assert "45 days" in english and "30" not in english
    assert "45 días" in spanish


@pytest.mark.parametrize(
    ("crisis_type", "topic_line"),
    [
        ("danger", "1-888-373-7888"),
        ("self_harm", "988"),
        ("domestic_violence", "1-800-799-7233"),
        ("child_abuse", "1-800-422-4453"),
        ("sexual_assault", "1-800-656-4673"),
    ],
)
@pytest.mark.parametrize("language", ["en", "es"])
def test_crisis_reply_puts_911_first(
    generator: LocalizedResponseGenerator, crisis_type: str, topic_line: str, language: str
) -> None:
    text = generator.render(
        "utter_crisis", {"language": language, "crisis_type": crisis_type}, "rest"
    )["text"]
    assert text.index("911") < text.index("1-888-373-7888") <= text.index(topic_line)
    assert "233733" in text


@pytest.mark.parametrize("language", ["en", "es"])
def test_an_injury_weapon_or_abduction_gets_911_and_only_the_essentials(
    generator: LocalizedResponseGenerator, language: str
) -> None:
    text = generator.render(
        "utter_crisis", {"language": language, "crisis_type": "emergency"}, "rest"
    )["text"]
    assert text.startswith(("Call 911 now", "Llama al 911 ahora"))
    assert len(text.splitlines()) == 2 and "1-888-373-7888" in text


def test_unknown_language_falls_back_to_english(generator: LocalizedResponseGenerator) -> None:
    reply = generator.render("utter_hotline", {"language": "xx"}, "rest")
    assert "National Human Trafficking Hotline" in reply["text"]


def test_button_payloads_keep_their_json(generator: LocalizedResponseGenerator) -> None:
    reply = generator.render("utter_choose_language", {"language": "es"}, "rest")
    assert '/choose_language{"language": "es"}' in {b["payload"] for b in reply["buttons"]}
