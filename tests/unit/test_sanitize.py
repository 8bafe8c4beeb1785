"""Typed /intent text never becomes an intent; other bad input is made safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.safety.sanitize import (
    button_payloads,
    canonical_payload,
    exceeds_raw_limit,
    sanitize_text,
    with_channel_flags,
)

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = button_payloads(ROOT / "domain.yml")


def test_domain_button_payloads_are_allowed() -> None:
    assert "/affirm" in ALLOWED
    assert canonical_payload('/choose_language{"language": "es"}') in ALLOWED


@pytest.mark.parametrize(
    "typed",
    [
        '/EXTERNAL_anything{"x": 1}',
        "/EXTERNAL_staff_message",
        "/session_start",
        "/restart",
        '/choose_language{"language": "xx"}',
        "/crisis",
        "  /greet",
        "//affirm{}",
        '/nlu_fallback{"a":"b"}',
    ],
)
def test_typed_intent_syntax_is_plain_text(typed: str) -> None:
    result = sanitize_text(typed, ALLOWED, 2000)
    assert not result.is_payload
    assert not result.text.lstrip().startswith("/")


def test_button_payload_passes_even_with_other_json_spacing() -> None:
    result = sanitize_text('/choose_language{"language":"es"}', ALLOWED, 2000)
    assert result.is_payload
    assert result.text == '/choose_language{"language":"es"}'


def test_slash_command_becomes_words() -> None:
    help_button = sanitize_text("/help", ALLOWED, 2000)  # a real menu button payload
    assert help_button.is_payload and help_button.text == "/help"
    assert sanitize_text("/menu please", ALLOWED, 2000).text == "menu please"


def test_long_message_is_cut_and_flagged() -> None:
    result = sanitize_text("a" * 20_000, ALLOWED, 2000)
    assert result.truncated and len(result.text) == 2000 and result.original_length == 20_000


@pytest.mark.parametrize("raw", [None, 42, ["hi"], {"text": "hi"}])
def test_non_text_becomes_empty(raw: object) -> None:
    assert sanitize_text(raw, ALLOWED, 2000).text == ""


def test_control_and_bidi_override_characters_are_removed() -> None:
    result = sanitize_text("hi\x00\x07 there\u202e\u200b", ALLOWED, 2000)
    assert result.text == "hi there"


def test_right_to_left_text_and_emoji_sequences_survive() -> None:
    arabic = "مرحبا، أحتاج مساعدة"
    family = "👨\u200d👩\u200d👧"
    assert sanitize_text(arabic, ALLOWED, 2000).text == arabic
    assert sanitize_text(family, ALLOWED, 2000).text == family


def test_command_shaped_text_is_flagged_and_words_are_not() -> None:
    assert sanitize_text('/EXTERNAL_anything{"x": 1}', ALLOWED, 2000).rejected_command
    assert sanitize_text("/session_start", ALLOWED, 2000).rejected_command
    assert not sanitize_text("/menu please", ALLOWED, 2000).rejected_command
    assert not sanitize_text("hi there", ALLOWED, 2000).rejected_command


def test_channel_flags_overwrite_what_a_client_sent() -> None:
    clean = sanitize_text("/EXTERNAL_x", ALLOWED, 2000)
    metadata = with_channel_flags({"haven": {"rejected_command": False}, "language": "es"}, clean)
    assert metadata == {"haven": {"rejected_command": True, "truncated": False}, "language": "es"}


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "raw",
    ["/ " * 800_000, "/" * 2_000_000, "/\t/\n" * 500_000, "\x00/" * 1_000_000, "a" * 3_000_000],
)
def test_megabytes_of_slashes_or_text_take_bounded_work(raw: str) -> None:
    """Before: a quadratic loop over leading slashes stalled Rasa's event loop for ~37 s."""
    for _ in range(20):
        result = sanitize_text(raw, ALLOWED, 2000)
    assert result.truncated and len(result.text) <= 2000
    assert not result.text.startswith("/")


def test_payload_nested_thousands_deep_is_text_not_a_crash() -> None:
    deep = '/greet{"a": ' + "[" * 1500 + "]" * 1500 + "}"
    result = sanitize_text(deep, ALLOWED, 4000)
    assert not result.is_payload and not result.text.startswith("/")
    assert canonical_payload(deep) is None


def test_text_far_over_the_limit_is_refused_unread() -> None:
    assert exceeds_raw_limit("a" * 8001, 2000)
    assert not exceeds_raw_limit("a" * 8000, 2000)
    assert not exceeds_raw_limit(None, 2000)
