"""A conversation as a case manager reads it: read from the tracker store's ``events`` table.

The console polls for new messages after an event id (the table's autoincrement key), so
reading is one indexed query whatever the conversation's length. A user's message is
shown as written, with a version in the staff member's language when it is another
(``bot.i18n.machine.interpret``, never stored), and marked when the danger model flagged
it. Staff messages carry their original and the language they were written in.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from bot.db.engine import get_engine
from bot.i18n.machine import interpret
from bot.languages import DETECTION_KEY, PIVOT_KEY
from bot.settings import get_settings

EXTERNAL_PREFIX = "EXTERNAL: "
FLAGGED_INTENTS = {
    "crisis": "crisis",
    "danger_check": "possible_danger",
    "disclosure": "disclosure",
}
STAFF_KEY = "haven_staff"  # bot-event metadata of a staff member's message
STAFF_ORIGINAL_KEY = "haven_original"
STAFF_LANGUAGE_KEY = "haven_source_language"
MAX_EVENTS = 500
CONFIDENT = 0.9  # a detection this sure names a message's language over the conversation's

_events = sa.Table(
    "events",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("type_name", sa.String(255)),
    sa.Column("timestamp", sa.Float),
    sa.Column("data", sa.Text),
)


@dataclass(frozen=True)
class Line:
    """One message of the conversation, as the console shows it."""

    id: int
    at: float
    who: str  # "user", "bot" or "staff"
    text: str  # as written (escaped by the template, never marked safe)
    translated: str | None = None  # in the reader's language, when it differs
    language: str | None = None  # what ``text`` is written in, when known
    flag: str | None = None  # crisis, possible_danger, disclosure
    staff_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def epoch(moment: dt.datetime) -> float:
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


def read_lines(
    conversation: str,
    after_id: int = 0,
    since: float | None = None,
    reader_language: str = "en",
    conversation_language: str = "en",
    url: str | None = None,
) -> list[Line]:
    """The conversation's messages after event ``after_id`` (and after ``since``, epoch
    seconds, when the user did not agree to share what came before the referral)."""
    engine = get_engine(url or get_settings().tracker_store_url)
    query = (
        sa.select(_events.c.id, _events.c.type_name, _events.c.timestamp, _events.c.data)
        .where(
            _events.c.sender_id == conversation,
            _events.c.id > after_id,
            _events.c.type_name.in_(("user", "bot")),
        )
        .order_by(_events.c.id)
        .limit(MAX_EVENTS)
    )
    if since is not None:
        query = query.where(_events.c.timestamp >= since)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    lines = []
    for row in rows:
        line = _line(row, reader_language, conversation_language)
        if line is not None:
            lines.append(line)
    return lines


def last_event_id(conversation: str, url: str | None = None) -> int:
    engine = get_engine(url or get_settings().tracker_store_url)
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(sa.func.max(_events.c.id)).where(_events.c.sender_id == conversation)
        ).scalar()
    return int(found or 0)


def _message_language(parse: dict[str, Any], spoken: str) -> str:
    """The pivot's decision when the message was translated for the model, else a confident
    detection, else the conversation's language."""
    pivot = parse.get(PIVOT_KEY) or {}
    if isinstance(pivot, dict) and pivot.get("language"):
        return str(pivot["language"])
    detection = parse.get(DETECTION_KEY) or {}
    if isinstance(detection, dict) and (detection.get("confidence") or 0) >= CONFIDENT:
        return str(detection.get("language") or spoken)
    return spoken


def _line(row: Any, reader: str, spoken: str) -> Line | None:
    try:
        event = json.loads(row.data or "{}")
    except ValueError:
        return None
    text = event.get("text") or ""
    if row.type_name == "user":
        if not text or text.startswith(EXTERNAL_PREFIX):
            return None  # a staff member joining or leaving: not something the user wrote
        parse = event.get("parse_data") or {}
        intent = (parse.get("intent") or {}).get("name")
        language = _message_language(parse, spoken)
        if text.startswith("/"):
            return Line(row.id, row.timestamp, "user", text, flag=None, language=None)
        translated = interpret(text, language, reader) if language != reader else None
        return Line(
            row.id, row.timestamp, "user", text, translated, language,
            FLAGGED_INTENTS.get(intent or ""),
        )  # fmt: skip
    metadata = event.get("metadata") or {}
    if metadata.get(STAFF_KEY):
        original = metadata.get(STAFF_ORIGINAL_KEY) or text
        return Line(
            row.id, row.timestamp, "staff", original,
            translated=text if text != original else None,
            language=metadata.get(STAFF_LANGUAGE_KEY),
            staff_name=str(metadata.get(STAFF_KEY)),
        )  # fmt: skip
    if not text:
        return None
    return Line(row.id, row.timestamp, "bot", text, language=spoken)
