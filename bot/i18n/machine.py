"""Machine translation of Haven's own texts and of the user's words, with what must never
be translated kept as it is.

- ``to_language``: an English text Haven wrote (a reply with no catalog entry, a service
  description) into a conversation's language. Placeholders (``{need}``), phone numbers,
  URLs and e-mail addresses are cut out before translation and put back unchanged: only
  the words between them go through Argos. Each result is cached in memory and in the
  ``translation`` table, so one string is translated once per language, across restarts
  and processes. Only Haven's texts are stored there, never a user's words.
- ``to_pivot``: a user's message into English for the NLU model (memory only, never
  stored: it is the user's words).

Both return None when no package is installed or it fails; the caller falls back.
"""

from __future__ import annotations

import hashlib
import logging
import re
from functools import lru_cache

import sqlalchemy as sa

from bot.db.base import Base
from bot.db.engine import session_scope
from bot.i18n import argos
from bot.settings import get_settings

logger = logging.getLogger(__name__)

PIVOT = argos.PIVOT
# Never translated: {placeholders}, URLs, e-mail addresses, phone numbers and codes.
PROTECTED = re.compile(
    r"\{[A-Za-z_][A-Za-z0-9_]*\}"
    r"|https?://\S+|www\.\S+"
    r"|[\w.+-]+@[\w-]+\.[\w.]+"
    r"|\+?\d[\d\s().-]{1,}\d|\d+"
)
MAX_PIVOT_CHARS = 2000


class Translation(Base):
    """Haven's own English texts, machine-translated once per language."""

    __tablename__ = "translation"

    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    language = sa.Column(sa.String(16), nullable=False)
    source_hash = sa.Column(sa.String(64), nullable=False)  # sha256 of the English text
    source = sa.Column(sa.Text, nullable=False)
    text = sa.Column(sa.Text, nullable=False)
    engine = sa.Column(sa.String(120), nullable=False)  # the package pair and version
    __table_args__ = (sa.UniqueConstraint("language", "source_hash"),)


def _segments(text: str) -> list[tuple[str, bool]]:
    """``text`` as (part, protected) pieces, in order."""
    pieces, last = [], 0
    for match in PROTECTED.finditer(text):
        if match.start() > last:
            pieces.append((text[last : match.start()], False))
        pieces.append((match.group(), True))
        last = match.end()
    if last < len(text):
        pieces.append((text[last:], False))
    return pieces


def translate_protected(text: str, source: str, target: str) -> str | None:
    """Translate the words of ``text`` line by line, keeping every protected span as is."""
    out_lines = []
    for line in text.split("\n"):
        parts = []
        for part, protected in _segments(line):
            if protected or not any(ch.isalpha() for ch in part):
                parts.append(part)
                continue
            lead = part[: len(part) - len(part.lstrip())]
            trail = part[len(part.rstrip()) :]
            translated = argos.translate_text(part.strip(), source, target)
            if translated is None:
                return None
            parts.append(f"{lead}{translated.strip()}{trail}")
        out_lines.append("".join(parts))
    return "\n".join(out_lines)


def _engine_label(target: str) -> str:
    found = [p for p in argos.installed_packages() if (p.from_code, p.to_code) == (PIVOT, target)]
    return f"argos {PIVOT}->{target} {found[0].version}" if found else f"argos {PIVOT}->{target}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=8192)
def _cached(text: str, target: str, state: tuple) -> str | None:
    digest = _digest(text)
    stored = _load(target, digest, text)
    if stored is not None:
        return stored
    translated = translate_protected(text, PIVOT, target)
    if translated is not None:
        _store(target, digest, text, translated)
    return translated


def to_language(text: str, target: str) -> str | None:
    """Haven's English ``text`` in ``target`` by machine translation, or None."""
    if not text.strip() or target == PIVOT or not argos.can_translate(PIVOT, target):
        return None
    return _cached(text, target, argos.package_state())


def to_pivot(text: str, source: str) -> str | None:
    """A user's message in English for the NLU model (memory only), or None."""
    if not text.strip() or source == PIVOT or not argos.can_translate(source, PIVOT):
        return None
    return _pivot_cached(text[:MAX_PIVOT_CHARS], source, argos.package_state())


@lru_cache(maxsize=1024)
def _pivot_cached(text: str, source: str, state: tuple) -> str | None:
    return argos.translate_text(text, source, PIVOT)


def _load(language: str, digest: str, source: str) -> str | None:
    try:
        with session_scope(get_settings().database_url) as session:
            row = session.execute(
                sa.select(Translation.text, Translation.source).where(
                    Translation.language == language, Translation.source_hash == digest
                )
            ).first()
    except sa.exc.SQLAlchemyError:
        logger.warning("Translation cache unreadable; translating without it")
        return None
    return row.text if row is not None and row.source == source else None


def _store(language: str, digest: str, source: str, text: str) -> None:
    try:
        with session_scope(get_settings().database_url) as session:
            session.add(
                Translation(
                    language=language,
                    source_hash=digest,
                    source=source,
                    text=text,
                    engine=_engine_label(language),
                )
            )
    except sa.exc.IntegrityError:
        pass  # another process stored it first: the same text
    except sa.exc.SQLAlchemyError:
        logger.warning("Translation cache not writable; the translation is kept in memory")


def forget(language: str | None = None) -> int:
    """Drop stored machine translations (all, or one language's): after a package changes."""
    _cached.cache_clear()
    _pivot_cached.cache_clear()
    try:
        with session_scope(get_settings().database_url) as session:
            query = sa.delete(Translation)
            if language:
                query = query.where(Translation.language == language)
            return session.execute(query).rowcount or 0
    except sa.exc.SQLAlchemyError:
        return 0


def interpret(text: str, source: str, target: str) -> str | None:
    """A person's message (a user's or a case manager's) from ``source`` into ``target``,
    through English where neither is English; None when a package is missing or fails.
    Nothing is cached or stored: these are people's own words."""
    if not text.strip() or source == target:
        return None
    english = text if source == PIVOT else None
    if english is None:
        if not argos.can_translate(source, PIVOT):
            return None
        english = translate_protected(text[:MAX_PIVOT_CHARS], source, PIVOT)
    if english is None or target == PIVOT:
        return english
    if not argos.can_translate(PIVOT, target):
        return None
    return translate_protected(english, PIVOT, target)
