"""The language registry (data/languages.yml) and detection across scripts."""

from __future__ import annotations

import pytest

from bot.i18n.detect import detect_language, dominant_script
from bot.languages import LANGUAGES, REGISTRY, SOURCE_LANGUAGE, load_registry

HOTLINE = "1-888-373-7888"


def test_every_language_parses_and_has_a_door_or_a_catalog() -> None:
    assert len(REGISTRY) >= 30
    for code, language in REGISTRY.items():
        assert language.english_name != code, f"Babel does not know {code}"
        if code == SOURCE_LANGUAGE:
            continue
        assert language.door or language.has_catalog, code
        if language.door:
            assert HOTLINE in language.door and "911" in language.door, code
            assert language.door_review, f"{code}: say who reviewed the door line"


def test_catalog_languages_say_their_review_status() -> None:
    assert set(LANGUAGES) >= {"en", "es", "fr", "pt", "ar", "ht"}
    for code, language in LANGUAGES.items():
        if code != SOURCE_LANGUAGE:
            assert language.catalog_review, f"{code}: catalog review status missing"
    assert REGISTRY["es"].reviewed and not REGISTRY["fr"].reviewed


def test_direction_comes_from_babel() -> None:
    assert {c for c, lang in REGISTRY.items() if lang.direction == "rtl"} >= {"ar", "fa", "ur"}
    assert REGISTRY["es"].direction == "ltr"


def test_a_registry_entry_may_leave_everything_to_defaults(tmp_path) -> None:
    path = tmp_path / "languages.yml"
    path.write_text("xx:\n")
    assert load_registry(path)["xx"].script == "Latin"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("مرحبا", "ar"),  # one word of an unambiguous script
        ("سلام، من به کمک نیاز دارم", "fa"),  # Persian letters
        ("Привет", "ru"),
        ("дякую, мені потрібна допомога", "uk"),  # Ukrainian letters
        ("你好", "zh"),
        ("こんにちは、助けてください", "ja"),
        ("안녕하세요", "ko"),
        ("สวัสดี", "th"),
        ("ሰላም", "am"),
        ("xin chào", "vi"),  # Vietnamese tone marks
        ("Bonjour, mon patron a pris mon passeport", "fr"),
        ("meu patrão pegou meu passaporte", "pt"),
        ("mwen bezwen ed, tanpri", "ht"),
        ("hello i need help", "en"),
        ("hola necesito ayuda", "es"),
        ("q onda", "es"),
    ],
)
def test_detection(text: str, language: str) -> None:
    assert detect_language(text).language == language


@pytest.mark.parametrize("text", ["Houston", "77002", "el paso tx", "bus pass", "u visa"])
def test_places_numbers_and_loanwords_are_not_a_new_language(text: str) -> None:
    assert detect_language(text).language in (None, "en", "es")


def test_non_latin_text_is_never_no_text() -> None:
    for text in ("ሰላም", "שלום", "ជំរាបសួរ", "မင်္ဂလာပါ"):
        assert dominant_script(text) is not None
