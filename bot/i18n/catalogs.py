"""Human-reviewed gettext catalogs (``locales/<lang>/LC_MESSAGES/haven.po``) and lookups.

Responses are written once, in English, in ``domain.yml``; the English text is the msgid.
``make catalogs`` extracts, updates and compiles; ``load_catalogs`` also compiles any
``.po`` that is newer than its ``.mo``, so an edited translation is never served stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

DOMAIN = "haven"


def compile_catalogs(locales_dir: Path, force: bool = False) -> list[Path]:
    """Compile each ``<lang>/LC_MESSAGES/haven.po`` whose ``.mo`` is missing or older."""
    compiled = []
    for po_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo_path = po_path.with_suffix(".mo")
        if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=po_path.parent.parent.name)
        tmp_path = mo_path.with_suffix(".mo.tmp")
        with tmp_path.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        tmp_path.replace(mo_path)
        compiled.append(mo_path)
    return compiled


@dataclass(frozen=True)
class Catalogs:
    """The compiled catalogs of every language that has one."""

    translations: dict[str, Translations]

    def lookup(self, text: str, language: str) -> str | None:
        """The reviewed translation of ``text``, or None when the catalog lacks it."""
        catalog = self.translations.get(language)
        if catalog is None or not text:
            return None
        translated = catalog._catalog.get(text)  # noqa: SLF001 - gettext keeps no public lookup
        return translated if isinstance(translated, str) and translated else None

    def translate(self, text: str, language: str) -> str:
        """``text`` in ``language`` if reviewed, else unchanged (English)."""
        return self.lookup(text, language) or text


@lru_cache(maxsize=4)
def load_catalogs(locales_dir: Path) -> Catalogs:
    """Compile stale catalogs, then load them all (cached per directory)."""
    compile_catalogs(locales_dir)
    translations = {}
    for mo_path in sorted(locales_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.mo")):
        language = mo_path.parent.parent.name
        loaded = Translations.load(str(locales_dir), [language], domain=DOMAIN)
        if not isinstance(loaded, NullTranslations) or isinstance(loaded, Translations):
            translations[language] = loaded
    return Catalogs(translations=translations)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark a Python string for extraction into the catalog; translate it at use time."""
    return message
