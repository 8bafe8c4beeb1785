"""The language registry: every language Haven speaks, and how (native NLU or translation)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from babel import Locale, UnknownLocaleError


@dataclass(frozen=True)
class Language:
    """One language Haven can converse in."""

    code: str  # ISO 639-1, also the gettext catalog name under locales/
    english_name: str
    native_name: str
    native_nlu: bool  # True: trained NLU examples exist in data/nlu/<code>/
    # Words that, typed by a user, name this language ("spanish", "español"...), accent-free.
    names: tuple[str, ...] = ()


LANGUAGES: dict[str, Language] = {
    "en": Language(
        code="en",
        english_name="English",
        native_name="English",
        native_nlu=True,
        names=("english", "ingles", "inglish", "engish", "englsh"),
    ),
    "es": Language(
        code="es",
        english_name="Spanish",
        native_name="Español",
        native_nlu=True,
        names=("spanish", "espanol", "espaniol", "espanish", "castellano", "spanis"),
    ),
}

SOURCE_LANGUAGE = "en"  # the language responses are written in (domain.yml)


@lru_cache(maxsize=64)  # asked for every reply the renderer makes
def language_name_in_itself(code: str) -> str:
    """A language's name as its speakers write it mid-sentence ("español", "English")."""
    try:
        return Locale.parse(code).get_language_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code


def is_supported(code: str | None) -> bool:
    return bool(code) and code in LANGUAGES
