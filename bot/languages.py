"""The language registry: every language Haven knows, and what it has for each.

The registry is one data file, ``data/languages.yml``: per language its script, the words
a user types to ask for it, whether the NLU model has native examples, the review status
of its catalog and its "door" line (what to say when Haven cannot answer in it yet).
Names and direction come from Babel; whether a catalog exists is read from ``locales/``
and which translation packages are installed from ``var/argos`` (``bot.i18n.argos``).

How Haven answers in a language, best first:
1. a catalog (``locales/<code>``): replies from it; the model reads the user's words
   natively (English, Spanish) or through the English pivot when a package is installed;
2. Argos packages only: the user's words through the English pivot, replies machine-
   translated from English with a notice;
3. nothing yet: English replies with the door line in the user's own language.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from babel import Locale, UnknownLocaleError

from bot.i18n.text import fold

ROOT = Path(__file__).resolve().parent.parent
REGISTRY_FILE = ROOT / "data" / "languages.yml"
LOCALES_DIR = ROOT / "locales"
SOURCE_LANGUAGE = "en"  # the language responses are written in (domain.yml)
# Parse-data key of the user's own words when the model read their English translation.
ORIGINAL_TEXT = "haven_original_text"
# Parse-data keys the NLU components add to a user message (read back from the tracker by
# the staff console): the detected language, and the pivot's decision for the message.
DETECTION_KEY = "haven_language_detection"
PIVOT_KEY = "haven_pivot"
REVIEWED = "reviewed"


@dataclass(frozen=True)
class Language:
    """One language Haven knows of."""

    code: str  # ISO 639-1 (or 639-3 where there is none), also the catalog's folder name
    script: str  # Latin, Arabic, Cyrillic, Han, ... (detection reads the script first)
    native_nlu: bool  # trained NLU examples exist in data/nlu/<code>/
    names: tuple[str, ...] = ()  # words that, typed by a user, name this language
    words: frozenset[str] = frozenset()  # everyday words that tell a short message's language
    door: str = ""  # "I cannot answer in ... yet. Call ... ask for an interpreter. 911."
    door_review: str = ""
    catalog_review: str = ""  # review status of locales/<code>, when it has a catalog

    @property
    def native_name(self) -> str:
        return language_name_in_itself(self.code)

    @property
    def english_name(self) -> str:
        return language_name_in(self.code, SOURCE_LANGUAGE)

    @property
    def direction(self) -> str:
        """``rtl`` for right-to-left scripts (Arabic, Persian, Urdu...), else ``ltr``."""
        try:
            order = Locale.parse(self.code).character_order
        except (ValueError, UnknownLocaleError):
            order = "left-to-right"
        return "rtl" if order == "right-to-left" else "ltr"

    @property
    def has_catalog(self) -> bool:
        return self.code == SOURCE_LANGUAGE or self.code in catalog_codes()

    @property
    def reviewed(self) -> bool:
        """Reviewed replies: the source language, or a catalog signed off as reviewed."""
        return self.code == SOURCE_LANGUAGE or (
            self.has_catalog and self.catalog_review == REVIEWED
        )


def load_registry(path: Path = REGISTRY_FILE) -> dict[str, Language]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    registry = {}
    for code, entry in data.items():
        entry = entry or {}
        registry[str(code)] = Language(
            code=str(code),
            script=str(entry.get("script") or "Latin"),
            native_nlu=bool(entry.get("native_nlu")),
            names=tuple(dict.fromkeys(fold(str(n)) for n in entry.get("names") or ())),
            words=frozenset(fold(str(w)) for w in entry.get("words") or ()),
            door=str(entry.get("door") or ""),
            door_review=str(entry.get("door_review") or ""),
            catalog_review=str(entry.get("catalog_review") or ""),
        )
    return registry


@lru_cache(maxsize=1)
def catalog_codes() -> frozenset[str]:
    """Languages with a catalog in locales/ (read once per process)."""
    return frozenset(p.parent.parent.name for p in LOCALES_DIR.glob("*/LC_MESSAGES/haven.po"))


REGISTRY: dict[str, Language] = load_registry()

# The languages Haven answers in from its own files (native NLU or a catalog): the
# language menu's fixed entries and every catalog test's languages.
LANGUAGES: dict[str, Language] = {
    code: language
    for code, language in REGISTRY.items()
    if language.native_nlu or language.has_catalog
}


@lru_cache(maxsize=256)  # asked for every reply the renderer makes
def language_name_in_itself(code: str) -> str:
    """A language's name as its speakers write it mid-sentence ("español", "English")."""
    return language_name_in(code, code)


@lru_cache(maxsize=1024)
def language_name_in(code: str, display_language: str) -> str:
    """A language's name in another language ("Vietnamese", "vietnamita")."""
    try:
        name = Locale.parse(code).get_language_name(display_language)
    except (ValueError, UnknownLocaleError):
        name = None
    return name or code


def is_supported(code: str | None) -> bool:
    """A language a conversation can be in (answered by catalog, translation or door)."""
    return bool(code) and code in REGISTRY


def menu_languages() -> list[Language]:
    """The language menu: catalog and native languages, then those an installed package
    pair (to and from English) makes conversable."""
    from bot.i18n.argos import pairs

    installed = pairs()
    menu = list(LANGUAGES.values())
    menu += [
        language
        for code, language in REGISTRY.items()
        if code not in LANGUAGES
        and (code, SOURCE_LANGUAGE) in installed
        and (SOURCE_LANGUAGE, code) in installed
    ]
    return menu
