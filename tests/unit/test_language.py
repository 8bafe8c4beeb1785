"""Language detection per message and the sticky conversation language."""

from __future__ import annotations

import pytest

from bot.i18n.detect import detect_language, mentioned_language
from bot.languages import LANGUAGES
from bot.nlu.language import LanguageState, next_language_state


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("hi", "en"),
        ("hola", "es"),
        ("I'm in danger", "en"),
        ("estoy en peligro", "es"),
        ("mi patron tiene mi pasaporte", "es"),
        ("my boss took my passport", "en"),
        ("¿qué es la visa T?", "es"),
        ("necesito ayuda por favor", "es"),
        ("can you help me please", "en"),
    ],
)
def test_detects_english_and_spanish(text: str, language: str) -> None:
    assert detect_language(text).language == language


@pytest.mark.parametrize("text", ["", "👍", "no", "12345"])
def test_no_evidence_means_no_language(text: str) -> None:
    assert detect_language(text).language is None


def test_mentioned_language() -> None:
    names = {code: lang.names for code, lang in LANGUAGES.items()}
    mention = mentioned_language("en español por favor", names)
    assert (mention.language, mention.start, mention.end) == ("es", 3, 10)
    assert mentioned_language("English please", names).language == "en"
    assert mentioned_language("spanish or english?", names) is None


def _next(
    current: LanguageState, text: str = "", explicit: str | None = None, hint: str | None = None
):
    detection = detect_language(text)
    return next_language_state(
        current, explicit, detection.language, detection.confidence, detection.evidence, hint, "en"
    )


NEW = LanguageState(None, None)


def test_first_message_sets_language_even_with_one_word() -> None:
    assert _next(NEW, "hola") == LanguageState("es", "detected")
    assert _next(NEW, "hi") == LanguageState("en", "detected")


def test_no_evidence_uses_channel_hint_then_default() -> None:
    assert _next(NEW, "👍", hint="es") == LanguageState("es", "channel")
    assert _next(NEW, "👍") == LanguageState("en", "default")


def test_default_is_replaced_by_first_real_evidence() -> None:
    assert _next(LanguageState("en", "default"), "hola") == LanguageState("es", "detected")


def test_one_word_never_flips_an_established_language() -> None:
    spanish = LanguageState("es", "detected")
    assert _next(spanish, "ok") == spanish
    assert _next(spanish, "thanks") == spanish
    assert _next(spanish, "hello") == spanish


def test_clear_multi_word_message_flips_a_detected_language() -> None:
    spanish = LanguageState("es", "detected")
    assert _next(spanish, "can you help me with my passport please") == LanguageState(
        "en", "detected"
    )


def test_explicit_choice_wins_and_sticks() -> None:
    chosen = _next(LanguageState("es", "detected"), "english", explicit="en")
    assert chosen == LanguageState("en", "explicit")
    assert _next(chosen, "necesito ayuda con mi pasaporte por favor") == chosen


def test_unsupported_explicit_choice_is_ignored() -> None:
    assert _next(LanguageState("es", "detected"), explicit="xx") == LanguageState("es", "detected")
