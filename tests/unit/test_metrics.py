"""Metrics, health and JSON logs (``bot.metrics``, ``bot.health``, ``bot.logs``) on real Sanic
apps over ASGI, real subprocesses, a real SQLite file, a throwaway Redis and real sockets.

The whole stack is covered by ``tests/integration/test_operations.py``; here each piece is
checked where it can fail alone: route templates instead of paths, the token, several
workers adding up, a hung dependency within its second, a failed save counted and logged
without the conversation in it, and every line of Rasa's own log setup as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sanic import Sanic, response

from bot import health, logs, metrics
from bot.settings import get_settings
from tests import redis_server
from tests.conftest import ROOT, free_port

ASGI_BASE = "http://haven.test"


# --- helpers -----------------------------------------------------------------------------


def samples(body: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of an exposition text, keyed by name and labels."""
    found = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(body: str, name: str, **labels: str) -> float:
    return samples(body).get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """A private var/ and app database; settings read again after each change."""
    monkeypatch.setenv("HAVEN_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{tmp_path / 'haven.db'}")
    for name in ("HAVEN_METRICS_TOKEN", "HAVEN_REDIS_URL", "HAVEN_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def use(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, setting in env.items():
        monkeypatch.setenv(name, setting)
    get_settings.cache_clear()


@contextlib.asynccontextmanager
async def asgi(app: Sanic) -> AsyncIterator[httpx.AsyncClient]:
    await app._startup()  # noqa: SLF001 - what Sanic's own ASGI start-up does
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=ASGI_BASE) as client:
        yield client
    Sanic._app_registry.pop(app.name, None)  # noqa: SLF001


def small_app(name: str) -> Sanic:
    app = Sanic(name)
    metrics.install(app, "web")

    @app.get("/conversations/<conversation_id:path>/tracker")
    async def tracker(request: Any, conversation_id: str) -> Any:
        return response.json({})

    @app.get("/webhooks/rest/events")
    async def events(request: Any) -> Any:
        return response.json({"messages": []})

    return app


# --- metrics -----------------------------------------------------------------------------


def test_requests_are_counted_by_route_template_never_by_path(settings_env) -> None:
    async def scenario() -> str:
        async with asgi(small_app("metrics_routes")) as client:
            assert (await client.get("/conversations/sender-3f9a1c/tracker")).status_code == 200
            assert (
                await client.get("/webhooks/rest/events?sender=sender-77b2e")
            ).status_code == 200
            assert (await client.get("/nothing/here/sender-zz41")).status_code == 404
            reply = await client.get("/metrics")
            assert reply.status_code == 200
            assert reply.headers["content-type"].startswith("text/plain")
            return reply.text

    body = asyncio.run(scenario())
    tracker = "/conversations/<conversation_id:path>/tracker"
    assert value(body, "haven_http_requests_total", route=tracker, method="GET", status="200") >= 1
    assert (
        value(body, "haven_http_request_duration_seconds_count", route=tracker, method="GET") >= 1
    )
    assert value(body, "haven_http_requests_total", route="unmatched", method="GET", status="404")
    for personal in ("sender-3f9a1c", "sender-77b2e", "sender-zz41", "nothing/here"):
        assert personal not in body


def test_the_token_is_enforced_when_set(settings_env) -> None:
    use(settings_env, HAVEN_METRICS_TOKEN="metrics-token-0123456789")

    async def scenario() -> list[tuple[int, str]]:
        async with asgi(small_app("metrics_token")) as client:
            answers = []
            for header in (None, "Bearer wrong", "metrics-token-0123456789",
                           "Bearer metrics-token-01234567890", "bearer metrics-token-0123456789",
                           "Bearer metrics-token-0123456789"):  # fmt: skip
                headers = {"Authorization": header} if header else {}
                reply = await client.get("/metrics", headers=headers)
                answers.append((reply.status_code, reply.text))
            return answers

    answers = asyncio.run(scenario())
    assert [status for status, _ in answers] == [401, 401, 401, 401, 401, 200]
    assert all("haven_http_requests" not in text for _, text in answers[:-1])
    assert "haven_http_requests_total" in answers[-1][1]


def test_without_a_token_metrics_answer_anyone(settings_env) -> None:
    async def scenario() -> int:
        async with asgi(small_app("metrics_open")) as client:
            return (await client.get("/metrics")).status_code

    assert asyncio.run(scenario()) == 200


def minimal_tracker(sender: str, text: str) -> dict[str, Any]:
    return {
        "sender_id": sender,
        "slots": {"language": "en"},
        "latest_message": {"text": text, "intent": {"name": "greet"}, "entities": []},
        "events": [{"event": "user", "text": text, "timestamp": time.time()}],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }


def test_bot_service_counts_action_calls_and_refusals(settings_env) -> None:
    from bot.db.migrate import upgrade
    from bot.service import create_service

    upgrade(get_settings().database_url)
    secret = "actions-secret-for-this-test-0123456789"
    app = create_service(secret)
    auth = {"Authorization": f"Bearer {secret}"}
    words = "my name is Maria Lopez"

    async def scenario() -> dict[str, Any]:
        async with asgi(app) as client:
            before = (await client.get("/metrics")).text
            refused = await client.post("/webhook", json={"next_action": "action_suggest_topics"})
            tracker = minimal_tracker("s-1", words)
            call = {"next_action": "action_suggest_topics", "tracker": tracker, "domain": {},
                    "version": "3.6.21"}  # fmt: skip
            ok = await client.post("/webhook", json=call, headers=auth)
            unknown = await client.post(
                "/webhook", json={**call, "next_action": words}, headers=auth
            )
            live = await client.get("/health")
            after = (await client.get("/metrics")).text
            statuses = (refused.status_code, ok.status_code, unknown.status_code)
            return {"before": before, "after": after, "statuses": statuses, "health": live}

    found = asyncio.run(scenario())
    assert found["statuses"] == (401, 200, 404)

    def delta(name: str, **labels: str) -> float:
        return value(found["after"], name, **labels) - value(found["before"], name, **labels)

    assert delta("haven_action_calls_total", action="action_suggest_topics", outcome="ok") == 1
    assert delta("haven_action_calls_total", action="unknown", outcome="error") == 1
    assert delta("haven_action_duration_seconds_count", action="action_suggest_topics") == 1
    assert delta("haven_http_requests_total", route="/webhook", method="POST", status="401") == 1
    assert "Maria" not in found["after"] and "s-1" not in found["after"]
    body = found["health"].json()
    assert found["health"].status_code == 200
    assert body["dependencies"] == {"app_database": "ok", "redis": "not configured"}
    assert body["status"] == "ok" and body["process"] == "bot"


def test_bot_service_metrics_want_the_metrics_token_not_the_actions_secret(settings_env) -> None:
    from bot.service import create_service

    use(settings_env, HAVEN_METRICS_TOKEN="metrics-token-abc-0123456789")
    app = create_service("actions-secret-0123456789")

    async def scenario() -> list[int]:
        async with asgi(app) as client:
            return [
                (await client.get("/metrics")).status_code,
                (await client.get("/metrics", headers={
                    "Authorization": "Bearer actions-secret-0123456789"})).status_code,
                (await client.get("/metrics", headers={
                    "Authorization": "Bearer metrics-token-abc-0123456789"})).status_code,
            ]  # fmt: skip

    assert asyncio.run(scenario()) == [401, 401, 200]


def test_bot_messages_are_counted_as_replies_pushed_or_crisis() -> None:
    from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel
    from rasa.shared.core.events import BotUttered, SlotSet

    class Webchat(OutputChannel):
        @classmethod
        def name(cls) -> str:
            return "webchat"

    metrics._register(metrics.PROCESS_METRICS["rasa"])  # noqa: SLF001
    crisis = BotUttered("call 911", metadata={"utter_action": "utter_crisis"})
    plain = BotUttered("hello", metadata={"utter_action": "utter_greet"})
    before = metrics.render().decode()

    def in_turn() -> None:
        metrics._turn_channel.set("rest")  # noqa: SLF001 - what Agent.handle_message sets
        metrics.count_bot_messages([crisis, SlotSet("x", 1), plain], CollectingOutputChannel())

    contextvars.copy_context().run(in_turn)
    metrics.count_bot_messages([plain], Webchat())  # outside a turn: a pushed message
    metrics.count_bot_messages([plain, plain], CollectingOutputChannel())  # HTTP API caller
    after = metrics.render().decode()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("haven_bot_replies_total", channel="rest") == 2
    assert delta("haven_crisis_replies_total") == 1
    assert delta("haven_pushed_messages_total", channel="webchat") == 1
    assert delta("haven_pushed_messages_total", channel="api") == 2
    assert delta("haven_bot_replies_total", channel="other") == 0


def test_a_failed_tracker_save_is_counted_and_logged_without_the_conversation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Rasa's fail-safe store logs the database error's text, which holds the statement's
    parameters (the events, user text included): Haven's counts it and logs its type."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    class TableGone(InMemoryTrackerStore):
        """Writes events as SQL stores do, into a SQLite file whose table was dropped."""

        def __init__(self, url: str) -> None:
            super().__init__(Domain.empty())
            self.engine = sa.create_engine(url)

        async def save(self, tracker: DialogueStateTracker) -> None:
            data = json.dumps([event.as_dict() for event in tracker.events])
            with self.engine.begin() as connection:
                connection.execute(sa.text("INSERT INTO events (sender_id, data) VALUES (:s, :d)"),
                                   {"s": tracker.sender_id, "d": data})  # fmt: skip

    metrics._register(metrics.PROCESS_METRICS["rasa"])  # noqa: SLF001
    metrics._instrument_tracker_store()  # noqa: SLF001 - as install(app, "rasa") does
    with sqlite3.connect(tmp_path / "tracker.db") as connection:
        connection.execute("CREATE TABLE gone (x)")
    inner = TableGone(f"sqlite:///{tmp_path / 'tracker.db'}")
    words = "my boss keeps my passport in his truck"
    tracker = DialogueStateTracker.from_events(
        "sender-save-1", [ActionExecuted("action_listen"), UserUttered(words)]
    )
    with pytest.raises(sa.exc.OperationalError) as failure:
        asyncio.run(inner.save(tracker))
    assert words in str(failure.value)  # what Rasa's own message would have logged
    store = FailSafeTrackerStore(inner)
    before = metrics.TRACKER_SAVE_FAILURES._value.get()  # noqa: SLF001
    with caplog.at_level(logging.DEBUG):
        asyncio.run(store.save(tracker))
    assert metrics.TRACKER_SAVE_FAILURES._value.get() == before + 1  # noqa: SLF001
    kept = asyncio.run(store.fallback_tracker_store.retrieve("sender-save-1"))
    assert kept is not None and kept.latest_message.text == words  # kept in memory, as Rasa
    assert "OperationalError" in caplog.text
    assert words not in caplog.text and "passport" not in caplog.text
    inner.engine.dispose()


def test_referrals_and_live_joins_are_counted_from_their_audit_rows(settings_env) -> None:
    from bot.db.migrate import upgrade
    from bot.handoff import referrals, staff

    upgrade(get_settings().database_url)
    metrics._watch_handoffs()  # noqa: SLF001
    created = metrics.REFERRALS_CREATED._value.get()  # noqa: SLF001
    joined = metrics.LIVE_CHATS_JOINED._value.get()  # noqa: SLF001
    number = referrals.create_referral(
        referrals.NewReferral(
            conversation_id="conversation-metrics-1", channel="rest", language="en",
            needs=["topic:t_visa"], place=None, age_group=None, safety_flags=[],
            contact_method="chat_now", contact={}, share_transcript=False,
            consent={"version": "test"},
        )
    )  # fmt: skip
    casey = staff.add_staff("casey", "correct horse battery staple", "Casey")
    referrals.claim(number, casey)
    referrals.set_live(number, casey, True)
    referrals.set_live(number, casey, False)
    assert metrics.REFERRALS_CREATED._value.get() == created + 1  # noqa: SLF001
    assert metrics.LIVE_CHATS_JOINED._value.get() == joined + 1  # noqa: SLF001


WORKERS_APP = """
import os, sys
from sanic import Sanic, response
from bot import metrics
app = Sanic("haven_workers_test")
metrics.install(app, "web")

@app.get("/pid")
async def pid(request):
    return response.json({"pid": os.getpid()})

app.run(host="127.0.0.1", port=int(sys.argv[1]), workers=2, access_log=False, motd=False)
"""


def test_several_workers_add_up_through_the_shared_folder(tmp_path: Path) -> None:
    """Two Sanic workers (forked, as Rasa's are with HAVEN_RASA_WORKERS=2): whichever
    answers the scrape, the count is every request either of them served."""
    port = free_port()
    folder = tmp_path / "metrics"
    folder.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONWARNINGS": "ignore"}
    server = subprocess.Popen(
        [sys.executable, "-c", WORKERS_APP, str(port)], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/metrics", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "no server"
                time.sleep(0.2)
        pids: list[int] = []
        while len(set(pids)) < 2 or len(pids) < 40:  # new connection each: both workers serve
            with urllib.request.urlopen(f"{base}/pid", timeout=5) as reply:
                pids.append(json.loads(reply.read())["pid"])
            assert len(pids) < 400, "one worker served everything"
        scrapes = [urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()
                   for _ in range(6)]  # fmt: skip
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)
    for body in scrapes:
        assert value(body, "haven_http_requests_total", route="/pid", method="GET",
                     status="200") == len(pids)  # fmt: skip
    assert len(list(folder.glob("counter_*.db"))) >= 2


def test_rasa_server_gives_several_workers_a_fresh_folder_and_one_none(
    settings_env, tmp_path: Path
) -> None:
    from bot import rasa_server

    use(settings_env, HAVEN_RASA_WORKERS="3", HAVEN_REDIS_URL="redis://127.0.0.1:1/0",
        HAVEN_RASA_PORT="5123")  # fmt: skip
    env = rasa_server.rasa_environment({"PROMETHEUS_MULTIPROC_DIR": "/somewhere/shared"})
    folder = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    assert folder == tmp_path / "var" / "metrics" / "rasa-5123"
    folder.mkdir(parents=True)
    (folder / "counter_1.db").write_bytes(b"old")
    settings_env.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    rasa_server.reset_metrics_dir()
    assert not list(folder.iterdir())
    use(settings_env, HAVEN_RASA_WORKERS="1")
    env = rasa_server.rasa_environment({"PROMETHEUS_MULTIPROC_DIR": "/somewhere/shared"})
    assert "PROMETHEUS_MULTIPROC_DIR" not in env


# --- health ------------------------------------------------------------------------------


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a hung dependency)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_a_hung_dependency_is_down_within_its_second_and_checked_once_at_a_time() -> None:
    attempts = []

    async def hung() -> str:
        attempts.append(1)
        await asyncio.sleep(5)
        return health.OK

    async def scenario() -> tuple[list[str], float]:
        probe = health.Probe("test:hung")
        started = time.monotonic()
        states = await asyncio.gather(*(probe.run(hung) for _ in range(5)))
        return states, time.monotonic() - started

    states, took = asyncio.run(scenario())
    assert states == ["down"] * 5
    assert took < health.CHECK_SECONDS + 0.5
    assert len(attempts) == 1


def test_redis_that_never_answers_is_down_in_time() -> None:
    async def scenario(port: int) -> tuple[str, float]:
        started = time.monotonic()
        state = await health.Probe("test:redis").run(
            lambda: health.redis_ok(f"redis://127.0.0.1:{port}/0")
        )
        return state, time.monotonic() - started

    with silent_server() as port:
        state, took = asyncio.run(scenario(port))
    assert state == "down" and took < health.CHECK_SECONDS + 0.5


@pytest.mark.skipif(not redis_server.available(), reason="redis-server is not installed")
def test_bot_service_readiness_follows_redis_down_and_back(settings_env) -> None:
    from bot.db.migrate import upgrade
    from bot.service import create_service

    upgrade(get_settings().database_url)
    with redis_server.redis_server() as redis:
        use(settings_env, HAVEN_REDIS_URL=redis.url)
        app = create_service("actions-secret-0123456789")

        async def scenario() -> list[tuple[int, dict]]:
            answers = []
            async with asgi(app) as client:
                for step in ("up", "down", "back"):
                    if step == "down":
                        redis.stop()
                    if step == "back":
                        redis.start()
                    for path in ("/readyz", "/health"):
                        reply = await client.get(path)
                        answers.append((reply.status_code, reply.json()))
            return answers

        answers = asyncio.run(scenario())
    (up, up_live), (down, down_live), (back, back_live) = zip(
        answers[::2], answers[1::2], strict=True
    )
    assert up == (200, {"status": "ok", "process": "bot", "version": up[1]["version"],
                        "dependencies": {"app_database": "ok", "redis": "ok"}})  # fmt: skip
    assert down[0] == 503 and down[1]["status"] == "degraded" and down[1]["down"] == ["redis"]
    assert down[1]["dependencies"] == {"app_database": "ok", "redis": "down"}
    assert down_live[0] == 200 and down_live[1]["dependencies"]["redis"] == "down"
    assert back[0] == 200 and back[1]["dependencies"]["redis"] == "ok"
    assert up_live[0] == back_live[0] == 200


def test_web_readiness_names_a_database_and_a_rasa_server_that_are_down(settings_env) -> None:
    from bot.web.app import create_app

    closed = free_port()
    use(settings_env, HAVEN_DATABASE_URL=f"postgresql://haven@127.0.0.1:{closed}/haven",
        HAVEN_RASA_URL=f"http://127.0.0.1:{closed}")  # fmt: skip
    app = create_app("haven_web_health_test")

    async def scenario() -> tuple[httpx.Response, httpx.Response, float]:
        async with asgi(app) as client:
            started = time.monotonic()
            ready = await client.get("/readyz")
            took = time.monotonic() - started
            return ready, await client.get("/healthz"), took

    ready, live, took = asyncio.run(scenario())
    assert ready.status_code == 503
    assert ready.json()["dependencies"] == {
        "app_database": "down", "rasa_server": "down", "redis": "not configured"
    }  # fmt: skip
    assert sorted(ready.json()["down"]) == ["app_database", "rasa_server"]
    assert live.status_code == 200 and live.json()["status"] == "degraded"
    assert took < 2 * health.CHECK_SECONDS


# --- JSON logs ---------------------------------------------------------------------------

RASA_LOGGING = """
import logging, sys, warnings
import click
from bot import logs
assert logs.configure("rasa")
# What `rasa run` does next (rasa.__main__.main), then Sanic's app and Rasa's Sanic levels.
from rasa.utils.common import configure_logging_and_warnings, update_sanic_log_level
from rasa.utils.io import configure_colored_logging
from rasa.utils.log_utils import configure_structlog
configure_logging_and_warnings(None, None, warn_only_once=True, filter_repeated_logs=True)
configure_colored_logging(None)
configure_structlog(None)
from sanic import Sanic
app = Sanic("rasa_server")
update_sanic_log_level()
logging.getLogger().info("root line")
logging.getLogger("rasa.core.processor").info("rasa line %d", 1)
logging.getLogger("rasa.core.processor").debug("debug line: never shown at INFO")
logging.getLogger("sanic.error").error("sanic error line")
logging.getLogger("sanic.root").error("sanic root line")
logging.getLogger("sanic.root").warning("sanic warning: below Rasa's level for Sanic")
import structlog
structlog.get_logger().info("structlog.line", count=2)
try:
    raise ValueError("boom")
except ValueError:
    logging.getLogger("rasa.core.run").exception("failed")
warnings.warn("a warning line")
print("a printed line")
print("two", "lines\\nin one print")
click.echo("an echoed line", err=True)
sys.stdout.write("no newline at the end")
"""


def test_rasa_logging_setup_writes_only_json_lines() -> None:
    """Rasa's own log setup (coloredlogs, structlog, Sanic's handlers) after Haven's: every
    line on stdout and stderr is one JSON object with the fields, nothing twice."""
    env = {**os.environ, "HAVEN_LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
           "PYTHONWARNINGS": "default"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", RASA_LOGGING], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line parses
    for entry in entries:
        assert {"time", "level", "logger", "process", "pid", "message"} <= set(entry), entry
        assert entry["process"] == "rasa" and entry["time"].endswith("Z")
    by_message = {}
    for entry in entries:
        by_message.setdefault(entry["message"], []).append(entry)

    def one(message: str) -> dict:
        found = [e for e in entries if e["message"] == message or f"{message}\n" in e["message"]]
        assert len(found) == 1, (message, found)
        return found[0]

    assert one("root line")["logger"] == "root"
    assert one("rasa line 1")["logger"] == "rasa.core.processor"
    assert one("sanic error line")["level"] == "ERROR"
    assert one("sanic root line")["logger"] == "sanic.root"
    structured = [e for e in entries if "structlog.line" in e["message"]]
    assert len(structured) == 1 and structured[0]["level"] == "INFO"
    failed = one("failed")
    assert failed["level"] == "ERROR" and "ValueError: boom" in failed["exception"]
    warned = [e for e in entries if "UserWarning: a warning line" in e["message"]]
    assert len(warned) == 1 and warned[0]["logger"] == "py.warnings"
    assert one("a printed line")["logger"] == "stdout"
    assert one("two lines")["logger"] == "stdout"
    assert one("in one print")["logger"] == "stdout"
    assert one("an echoed line")["logger"] == "stderr"
    assert one("no newline at the end")["logger"] == "stdout"
    assert not [e for e in entries if "debug line" in e["message"] or "below" in e["message"]]


def test_text_logs_stay_as_they_were(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAVEN_LOG_FORMAT", raising=False)
    get_settings.cache_clear()
    try:
        format_before, stdout_before = logging.Handler.format, sys.stdout
        assert logs.configure("web") is False
        assert logging.Handler.format is format_before and sys.stdout is stdout_before
    finally:
        get_settings.cache_clear()


def test_json_line_fields() -> None:
    line = logs.json_line("haven", "Haven is running.", created=0.5)
    assert json.loads(line) == {
        "time": "1970-01-01T00:00:00.500Z", "level": "INFO", "logger": "haven",
        "process": "haven", "pid": os.getpid(), "message": "Haven is running.",
    }  # fmt: skip
    assert logs.is_json_line(line) and not logs.is_json_line("{not json}")
    assert not logs.is_json_line("[rasa] 2025-01-01 INFO started")


def test_sanic_error_lines_lose_the_conversation_ids_in_urls(caplog) -> None:
    """Sanic logs the URL of a request that failed; the id in it must not reach the log."""
    import logging

    from bot.logs import redact_urls

    redact_urls()
    with caplog.at_level(logging.ERROR, logger="sanic.error"):
        logging.getLogger("sanic.error").error(
            "Exception occurred while handling uri: %r",
            "http://127.0.0.1:5005/conversations/person-7781/tracker/events?sender=Zk3v9QeP0bW7",
        )
    assert "person-7781" not in caplog.text and "Zk3v9QeP0bW7" not in caplog.text
    assert "/conversations/…/tracker/events?…" in caplog.text
