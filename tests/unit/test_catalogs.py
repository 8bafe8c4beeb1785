"""Every response has a reviewed Spanish translation with the same placeholders and numbers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n.extract import extract_domain
from bot.languages import LANGUAGES, SOURCE_LANGUAGE

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
PHONE_OR_CODE = re.compile(r"\d[\d-]{2,}")  # 911, 233733, 1-888-373-7888; not "24/7"


def domain_strings() -> set[str]:
    with (ROOT / "domain.yml").open("rb") as handle:
        return {message for _, _, message, _ in extract_domain(handle, None, None, {})}


def catalog(language: str):
    with (ROOT / "locales" / language / "LC_MESSAGES" / "haven.po").open("rb") as handle:
        return read_po(handle, locale=language)


def test_template_lists_every_domain_string() -> None:
    with (ROOT / "locales" / "haven.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    missing = domain_strings() - template
    assert not missing, f"run `make catalogs`; not in locales/haven.pot: {sorted(missing)[:3]}"


@pytest.mark.parametrize("language", sorted(set(LANGUAGES) - {SOURCE_LANGUAGE}))
def test_every_response_is_translated(language: str) -> None:
    translated = {m.id: m for m in catalog(language) if m.id}
    with (ROOT / "locales" / "haven.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    for text in domain_strings() | template:
        message = translated.get(text)
        assert message is not None and message.string, f"{language} lacks: {text[:60]!r}"
        assert not message.fuzzy, f"{language} translation needs review (fuzzy): {text[:60]!r}"


@pytest.mark.parametrize("language", sorted(set(LANGUAGES) - {SOURCE_LANGUAGE}))
def test_translations_keep_placeholders_and_phone_numbers(language: str) -> None:
    for message in catalog(language):
        if not message.id or not message.string:
            continue
        assert sorted(PLACEHOLDER.findall(message.id)) == sorted(
            PLACEHOLDER.findall(message.string)
        ), message.id
        assert sorted(PHONE_OR_CODE.findall(message.id)) == sorted(
            PHONE_OR_CODE.findall(message.string)
        ), message.id
