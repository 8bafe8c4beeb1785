"""Faults a running Haven must survive without losing a user's message or a staff reply.

One cluster of Haven's real processes for the whole module (tests/cluster.py): a Rasa
server, a bot service (the custom actions), the web process, PostgreSQL for both databases
(conversations in ``tracker``, the app database in ``haven``), the tiny Argos packages
installed, Telegram in webhook mode against the fake Bot API server. Each test breaks one
thing for real (kills a process, stops PostgreSQL, corrupts a package, makes Telegram
fail), checks what the user and the staff see, and puts it back. Timings are printed
(``pytest -s``) for docs/operating.md ("Faults").
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from bot.channels.telegram import callback_data
from bot.languages import REGISTRY
from bot.nlg.unavailable import unavailable_text
from tests import postgres
from tests.cluster import Cluster
from tests.conftest import (
    ROOT,
    STAFF_PASSWORD,
    TELEGRAM_SECRET,
    TEST_TOKEN,
    install_test_packages,
)
from tests.fake_telegram import FakeTelegram, FakeTelegramServer
from tests.integration.chat import new_sender, push_bot_message, say, texts, tracker
from tests.integration.test_handoff import CHAT_LATER, Console
from tests.integration.test_telegram import (
    callback_update,
    message_update,
    new_chat,
    post_update,
    sent_texts,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not postgres.available(), reason="PostgreSQL (initdb, pg_ctl) is needed (make services)"
    ),
]

NOTICE = "ⓘ"  # the machine-translation notice
GERMAN = ("translate-de_en.argosmodel", "translate-en_de.argosmodel")


@dataclass
class Faults:
    """The cluster and what the tests break."""

    cluster: Cluster
    postgres: postgres.PostgresServer
    telegram: FakeTelegram
    app_url: str
    packages: Path  # the built .argosmodel files

    @property
    def rasa(self) -> str:
        return self.cluster.processes["rasa"].url

    @property
    def web(self) -> str:
        return self.cluster.processes["web"].url

    @property
    def stack(self) -> SimpleNamespace:
        """What the shared helpers (test_handoff, test_telegram) read of a stack."""
        return SimpleNamespace(rasa_url=self.rasa, web_url=self.web, token=TEST_TOKEN)

    def newest_referral(self) -> int:
        engine = sa.create_engine(self.app_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                return connection.execute(sa.text("SELECT max(id) FROM referral")).scalar_one()
        finally:
            engine.dispose()

    def admin(self, *statements: str) -> None:
        engine = sa.create_engine(self.postgres.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                for statement in statements:
                    connection.execute(sa.text(statement))
        finally:
            engine.dispose()


def _model() -> Path:
    from bot.settings import get_settings
    from bot.training import model_path

    model = model_path(get_settings())
    assert model.exists(), "train first (make test does)"
    return model


def _prepare(cluster: Cluster) -> None:
    """Migrate and seed the app database, compile the catalogs and add a case manager (as
    ``haven staff add`` does), in one process."""
    script = (
        "import sys; from bot.cli import _prepare_database, main; "
        "from bot.settings import get_settings; from bot.i18n.catalogs import compile_catalogs; "
        "s = get_settings(); _prepare_database(s); compile_catalogs(s.locales_dir); "
        "main(sys.argv[1:], standalone_mode=False)"
    )
    subprocess.run(
        [sys.executable, "-c", script, "staff", "add", "casey", "--name", "Casey",
         "--role", "case_manager", "--language", "en", "--password-stdin"],
        input=STAFF_PASSWORD + "\n", text=True, cwd=ROOT, env=cluster.env, check=True,
        capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    var_dir = tmp_path_factory.mktemp("faults-var")
    packages = tmp_path_factory.mktemp("faults-argos")
    with (
        ThreadPoolExecutor(max_workers=2) as pool,
        FakeTelegramServer() as telegram,
    ):
        installed = pool.submit(install_test_packages, var_dir, packages)
        with postgres.postgres_instance() as server:
            app_url, tracker_url = postgres.create_databases(server.url, "haven", "tracker")
            cluster = Cluster(
                var_dir,
                {
                    "HAVEN_DATABASE_URL": app_url,
                    "HAVEN_TRACKER_STORE_URL": tracker_url,
                    "HAVEN_STAFF_HOURS": "always",
                    "HAVEN_QUICK_EXIT_URL": "about:blank",
                    "TELEGRAM_TOKEN": telegram.token,
                    "TELEGRAM_API_URL": telegram.base_url,
                    "TELEGRAM_WEBHOOK_URL": "https://haven.example/webhooks/telegram/webhook",
                    "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                },
            )
            try:
                actions = cluster.actions("actions")
                rasa = cluster.rasa("rasa", _model(), actions.url + "/webhook")
                cluster.web("web", rasa.url)
                # The Rasa server loads its model (the longest wait) while the rest is set up.
                rasa_up = pool.submit(cluster.start, "rasa")
                _prepare(cluster)
                installed.result()
                cluster.start("actions")
                cluster.start("web")
                rasa_up.result()
                yield Faults(cluster, server, telegram, app_url, packages)
            finally:
                cluster.stop_all()


def _user_texts(faults: Faults, sender: str) -> list[str]:
    events = tracker(faults.rasa, TEST_TOKEN, sender)["events"]
    return [e.get("text") or "" for e in events if e["event"] == "user"]


def _bot_events(faults: Faults, sender: str) -> list[dict]:
    return [e for e in tracker(faults.rasa, TEST_TOKEN, sender)["events"] if e["event"] == "bot"]


# --- 1. the bot service (custom actions) down -----------------------------------------------


def test_the_bot_service_down_gets_a_static_reply_and_loses_no_message(faults: Faults) -> None:
    english, spanish = new_sender("actions-down"), new_sender("actions-down-es")
    assert "T visa" in texts(say(faults.rasa, english, "what is a T visa"))
    say(faults.rasa, spanish, "hola, necesito ayuda")
    faults.cluster.kill("actions")
    try:
        started = time.monotonic()
        reply = texts(say(faults.rasa, english, "can they take my passport"))
        waited = time.monotonic() - started
        # The static reply, whole: try again, the hotline, 911 (not silence, not a 500).
        assert reply == unavailable_text("en")
        assert "try again" in reply and "1-888-373-7888" in reply and "911" in reply
        # In the conversation's language, from its catalog.
        spanish_reply = texts(say(faults.rasa, spanish, "¿qué es la visa T?"))
        assert spanish_reply == unavailable_text("es") and "Inténtalo de nuevo" in spanish_reply
        # Crisis replies never depend on the bot service.
        crisis = texts(say(faults.rasa, english, "he is outside my door with a knife"))
        assert "911" in crisis and "try again" not in crisis
    finally:
        restarted = time.monotonic()
        faults.cluster.start("actions")
        back_after = time.monotonic() - restarted
    # Nothing lost: the messages are stored, and the next one is answered normally.
    after = texts(say(faults.rasa, english, "can they take my passport"))
    assert "passport" in after.lower() and "try again" not in after
    assert _user_texts(faults, english) == [
        "what is a T visa",
        "can they take my passport",
        "he is outside my door with a knife",
        "can they take my passport",
    ]
    assert "¿qué es la visa T?" in _user_texts(faults, spanish)
    marked = [
        e for e in _bot_events(faults, english) if e["metadata"].get("haven_action_unavailable")
    ]
    assert len(marked) == 1  # the stored reply says which action failed (for an operator)
    print(f"\n[faults] bot service down: static reply after {waited:.2f} s; "
          f"bot service healthy again {back_after:.1f} s after restart")  # fmt: skip


# --- 2. the databases away for a moment -------------------------------------------------------


def test_a_message_during_a_database_restart_is_answered_late_and_stored(faults: Faults) -> None:
    """PostgreSQL stops (open connections cut) for about 2 s while a message arrives."""
    sender = new_sender("db-restart")
    say(faults.rasa, sender, "hi")
    faults.postgres.stop()
    down = True
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            started = time.monotonic()
            pending = pool.submit(say, faults.rasa, sender, "what is a T visa")
            time.sleep(2.0)
            # Waiting for the database, not answered out of an empty conversation.
            assert not pending.done(), pending.result()
            faults.postgres.start()
            down = False
            replies = pending.result(timeout=60)
            answered = time.monotonic() - started
    finally:
        if down:
            faults.postgres.start()
    assert "T visa" in texts(replies)
    # Stored after its history, not in a new conversation kept in memory.
    assert _user_texts(faults, sender) == ["hi", "what is a T visa"]
    print(f"\n[faults] database down ~2 s: message answered {answered:.1f} s after it was sent")


def test_a_directory_search_while_the_app_database_is_away_says_try_again(faults: Faults) -> None:
    """Only the app database refuses connections (the conversations' database stays up):
    the search cannot run, and the user is told to try again instead of hearing nothing."""
    sender = new_sender("app-db")
    search = "I need a lawyer in Houston, TX"
    faults.admin(
        "ALTER DATABASE haven ALLOW_CONNECTIONS false",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'haven'",
    )
    try:
        reply = texts(say(faults.rasa, sender, search))
    finally:
        faults.admin("ALTER DATABASE haven ALLOW_CONNECTIONS true")
    assert reply == unavailable_text("en")
    results = texts(say(faults.rasa, sender, search))
    assert "(sample)" in results and "Houston" in results  # back: the same search answers
    assert _user_texts(faults, sender) == [search, search]


# --- 3. a translation package corrupt on the running system ---------------------------------


def test_a_corrupt_translation_package_falls_back_and_a_reinstall_restores_it(
    faults: Faults,
) -> None:
    folder = faults.cluster.var_dir / "argos" / "packages"
    german = [
        p for p in folder.iterdir() if p.name.startswith(("translate-de_en", "translate-en_de"))
    ]
    assert len(german) == 2
    for package in german:  # every file but the metadata: Haven still sees the package
        for path in package.rglob("*"):
            if path.is_file() and path.name != "metadata.json":
                path.write_bytes(os.urandom(256))
    sender = new_sender("de-broken")
    reply = texts(say(faults.rasa, sender, "ich brauche essen in Houston"))  # 200, not a 500
    assert reply and REGISTRY["de"].door in reply  # English, with the door line in German
    assert NOTICE not in reply
    assert tracker(faults.rasa, TEST_TOKEN, sender)["slots"]["language"] == "de"
    # The operator reinstalls the packages (``haven translate install``, both in one process
    # here); the running Rasa server notices the change and uses them, without a restart.
    script = (
        "import sys; from bot.cli import main; "
        "[main(['translate', 'install', p], standalone_mode=False) for p in sys.argv[1:]]"
    )
    paths = [str(faults.packages / name) for name in GERMAN]
    subprocess.run([sys.executable, "-c", script, *paths], cwd=ROOT, env=faults.cluster.env,
                   check=True, capture_output=True)  # fmt: skip
    restored = texts(say(faults.rasa, new_sender("de-restored"), "ich brauche essen in Houston"))
    assert NOTICE in restored and "Houston" in restored, restored


# --- 4. Telegram throttling and failing -----------------------------------------------------


def _calls(fake: FakeTelegram, chat: int, since: int = 0):
    return fake.calls_of("sendMessage", chat)[since:]


def test_telegram_429_and_5xx_are_retried_and_every_reply_arrives_in_order(
    faults: Faults,
) -> None:
    fake = faults.telegram
    control, chat = new_chat(), new_chat()
    # "Where?" and then the share-my-location offer: two messages for one turn.
    post_update(faults.stack, message_update(control, "i need food"))
    expected = sent_texts(fake, control)
    assert len(expected) >= 2
    fake.fail("sendMessage", 502, 429, 200, 500, 503)
    started = time.monotonic()
    status, _ = post_update(faults.stack, message_update(chat, "i need food"))
    took = time.monotonic() - started
    fake.clear_faults()
    assert status == 200
    calls = _calls(fake, chat)
    assert [c.status for c in calls] == [502, 429, 200, 500, 503] + [200] * (len(expected) - 1)
    # Each failed message was sent again (the same text), and nothing went out of order.
    sent = [c.params["text"] for c in calls]
    assert sent == [expected[0]] * 3 + [expected[1]] * 3 + expected[2:]
    assert sent_texts(fake, chat) == expected
    assert calls[2].at - calls[1].at >= 1.0  # Telegram's retry_after was respected
    print(f"\n[faults] Telegram 502, 429, 500, 503: both replies delivered in {took:.1f} s")


def _telegram_referral(faults: Faults, chat: int) -> tuple[int, Console]:
    """A Telegram user's referral, claimed and joined by a case manager."""
    post_update(faults.stack, message_update(chat, "hello"))
    post_update(faults.stack, message_update(chat, "i want to talk to a person"))
    for data in ("/affirm", CHAT_LATER, "/skip", "/skip", "/skip", "/skip", "/deny", "/affirm"):
        post_update(faults.stack, callback_update(chat, callback_data(data)))
    assert "request number is" in sent_texts(faults.telegram, chat)[-1]
    number = faults.newest_referral()
    console = Console(faults.stack, "casey")
    console.act(number, "claim")
    console.refresh_csrf(f"/referrals/{number}")
    assert console.act(number, "join")[0] == 303
    return number, console


# --- 5. the web process restarted mid-handoff -----------------------------------------------


def web_say(faults: Faults, sender: str, message: str) -> list[dict]:
    """One web chat message, as the page sends it (through the web process)."""
    body = json.dumps({"sender": sender, "message": message, "metadata": {"language": "en"}})
    request = urllib.request.Request(
        faults.web + "/chat/message", data=body.encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())


def web_poll(faults: Faults, sender: str, after: int) -> dict:
    """The page's long poll (through the web process): answered when a message arrives."""
    url = f"{faults.web}/chat/events?sender={sender}&after={after}"
    with urllib.request.urlopen(url, timeout=60) as reply:
        return json.loads(reply.read())


def push(faults: Faults, sender: str, text: str) -> None:
    """A message outside the user's turn, as the console's relay sends one (Rasa's HTTP API,
    ``output_channel=latest``)."""
    push_bot_message(faults.rasa, TEST_TOKEN, sender, text)


def test_the_web_process_restarted_mid_handoff_loses_nothing(faults: Faults) -> None:
    """A Telegram user with a case manager in the chat, and a web chat page waiting in its
    long poll, when the web process (console and web chat) is killed and started again."""
    fake = faults.telegram
    chat = new_chat()
    case, console = _telegram_referral(faults, chat)
    page_user = secrets.token_urlsafe(16)
    assert web_say(faults, page_user, "hi")
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(web_poll, faults, page_user, 0)
        time.sleep(1.0)
        faults.cluster.kill("web")
        with pytest.raises(OSError):  # the page sees an error at once, and polls again 3 s later
            waiting.result(timeout=30)
    # Meanwhile the Telegram user writes (the bot stays silent: a person holds the chat), and
    # a message for the web chat user arrives while its page cannot poll.
    before = len(sent_texts(fake, chat))
    meanwhile = ["are you still there?", "i am at the bus station now"]
    for message in meanwhile:
        assert post_update(faults.stack, message_update(chat, message))[0] == 200
    assert len(sent_texts(fake, chat)) == before
    push(faults, page_user, "A message sent while the page could not poll.")
    started = time.monotonic()
    faults.cluster.start("web")
    restart = time.monotonic() - started

    # The staff session survived (it is in the database): same cookie, same CSRF token.
    status, page = console.get("/")
    assert status == 200 and f"#{case}" in page
    for message in meanwhile:
        assert console.wait_for_line(case, message)["who"] == "user"
    # The page's retried poll, from where it was, gets what arrived meanwhile, then more.
    body = web_poll(faults, page_user, 0)
    assert [m["text"] for m in body["messages"]] == [
        "A message sent while the page could not poll."
    ]
    push(faults, page_user, "And one after the restart.")
    body = web_poll(faults, page_user, body["last"])
    assert [m["text"] for m in body["messages"]] == ["And one after the restart."]

    # A staff reply after the restart, while Telegram fails for about 3.5 s: delivered once
    # Telegram recovers, once.
    calls_before = len(_calls(fake, chat))
    fake.fail("sendMessage", 502, 500, 502)
    started = time.monotonic()
    text = "Casey again: stay where you are, I will call."
    assert console.reply(case, text)["ok"]
    delivered = time.monotonic() - started
    fake.clear_faults()
    calls = _calls(fake, chat, calls_before)
    assert [c.status for c in calls] == [502, 500, 502, 200]
    assert all(c.params["text"] == text for c in calls)
    assert sent_texts(fake, chat).count(text) == 1
    assert console.wait_for_line(case, text)["who"] == "staff"  # and stored
    console.act(case, "close", outcome="helped")
    print(f"\n[faults] web process killed mid-handoff: healthy {restart:.1f} s after start; "
          f"staff reply through a Telegram outage delivered after {delivered:.1f} s")  # fmt: skip
