"""Privacy at rest, on the real running stack: one whole conversation with made-up,
unmistakable texts (a rights question, a directory search with a place, a disclosure, then
a referral with a phone number and a code word, and a case manager's note), then a scan of
everything Haven wrote: every line of the stack's log, every column of every table of both
databases (as text and as bytes) and, after "delete my data", the raw database and
write-ahead-log files. Finally the retention purge, run on a copy of those databases at
future dates, removes conversations, referral data, notes, audit rows and records each at
the end of its own period.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.db.engine import get_engine
from bot.handoff import referrals
from bot.handoff.models import utcnow
from bot.retention import purge_all
from bot.settings import get_settings
from tests.conftest import RunningStack
from tests.integration.chat import payloads, say, texts
from tests.integration.test_handoff import (
    ADULT,
    TEXT_ME,
    Console,
    consent,
    long_sender,
    newest_referral,
)

pytestmark = pytest.mark.integration

# Made up for this test: none of them occurs anywhere else, so finding one means a leak.
RIGHTS = "can my employer keep my passport if i still owe him for the bus ticket from oaxaca"
SEARCH = "i need a food bank near galveston texas"
DISCLOSURE = (
    "my uncle makes me wash cars at his lot on telephone road for no pay and says i owe him "
    "for the trip"
)
PHONE = "409-555-0187"
CODE_WORD = "marigoldwren"
NOTE = "Reached her at the Bellaire clinic; follow up about the lease on Ferris street"
TEXTS = (RIGHTS, SEARCH, DISCLOSURE)


def sqlite_tables(path: Path) -> Iterator[tuple[str, list[str], list[tuple]]]:
    """Every table of a SQLite file: (name, columns, rows), read through its write-ahead
    log like any connection."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    connection.text_factory = bytes  # every text value as its stored bytes
    try:
        names = [
            n.decode()
            for (n,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for name in names:
            cursor = connection.execute(f'SELECT * FROM "{name}"')  # noqa: S608 (own names)
            columns = [c[0] for c in cursor.description]
            yield name, columns, cursor.fetchall()
    finally:
        connection.close()


def found_in(path: Path, needles: tuple[str, ...]) -> dict[str, set[str]]:
    """{needle: {"table.column", ...}} for each needle stored anywhere in the database, as
    text (case-insensitive, also in JSON) or inside bytes."""
    wanted = {needle: needle.lower().encode() for needle in needles}
    where: dict[str, set[str]] = {}
    for table, columns, rows in sqlite_tables(path):
        for values in rows:
            for column, value in zip(columns, values, strict=True):
                if value is None:
                    continue
                raw = value if isinstance(value, bytes) else str(value).encode()
                raw = raw.lower()
                for needle, pattern in wanted.items():
                    if pattern in raw:
                        where.setdefault(needle, set()).add(f"{table}.{column}")
    return where


def in_files(paths: list[Path], needles: tuple[str, ...]) -> dict[str, list[str]]:
    """Which raw files contain which needle (bytes, case-insensitive)."""
    where: dict[str, list[str]] = {}
    for path in paths:
        if not path.is_file():
            continue
        content = path.read_bytes().lower()
        for needle in needles:
            if needle.lower().encode() in content:
                where.setdefault(needle, []).append(path.name)
    return where


def empty_write_ahead_log(path: Path) -> None:
    """Checkpoint the database and truncate its -wal file (as the retention timer does),
    retrying while a process of the stack is reading."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        for _ in range(50):
            busy, frames, _done = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy == 0 and frames == 0:
                return
            time.sleep(0.2)
    finally:
        connection.close()
    raise AssertionError(f"{path.name}: the write-ahead log could not be emptied")


def snapshot(var_dir: Path, folder: Path) -> Path:
    """A consistent copy of the stack's databases and keys (SQLite's online backup)."""
    folder.mkdir(mode=0o700)
    for name in ("haven.db", "tracker.db"):
        source = sqlite3.connect(var_dir / name, timeout=30)
        target = sqlite3.connect(folder / name)
        with target:
            source.backup(target)
        source.close()
        target.close()
    for name in ("contact-key", "log-secret"):
        shutil.copy(var_dir / name, folder / name)
    return folder


def referral_row(database: Path, number: int) -> dict[str, Any] | None:
    with sqlite3.connect(database) as connection:
        connection.row_factory = sqlite3.Row
        found = connection.execute("SELECT * FROM referral WHERE id = ?", (number,)).fetchone()
    return dict(found) if found else None


def counted(database: Path, query: str, *args: Any) -> int:
    with sqlite3.connect(database) as connection:
        return connection.execute(query, args).fetchone()[0]


def answer(stack: RunningStack, sender: str, text: str) -> list[dict]:
    """Say ``text``; if Haven asks whether the person is in danger now, say no."""
    replies = say(stack.rasa_url, sender, text)
    if "/deny" in payloads(replies) and "danger" in texts(replies).lower():
        replies = say(stack.rasa_url, sender, "/deny")
    return replies


def test_nothing_personal_at_rest_and_each_kind_goes_after_its_period(
    stack: RunningStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = long_sender()
    # --- one whole conversation ---------------------------------------------------------
    say(stack.rasa_url, sender, "hi")
    say(stack.rasa_url, sender, "/affirm")  # safe to chat
    assert texts(answer(stack, sender, RIGHTS))
    assert texts(answer(stack, sender, SEARCH))
    assert texts(answer(stack, sender, DISCLOSURE))
    consent(stack, sender, TEXT_ME, PHONE, "/skip", CODE_WORD, ADULT, "Galveston", "/deny")
    sent = texts(say(stack.rasa_url, sender, "/affirm"))
    referral = newest_referral(stack)
    number = referral["id"]
    assert f"request number is {number}" in sent and referral["place"] == "Galveston"
    casey = Console(stack, "casey")
    assert casey.act(number, "claim")[0] == 303
    page = casey.refresh_csrf(f"/referrals/{number}")
    assert PHONE in page and CODE_WORD in page  # decrypted for the claimant only
    assert casey.act(number, "notes", body=NOTE)[0] == 303
    assert casey.act(number, "close", outcome="helped")[0] == 303

    # --- the log: none of it, nor the conversation id --------------------------------------
    secrets_ = (*TEXTS, PHONE, PHONE.replace("-", ""), CODE_WORD, NOTE, sender)
    # The stack's retention timer runs the whole purge (bot.retention), counts only. Its
    # first run starts once the stack is up and may still be going on.
    timer = re.compile(r"retention: removed \d+ event.*referrals: \d+ wiped, \d+ expired")
    deadline = time.monotonic() + 60
    while True:
        log = (stack.var_dir / "stack.log").read_text(errors="replace").lower()
        if timer.search(log) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert timer.search(log), [line for line in log.splitlines() if "retention" in line]
    for number_, line in enumerate(log.splitlines(), 1):
        leaked = [s for s in secrets_ if s.lower() in line]
        assert not leaked, f"stack.log line {number_} holds {leaked}"

    # --- the app database: nothing in clear but the staff's note, in its own table ------
    app = found_in(stack.var_dir / "haven.db", secrets_)
    assert app == {NOTE: {"referral_note.body"}}, app
    row = referral_row(stack.var_dir / "haven.db", number)
    assert row["contact_enc"] and row["conversation_enc"]  # encrypted, so not found above

    # --- the tracker store: the conversation, by design, and only in `events` ------------
    tracker = found_in(stack.tracker_db, secrets_)
    for needle in (*TEXTS, PHONE, CODE_WORD, sender):
        assert tracker.get(needle) and {p.split(".")[0] for p in tracker[needle]} == {"events"}
    assert NOTE not in tracker

    copy = snapshot(stack.var_dir, tmp_path / "copy")  # for the purge below

    # --- "delete my data": gone from every table of both databases, and from the files ----
    assert "/affirm" in payloads(say(stack.rasa_url, sender, "delete my data"))
    assert "deleted" in texts(say(stack.rasa_url, sender, "/affirm")).lower()
    time.sleep(1.0)  # the request has ended; Rasa would have written the events back by now
    needles = (*TEXTS, PHONE, CODE_WORD, NOTE, sender)
    assert found_in(stack.var_dir / "haven.db", needles) == {}
    assert found_in(stack.tracker_db, needles) == {}
    wiped = referral_row(stack.var_dir / "haven.db", number)
    assert wiped["contact_enc"] is None and wiped["place"] is None
    assert wiped["outcome"] == "deleted_by_user"
    for name in ("haven.db", "tracker.db"):
        empty_write_ahead_log(stack.var_dir / name)
    files = [p for p in stack.var_dir.rglob("*") if p.name != "stack.log"]
    assert any(p.name == "tracker.db-wal" for p in files)  # the log really is in WAL mode
    assert in_files(files, needles) == {}  # deleted rows were overwritten, not left behind

    # --- retention, on the copy taken before the deletion, at future dates ----------------
    monkeypatch.setenv("HAVEN_VAR_DIR", str(copy))
    for name in ("HAVEN_DATABASE_URL", "HAVEN_TRACKER_STORE_URL", "HAVEN_CONTACT_KEYS",
                 "HAVEN_RETENTION_DAYS", "HAVEN_REFERRAL_RETENTION_DAYS",
                 "HAVEN_AUDIT_RETENTION_DAYS"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    database, events = copy / "haven.db", copy / "tracker.db"
    audit_query = "SELECT COUNT(*) FROM audit_log WHERE referral_id = ?"
    note_query = "SELECT COUNT(*) FROM referral_note WHERE referral_id = ?"
    today = utcnow()
    try:
        assert counted(database, note_query, number) == 1
        assert counted(events, "SELECT COUNT(*) FROM events WHERE sender_id = ?", sender) > 0

        # 31 days on: the conversation is gone; the closed referral keeps its data (90 days).
        report = purge_all(settings, now=today + dt.timedelta(days=31))
        assert report.events > 0 and report.staff_sessions >= 1
        assert counted(events, "SELECT COUNT(*) FROM events WHERE sender_id = ?", sender) == 0
        assert referral_row(database, number)["contact_enc"] is not None
        assert counted(database, note_query, number) == 1

        # 91 days on: its personal data and the note are gone; outcome and audit stay.
        report = purge_all(settings, now=today + dt.timedelta(days=91))
        assert report.referrals_wiped >= 1 and report.notes >= 1
        kept = referral_row(database, number)
        for column in ("conversation_ref", "conversation_enc", "contact_enc", "place",
                       "age_group"):  # fmt: skip
            assert kept[column] is None, column
        assert (kept["needs"], kept["safety_flags"], kept["consent"]) == ("[]", "[]", "{}")
        assert (kept["status"], kept["outcome"]) == ("closed", "helped")
        assert counted(database, note_query, number) == 0
        assert counted(database, audit_query, number) >= 5  # created, claim, view, note, close
        view = referrals.get_referral(number, url=settings.database_url)
        assert view.personal_data_removed and not view.conversation_deleted

        # 366 days on: the audit rows and the referral's record are gone too.
        report = purge_all(settings, now=today + dt.timedelta(days=366))
        assert report.audit_entries >= 5 and report.referrals_removed >= 1
        assert referral_row(database, number) is None
        assert counted(database, audit_query, number) == 0

        # The purge's own deletes left nothing readable in the copy's files either.
        copied = [p for p in copy.iterdir() if p.suffix in (".db", ".db-wal")]
        assert in_files(copied, needles) == {}
        assert found_in(events, needles) == {} and found_in(database, needles) == {}
    finally:
        get_engine(settings.database_url).dispose()
        get_settings.cache_clear()
