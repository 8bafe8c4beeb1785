"""Retention of every kind of personal data (``bot/retention.py``) on real SQLite databases
(and once on PostgreSQL): each period's rule just before and just after its boundary,
open and recent referrals untouched, the console with wiped rows, ``haven purge``'s
report, and contact-key rotation through the real ``haven staff rotate-key``."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.fernet import Fernet, InvalidToken
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.db.engine import get_engine
from bot.db.migrate import upgrade
from bot.db.tracker_store import HavenTrackerStore
from bot.handoff import referrals, staff
from bot.handoff.models import AuditEntry, Referral, ReferralNote, StaffSession, utcnow
from bot.retention import purge_all, with_periods
from bot.settings import get_settings
from tests import postgres
from tests.unit.test_staff_console import Browser, Harness, harness  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
CONTACT = {"phone": "409 555 0143", "code_word": "heron"}
# A moment long ago (naive UTC, as the app database stores times): what a test dates T0
# is older than anything made during the test, which counts as recent.
T0 = utcnow().replace(microsecond=0) - dt.timedelta(days=1000)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture()
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated app database and an empty tracker store, both SQLite, in tmp_path."""
    url = f"sqlite:///{tmp_path / 'haven.db'}"
    monkeypatch.setenv("HAVEN_DATABASE_URL", url)
    monkeypatch.setenv("HAVEN_TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    monkeypatch.setenv("HAVEN_VAR_DIR", str(tmp_path / "var"))
    for name in ("HAVEN_CONTACT_KEYS", "HAVEN_RETENTION_DAYS", "HAVEN_REFERRAL_RETENTION_DAYS",
                 "HAVEN_AUDIT_RETENTION_DAYS", "HAVEN_STAFF_SESSION_MINUTES"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    upgrade(url)
    yield url
    get_engine(url).dispose()
    get_settings.cache_clear()


def new_referral(conversation: str, contact_method: str = "phone", **extra: Any) -> int:
    return referrals.create_referral(
        referrals.NewReferral(
            conversation_id=conversation, channel="webchat", language="en",
            needs=["topic:t_visa", "service:legal"], place="Beaumont, TX", age_group="adult",
            safety_flags=["disclosure"], contact_method=contact_method,
            contact=CONTACT if contact_method in ("phone", "text") else {},
            share_transcript=True, consent={"version": "2026-11", "fields": ["phone"]},
            **extra,
        )
    )  # fmt: skip


def case_manager(username: str = "ana", role: str = "case_manager") -> staff.Staff:
    return staff.add_staff(username, PASSWORD, username.title(), role)


def at(url: str, referral_id: int, moment: dt.datetime, **values: Any) -> None:
    """Every time of a referral, its notes and its audit rows set to ``moment``."""
    times = {"created_at": moment, "updated_at": moment, "consented_at": moment}
    with get_engine(url).begin() as connection:
        connection.execute(
            sa.update(Referral).where(Referral.id == referral_id).values({**times, **values})
        )
        connection.execute(
            sa.update(ReferralNote)
            .where(ReferralNote.referral_id == referral_id)
            .values(created_at=moment)
        )
        connection.execute(
            sa.update(AuditEntry).where(AuditEntry.referral_id == referral_id).values(at=moment)
        )


def row(url: str, referral_id: int) -> Any:
    with get_engine(url).connect() as connection:
        return connection.execute(sa.select(Referral).where(Referral.id == referral_id)).first()


def count(url: str, table: Any, *where: Any) -> int:
    with get_engine(url).connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(table).where(*where)
        ).scalar()


def actions(url: str, referral_id: int) -> list[str]:
    with get_engine(url).connect() as connection:
        return list(
            connection.execute(
                sa.select(AuditEntry.action)
                .where(AuditEntry.referral_id == referral_id)
                .order_by(AuditEntry.id)
            ).scalars()
        )


def store_conversation(sender: str, moment: dt.datetime) -> None:
    """A conversation whose events all happened at ``moment``."""
    stamp = moment.replace(tzinfo=dt.timezone.utc).timestamp()
    events = [ActionExecuted("action_listen", timestamp=stamp),
              UserUttered("i need a lawyer", timestamp=stamp)]  # fmt: skip
    store = HavenTrackerStore(url=get_settings().tracker_store_url)
    asyncio.run(store.save(DialogueStateTracker.from_events(sender, events)))
    store.engine.dispose()


def assert_wiped(found: Any) -> None:
    for column in ("conversation_ref", "conversation_enc", "contact_enc", "place", "age_group"):
        assert getattr(found, column) is None, column
    assert (found.needs, found.safety_flags, found.consent) == ([], [], {})
    assert found.share_transcript is False and found.live is False


def purge(moment: dt.datetime) -> Any:
    return purge_all(get_settings(), now=moment)


# --- referrals ----------------------------------------------------------------------------


def test_a_closed_referral_keeps_its_data_until_the_period_after_closing(db: str) -> None:
    ana = case_manager()
    number = new_referral("conv-closed")
    referrals.claim(number, ana)
    referrals.add_note(number, ana, "called twice, left no message")
    referrals.close(number, ana, "helped")
    at(db, number, T0, closed_at=T0, claimed_at=T0)
    period = dt.timedelta(days=90)

    report = purge(T0 + period - MINUTE)
    assert report.referrals_wiped == 0 and report.notes == 0
    kept = row(db, number)
    assert kept.contact_enc is not None and kept.place == "Beaumont, TX"
    assert count(db, ReferralNote, ReferralNote.referral_id == number) == 1

    report = purge(T0 + period + MINUTE)
    assert (report.referrals_wiped, report.notes, report.referrals_expired) == (1, 1, 0)
    wiped = row(db, number)
    assert_wiped(wiped)
    # What stays says only that a referral existed, and how it ended.
    assert (wiped.status, wiped.outcome, wiped.urgency) == ("closed", "helped", "normal")
    assert wiped.closed_at == T0 and wiped.created_at == T0
    assert count(db, ReferralNote, ReferralNote.referral_id == number) == 0
    assert actions(db, number)[-1] == "retention_wipe"
    assert purge(T0 + period + MINUTE).referrals_wiped == 0  # nothing left to wipe


def test_open_recent_referrals_are_untouched(db: str) -> None:
    ana = case_manager()
    waiting = new_referral("conv-waiting", "chat_later")
    claimed = new_referral("conv-claimed", "phone")
    referrals.claim(claimed, ana)
    referrals.add_note(claimed, ana, "will call after 6pm")
    store_conversation("conv-waiting", dt.datetime.utcnow())
    before = [row(db, waiting), row(db, claimed)]

    report = purge_all(get_settings())

    assert (report.referrals_wiped, report.referrals_expired, report.referrals_removed) == (0, 0, 0)
    assert [row(db, waiting), row(db, claimed)] == before
    assert count(db, ReferralNote) == 1


@pytest.mark.parametrize("activity", ["none", "note", "audited view", "claim"])
def test_an_open_referral_nobody_touched_for_the_period_expires(db: str, activity: str) -> None:
    ana = case_manager()
    number = new_referral("conv-idle", "phone")
    if activity == "note":
        referrals.add_note(number, ana, "no answer")
    elif activity == "claim":
        referrals.claim(number, ana)
    at(db, number, T0)
    later = T0 + dt.timedelta(days=40)  # the last time someone worked on it
    with get_engine(db).begin() as connection:
        if activity == "note":
            connection.execute(sa.update(ReferralNote).values(created_at=later))
        elif activity == "audited view":
            connection.execute(
                sa.insert(AuditEntry).values(
                    at=later, staff_id=ana.id, action="view_contact", referral_id=number, detail=""
                )
            )
        elif activity == "claim":
            connection.execute(sa.update(Referral).values(claimed_at=later, updated_at=later))
    last = later if activity != "none" else T0
    period = dt.timedelta(days=90)

    assert purge(last + period - MINUTE).referrals_expired == 0
    assert row(db, number).status in ("waiting", "claimed")
    assert row(db, number).contact_enc is not None

    report = purge(last + period + MINUTE)
    assert report.referrals_expired == 1 and report.notes == (activity == "note")
    expired = row(db, number)
    assert (expired.status, expired.outcome) == ("closed", referrals.EXPIRED)
    assert expired.closed_at == last + period + MINUTE
    assert_wiped(expired)
    assert actions(db, number)[-1] == "expired"
    assert referrals.open_referral_for("conv-idle") is None


def test_a_chat_referral_expires_when_its_conversation_was_purged(db: str) -> None:
    chat = new_referral("conv-chat", "chat_later")
    phone = new_referral("conv-phone", "phone")
    for number in (chat, phone):
        at(db, number, T0)
    store_conversation("conv-chat", T0)
    store_conversation("conv-phone", T0)
    days30 = dt.timedelta(days=30)

    report = purge(T0 + days30 - MINUTE)  # the conversations are still within their period
    assert (report.conversations, report.referrals_expired) == (0, 0)

    report = purge(T0 + days30 + MINUTE)
    assert report.conversations == 2 and report.referrals_expired == 1
    assert row(db, chat).outcome == referrals.EXPIRED and row(db, chat).contact_enc is None
    # Reached by phone: still useful without the conversation, until it idles out.
    assert row(db, phone).status == "waiting" and row(db, phone).contact_enc is not None
    assert "expired" in actions(db, chat) and "expired" not in actions(db, phone)


def test_a_new_chat_referral_is_never_expired_for_a_conversation_not_yet_saved(db: str) -> None:
    number = new_referral("conv-new", "chat_now")  # no event stored yet (Rasa saves later)
    assert purge_all(get_settings()).referrals_expired == 0
    assert row(db, number).status == "waiting"


def test_a_live_chat_is_not_expired_for_idleness_while_its_conversation_exists(db: str) -> None:
    ana = case_manager()
    number = new_referral("conv-live", "chat_now")
    referrals.claim(number, ana)
    referrals.set_live(number, ana, True)
    at(db, number, T0, claimed_at=T0)
    store_conversation("conv-live", T0 + dt.timedelta(days=80))  # the person still writes
    moment = T0 + dt.timedelta(days=91)

    assert purge(moment).referrals_expired == 0
    assert row(db, number).live is True and row(db, number).status == "claimed"

    HavenTrackerStore(url=get_settings().tracker_store_url).delete_conversation("conv-live")
    assert purge(moment).referrals_expired == 1
    assert row(db, number).live is False and row(db, number).outcome == referrals.EXPIRED


def test_unreadable_conversation_ids_are_counted_and_left_alone(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAVEN_CONTACT_KEYS", Fernet.generate_key().decode())
    get_settings.cache_clear()
    number = new_referral("conv-k", "chat_later")
    at(db, number, T0)
    monkeypatch.setenv("HAVEN_CONTACT_KEYS", Fernet.generate_key().decode())  # the key is lost
    get_settings.cache_clear()
    report = purge(T0 + dt.timedelta(days=31))
    assert (report.unreadable, report.referrals_expired) == (1, 0)
    assert row(db, number).status == "waiting"
    assert "could not be checked" in report.lines()[-1]


# --- audit log, closed records, staff sessions -----------------------------------------


def test_audit_rows_and_closed_records_go_after_the_audit_period(db: str) -> None:
    ana = case_manager()
    closed = new_referral("conv-old")
    referrals.claim(closed, ana)
    referrals.close(closed, ana, "no_contact")
    at(db, closed, T0, closed_at=T0, claimed_at=T0)
    open_one = new_referral("conv-open", "phone")
    at(db, open_one, T0)
    referrals.record(ana, "login")  # an audit row of its own (no referral)
    with get_engine(db).begin() as connection:
        connection.execute(sa.update(AuditEntry).where(AuditEntry.referral_id.is_(None))
                           .values(at=T0))  # fmt: skip
    referrals.record(ana, "logout")  # today: younger than any period
    year = dt.timedelta(days=365)
    settings = with_periods(get_settings(), referral_days=400)  # no expiry in the way

    report = purge_all(settings, now=T0 + year - MINUTE)
    assert (report.audit_entries, report.referrals_removed) == (0, 0)

    old_entries = count(db, AuditEntry, AuditEntry.at <= T0)
    assert old_entries >= 5  # 3 for the closed referral, 1 for the open one, the sign-in
    assert count(db, AuditEntry) == old_entries + 1  # and the sign-out
    report = purge_all(settings, now=T0 + year + MINUTE)
    assert report.referrals_removed == 1 and row(db, closed) is None
    assert report.audit_entries == old_entries and count(db, AuditEntry) == 1
    assert row(db, open_one) is not None  # an open referral is never removed by age alone


def test_ended_staff_sessions_are_deleted_at_once(db: str) -> None:
    ana = case_manager()
    live, _ = staff.open_session(ana.id)
    idle, _ = staff.open_session(ana.id)
    spent, _ = staff.open_session(ana.id)
    now = dt.datetime.utcnow()
    with get_engine(db).begin() as connection:
        rows = connection.execute(sa.select(StaffSession.token_hash)).scalars().all()
        hashes = {token: staff._token_hash(token) for token in (live, idle, spent)}
        assert set(rows) == set(hashes.values())
        connection.execute(
            sa.update(StaffSession)
            .where(StaffSession.token_hash == hashes[idle])
            .values(last_seen_at=now - dt.timedelta(minutes=31))
        )
        connection.execute(
            sa.update(StaffSession)
            .where(StaffSession.token_hash == hashes[spent])
            .values(expires_at=now - dt.timedelta(seconds=1))
        )
    assert purge_all(get_settings()).staff_sessions == 2
    assert count(db, StaffSession) == 1
    assert staff.resume_session(live) is not None


# --- on disk ------------------------------------------------------------------------------


def test_what_a_purge_deletes_is_left_in_neither_the_file_nor_its_log(
    db: str, tmp_path: Path
) -> None:
    ana = case_manager()
    number = new_referral("conv-disk")
    referrals.claim(number, ana)
    referrals.add_note(number, ana, "Spoke to her at the laundromat on Kirby")
    referrals.close(number, ana, "helped")
    at(db, number, T0, closed_at=T0, claimed_at=T0)
    files = [tmp_path / "haven.db", tmp_path / "haven.db-wal"]
    assert any(b"laundromat on Kirby" in f.read_bytes() for f in files)  # in the log for now

    purge(T0 + dt.timedelta(days=91))

    assert (tmp_path / "haven.db-wal").stat().st_size == 0  # checkpointed and truncated
    assert not any(b"laundromat on Kirby" in f.read_bytes() for f in files)


def test_every_sqlite_connection_overwrites_deleted_content() -> None:
    """``secure_delete`` is asked for explicitly: some SQLite builds have it on by default,
    others do not."""
    from bot.db.engine import _sqlite_pragmas

    class Recorder:
        executed: list[str] = []

        def cursor(self) -> Recorder:
            return self

        def execute(self, statement: str) -> None:
            self.executed.append(statement)

        def close(self) -> None:
            pass

    _sqlite_pragmas(Recorder(), None)
    assert "PRAGMA secure_delete=ON" in Recorder.executed


# --- the command and the console -------------------------------------------------------


def test_haven_purge_prints_counts_per_kind_and_takes_each_period(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import main

    ana = case_manager()
    number = new_referral("conv-cli")
    referrals.claim(number, ana)
    referrals.close(number, ana, "helped")
    old = dt.datetime.utcnow() - dt.timedelta(days=100)
    at(db, number, old, closed_at=old, claimed_at=old)
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        runner = CliRunner()
        kept = runner.invoke(main, ["purge", "--referral-days", "101", "--audit-days", "400"])
        wiped = runner.invoke(main, ["purge", "--days", "7"])
        refused = runner.invoke(main, ["purge", "--audit-days", "0"])
    finally:
        os.umask(umask)  # the command sets 077 for itself
    assert kept.exit_code == 0, kept.output
    assert "personal data removed from 0 referral(s) closed over 101 day(s) ago" in kept.output
    assert "older than 400 day(s)" in kept.output
    assert wiped.exit_code == 0, wiped.output
    lines = wiped.output.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "Conversations", "Referrals", "Audit log", "Staff sessions"
    ]  # fmt: skip
    assert "older than 7 day(s)" in lines[0]
    assert "personal data removed from 1 referral(s) closed over 90 day(s) ago" in lines[1]
    assert "409" not in wiped.output and "Beaumont" not in wiped.output
    assert refused.exit_code == 2 and "--audit-days" in refused.output
    assert row(db, number).contact_enc is None


def test_the_console_shows_expired_and_wiped_referrals(harness: Harness) -> None:  # noqa: F811
    ana = case_manager("ana")
    case_manager("sam", "supervisor")
    expired = new_referral("conv-console-idle", "chat_now")
    closed = new_referral("conv-console-closed", "phone")
    referrals.claim(closed, ana)
    referrals.add_note(closed, ana, "met at the clinic")
    referrals.close(closed, ana, "helped")
    long_ago = dt.datetime.utcnow() - dt.timedelta(days=200)
    at(harness.url, expired, long_ago)
    at(harness.url, closed, long_ago, closed_at=long_ago, claimed_at=long_ago)

    report = purge_all(get_settings())
    assert (report.referrals_expired, report.referrals_wiped) == (1, 1)

    for who in ("ana", "sam"):
        browser = Browser(harness).signed_in(who)
        queue = browser.get("/staff/?closed=1")
        assert queue.status_code == 200
        assert f"#{expired}" in queue.text and f"#{closed}" in queue.text
        assert "deleted their data" not in queue.text  # the person did not: retention did
        data = browser.get("/staff/queue.json?closed=1").json()["rows"]
        assert {r["id"]: r["deleted"] for r in data} == {expired: False, closed: False}
        page = browser.get(f"/staff/referrals/{expired}")
        assert page.status_code == 200 and "This referral expired" in page.text
        page = browser.get(f"/staff/referrals/{closed}")
        assert page.status_code == 200
        assert "removed after the retention period" in page.text and "Helped" in page.text
        for gone in ("Beaumont", "409 555", "heron", "met at the clinic", "Claim this referral<"):
            assert gone not in page.text, gone
        assert 'name="body"' not in page.text  # no note form on a wiped referral
    reply = browser.act(f"/staff/referrals/{closed}/notes", body="one more thing")
    assert reply.status_code == 409 and "personal data was removed" in reply.text
    assert count(harness.url, ReferralNote) == 0


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.mark.skipif(not postgres.available(), reason="PostgreSQL binaries not installed")
def test_the_referral_rules_on_postgresql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with postgres.postgres_server() as url:
        monkeypatch.setenv("HAVEN_DATABASE_URL", url)
        monkeypatch.setenv("HAVEN_TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
        monkeypatch.setenv("HAVEN_VAR_DIR", str(tmp_path / "var"))
        monkeypatch.delenv("HAVEN_CONTACT_KEYS", raising=False)
        get_settings.cache_clear()
        try:
            upgrade(url)
            ana = case_manager()
            closed = new_referral("conv-pg-closed")
            referrals.claim(closed, ana)
            referrals.add_note(closed, ana, "spoke on the phone")
            referrals.close(closed, ana, "referred_on")
            at(url, closed, T0, closed_at=T0, claimed_at=T0)
            idle = new_referral("conv-pg-idle")
            at(url, idle, T0)
            recent = new_referral("conv-pg-recent")
            report = purge(T0 + dt.timedelta(days=91))
            assert (report.referrals_wiped, report.referrals_expired, report.notes) == (1, 1, 1)
            assert_wiped(row(url, closed))
            assert_wiped(row(url, idle))
            assert row(url, recent).contact_enc is not None  # created today, not idle
            # Wiped rows are not wiped again (the JSON columns compare as empty).
            assert purge(T0 + dt.timedelta(days=91)).referrals_wiped == 0
            report = purge(T0 + dt.timedelta(days=91 + 366))
            assert report.referrals_removed == 2 and row(url, closed) is None
        finally:
            get_engine(url).dispose()
            get_settings.cache_clear()


# --- contact keys at rest -----------------------------------------------------------------


def test_rotating_the_contact_key_through_the_command(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HAVEN_CONTACT_KEYS=old → a referral; =new,old → `haven staff rotate-key` (a real
    process); =new → the details still decrypt, and the stored values no longer open with
    the old key alone."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("HAVEN_CONTACT_KEYS", old)
    get_settings.cache_clear()
    number = new_referral("conv-rotate")
    before = row(db, number)
    assert json.loads(Fernet(old.encode()).decrypt(before.contact_enc.encode())) == CONTACT

    env = {**os.environ, "HAVEN_CONTACT_KEYS": f"{new},{old}",
           "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "staff", "rotate-key"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Re-encrypted 1 referral(s)" in done.stdout

    after = row(db, number)
    for column in ("contact_enc", "conversation_enc"):
        token = getattr(after, column).encode()
        assert token != getattr(before, column).encode()
        with pytest.raises(InvalidToken):
            Fernet(old.encode()).decrypt(token)
        Fernet(new.encode()).decrypt(token)
    monkeypatch.setenv("HAVEN_CONTACT_KEYS", new)  # the old key is dropped
    get_settings.cache_clear()
    ana = case_manager()
    referrals.claim(number, ana)
    assert referrals.contact_details(number, ana) == CONTACT
    assert referrals.conversation_id(number, ana, None) == "conv-rotate"
