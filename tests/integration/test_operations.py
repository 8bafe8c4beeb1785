"""Operating Haven, on the real processes: ``/metrics``, health and readiness, JSON logs.

The session stack (tests/conftest.py: text logs, no metrics token, no Redis) serves the
counts: a conversation over REST, the web chat (through the web process, as the page does)
and Telegram (the fake Bot API), then a referral and a live chat, and every counter must
have moved by exactly what happened, with no conversation id or message text in any of the
three ``/metrics`` answers. A second stack, started here once, runs as an operator would
in production: ``HAVEN_LOG_FORMAT=json``, ``HAVEN_METRICS_TOKEN`` and a throwaway Redis
(``HAVEN_REDIS_URL``). Its token must be enforced by all three processes, its readiness
must follow Redis being stopped and started again, and every line `haven run` wrote, from
start to Ctrl-C, must be a JSON object without what the user wrote.
"""

from __future__ import annotations

import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import redis_server
from tests.conftest import RunningStack, running_stack
from tests.integration.chat import new_sender, post, say, tracker
from tests.integration.test_handoff import (
    CHAT_NOW,
    Console,
    consent,
    long_sender,
    newest_referral,
    poll_rest,
)
from tests.integration.test_telegram import message_update, new_chat, post_update

pytestmark = pytest.mark.integration

PROCESSES = ("rasa", "bot", "web")
METRICS_TOKEN = "metrics-token-for-the-operations-stack-0123456789"


# --- helpers -----------------------------------------------------------------------------


def base_urls(stack: RunningStack) -> dict[str, str]:
    return {"rasa": stack.rasa_url, "bot": stack.actions_url, "web": stack.web_url}


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(stack: RunningStack, token: str | None = None) -> dict[str, str]:
    """``/metrics`` of all three processes."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    found = {}
    for name, base in base_urls(stack).items():
        status, body = get(f"{base}/metrics", headers)
        assert status == 200, (name, body[:300])
        found[name] = body
    return found


def samples(body: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def delta(before: str, after: str, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return samples(after).get(key, 0.0) - samples(before).get(key, 0.0)


def total(body: str, name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples(body).items() if n == name and wanted <= found)


def assert_nothing_personal(bodies: dict[str, str], *personal: str) -> None:
    """No label value holds any of ``personal``, nor does any sample line (the # HELP
    lines are Haven's fixed descriptions)."""
    for name, body in bodies.items():
        label_values = {v for (_, labels) in samples(body) for _, v in labels}
        sample_lines = "\n".join(line for line in body.splitlines() if not line.startswith("#"))
        for item in personal:
            assert not any(item in v for v in label_values), (name, item)
            if not item.isdigit():  # a number could be a memory size by chance
                assert item not in sample_lines, (name, item)


def actions_secret(stack: RunningStack) -> str:
    return (stack.var_dir / "actions-secret").read_text().strip()


def custom_action_runs(stack: RunningStack, *senders: str) -> int:
    """How many times the bot service ran an action in these conversations (their trackers,
    read through Rasa's HTTP API, against the bot service's own list of actions)."""
    headers = {"Authorization": f"Bearer {actions_secret(stack)}"}
    status, body = get(f"{stack.actions_url}/actions", headers)
    assert status == 200, body
    names = {action["name"] for action in json.loads(body)}
    runs = 0
    for sender in senders:
        events = tracker(stack.rasa_url, stack.token, sender)["events"]
        runs += sum(1 for e in events if e.get("event") == "action" and e.get("name") in names)
    return runs


def webchat(stack: RunningStack, sender: str, text: str) -> list[dict]:
    """A message as the web chat's page sends it: to the web process, which forwards it."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    status, replies = post(f"{stack.web_url}/chat/message", body)
    assert status == 200, replies
    return replies


# --- the session stack: counts ---------------------------------------------------------


def test_a_conversation_on_every_channel_is_counted_exactly_and_impersonally(
    stack: RunningStack, fake_telegram
) -> None:
    before = scrape(stack)
    rest_sender = new_sender("metrics")
    rest_texts = ["hi", "what is a t visa", "he is outside my door with a bat"]
    rest_replies = [say(stack.rasa_url, rest_sender, text) for text in rest_texts]
    web_sender = secrets.token_urlsafe(16)
    web_texts = ["hola", "necesito un abogado para mi visa"]
    web_replies = [webchat(stack, web_sender, text) for text in web_texts]
    chat = new_chat()
    status, _ = post_update(stack, message_update(chat, "hello there, i need some help"))
    assert status == 200
    telegram_sent = len(fake_telegram.calls_of("sendMessage", chat))
    after = scrape(stack)
    rasa, bot, web = (before["rasa"], after["rasa"]), (before["bot"], after["bot"]), (
        before["web"], after["web"])  # fmt: skip

    for channel, sent in (("rest", 3), ("webchat", 2), ("telegram", 1)):
        assert delta(*rasa, "haven_messages_received_total", channel=channel) == sent, channel
    assert delta(*rasa, "haven_bot_replies_total", channel="rest") == sum(map(len, rest_replies))
    assert delta(*rasa, "haven_bot_replies_total", channel="webchat") == sum(map(len, web_replies))
    assert telegram_sent >= 1
    assert delta(*rasa, "haven_bot_replies_total", channel="telegram") == telegram_sent
    assert delta(*rasa, "haven_crisis_replies_total") == 1
    assert total(after["rasa"], "haven_pushed_messages_total") == total(
        before["rasa"], "haven_pushed_messages_total"
    )  # nothing was sent outside a turn
    assert delta(*rasa, "haven_tracker_store_save_failures_total") == 0
    for route, sent in (("/webhooks/rest/webhook", 3), ("/webhooks/webchat/webhook", 2),
                        ("/webhooks/telegram/webhook", 1)):  # fmt: skip
        assert delta(*rasa, "haven_http_requests_total", route=route, method="POST",
                     status="200") == sent, route  # fmt: skip
        assert delta(*rasa, "haven_http_request_duration_seconds_count", route=route,
                     method="POST") == sent, route  # fmt: skip
    assert delta(*web, "haven_http_requests_total", route="/chat/message", method="POST",
                 status="200") == 2  # fmt: skip

    runs = custom_action_runs(stack, rest_sender, web_sender, str(chat))
    assert runs >= 1
    ok = total(after["bot"], "haven_action_calls_total", outcome="ok") - total(
        before["bot"], "haven_action_calls_total", outcome="ok"
    )
    assert ok == runs
    assert total(after["bot"], "haven_action_calls_total", outcome="error") == total(
        before["bot"], "haven_action_calls_total", outcome="error"
    )
    assert delta(*bot, "haven_http_requests_total", route="/webhook", method="POST",
                 status="200") == runs  # fmt: skip

    words = [w for text in rest_texts + web_texts for w in text.split() if len(w) > 4]
    assert_nothing_personal(after, rest_sender, web_sender, str(chat), "outside my door",
                            "abogado", "hello there", *words)  # fmt: skip
    # The process collector is there (memory), as promised in docs/operating.md.
    for name in PROCESSES:
        assert total(after[name], "process_resident_memory_bytes") > 0, name


def test_a_referral_and_a_live_chat_are_counted_where_they_happen(stack: RunningStack) -> None:
    before = scrape(stack)
    sender = long_sender()
    consent(stack, sender, CHAT_NOW, "/skip", "/skip", "/skip", "/deny", "/affirm")
    number = newest_referral(stack)["id"]
    console = Console(stack, "casey")
    assert console.act(number, "claim")[0] == 303
    console.refresh_csrf(f"/referrals/{number}")
    assert console.act(number, "join")[0] == 303
    _, last = poll_rest(stack, sender, 0, "has joined this chat")
    assert console.reply(number, "Hello, this is Casey.")["ok"]
    _, last = poll_rest(stack, sender, last, "this is Casey")
    assert console.act(number, "close", outcome="helped")[0] == 303
    _, last = poll_rest(stack, sender, last, "has left the chat")
    after = scrape(stack)

    assert delta(before["bot"], after["bot"], "haven_referrals_created_total") == 1
    assert delta(before["web"], after["web"], "haven_live_chats_joined_total") == 1
    # Every message the REST client read by long polling was sent outside its turns.
    pushed = delta(before["rasa"], after["rasa"], "haven_pushed_messages_total", channel="rest")
    assert pushed == last >= 3
    assert_nothing_personal(after, sender, "Casey", "casey", "this is Casey")


def test_health_lists_every_dependency_and_readiness_agrees(stack: RunningStack) -> None:
    expected = {
        "rasa": {"model": "ok", "tracker_store": "ok", "lock_store": "not configured",
                 "action_server": "ok", "redis": "not configured"},
        "bot": {"app_database": "ok", "redis": "not configured"},
        "web": {"app_database": "ok", "rasa_server": "ok", "redis": "not configured"},
    }  # fmt: skip
    liveness = {"rasa": "/healthz", "bot": "/health", "web": "/healthz"}
    for name, base in base_urls(stack).items():
        for path in ("/readyz", liveness[name]):
            started = time.monotonic()
            status, body = get(base + path)
            assert status == 200, (name, path, body)
            found = json.loads(body)
            assert found["status"] == "ok" and found["process"] == name, found
            assert found["dependencies"] == expected[name], (name, found)
            assert "down" not in found
            assert time.monotonic() - started < 2.5, (name, path)
    # What `haven run` waits for still answers as before.
    assert get(f"{stack.rasa_url}/webhooks/rest/")[0] == 200


# --- a second stack: JSON logs, the metrics token, Redis -------------------------------


class OpsStack:
    """`haven run` with JSON logs, a metrics token and Redis; stopped by the last test (so
    that its log is complete) or at the end of the module."""

    def __init__(self, var_dir: Path, redis: redis_server.RedisServer) -> None:
        self.redis = redis
        self._context = running_stack(var_dir, {
            "HAVEN_LOG_FORMAT": "json",
            "HAVEN_METRICS_TOKEN": METRICS_TOKEN,
            "HAVEN_REDIS_URL": redis.url,
        })  # fmt: skip
        self.stack = self._context.__enter__()
        self.running = True

    def stop(self) -> None:
        """Ctrl-C; `running_stack` checks that all three processes stopped cleanly."""
        if self.running:
            self.running = False
            self._context.__exit__(None, None, None)

    @property
    def log(self) -> str:
        return (self.stack.var_dir / "stack.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpsStack]:
    if not redis_server.available():
        pytest.skip("redis-server is not installed")
    with redis_server.redis_server() as redis:
        running = OpsStack(tmp_path_factory.mktemp("haven-ops"), redis)
        try:
            yield running
        finally:
            running.stop()


def test_the_metrics_token_is_enforced_by_every_process(ops: OpsStack) -> None:
    for name, base in base_urls(ops.stack).items():
        for headers in ({}, {"Authorization": "Bearer wrong-token"},
                        {"Authorization": METRICS_TOKEN}):  # fmt: skip
            status, body = get(f"{base}/metrics", headers)
            assert status == 401 and "haven_" not in body, (name, headers)
        status, body = get(f"{base}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200 and "haven_http_requests_total" in body, name
    # The bot service's actions secret is no metrics token, and the reverse.
    secret = {"Authorization": f"Bearer {actions_secret(ops.stack)}"}
    assert get(f"{ops.stack.actions_url}/metrics", secret)[0] == 401


def readiness(stack: RunningStack) -> dict[str, tuple[int, dict, float]]:
    found = {}
    for name, base in base_urls(stack).items():
        started = time.monotonic()
        status, body = get(f"{base}/readyz")
        found[name] = (status, json.loads(body), time.monotonic() - started)
    return found


def wait_for_readiness(stack: RunningStack, status: int, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = readiness(stack)
        if all(answer[0] == status for answer in found.values()):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.5)


def test_readiness_follows_redis_going_down_and_coming_back(ops: OpsStack) -> None:
    stack = ops.stack
    up = wait_for_readiness(stack, 200)
    for name in PROCESSES:
        assert up[name][1]["dependencies"]["redis"] == "ok", up[name]
    assert up["rasa"][1]["dependencies"]["lock_store"] == "ok"
    ops.redis.stop()
    try:
        down = readiness(stack)
        for name in PROCESSES:
            status, body, took = down[name]
            assert status == 503 and body["status"] == "degraded", (name, body)
            assert "redis" in body["down"] and body["dependencies"]["redis"] == "down", body
            assert took < 2.5, (name, took)
            others = {k: v for k, v in body["dependencies"].items()
                      if k not in ("redis", "lock_store")}  # fmt: skip
            assert set(others.values()) == {"ok"}, (name, body)  # only what is down
        assert down["rasa"][1]["dependencies"]["lock_store"] == "down"
        # Liveness stays 200: the processes run; restarting them would not bring Redis back.
        for name, path in (("rasa", "/healthz"), ("bot", "/health"), ("web", "/healthz")):
            status, body = get(base_urls(stack)[name] + path)
            assert status == 200 and json.loads(body)["status"] == "degraded", (name, body)
    finally:
        ops.redis.start()
    back = wait_for_readiness(stack, 200)
    for name in PROCESSES:
        assert back[name][1]["status"] == "ok" and "down" not in back[name][1]


def test_json_logs_every_line_of_every_process_and_no_user_text(ops: OpsStack) -> None:
    """Runs last in this module: it stops the stack, so the log is complete."""
    stack = ops.stack
    sender = new_sender("jsonlogs")
    texts = ["hi", "my boss took my passport and i sleep in the truck",
             "he is outside my door with a bat"]  # fmt: skip
    for text in texts:
        assert say(stack.rasa_url, sender, text)
    scrape(stack, METRICS_TOKEN)
    ops.stop()  # Ctrl-C: every process's last lines are in the log too
    lines = [line for line in ops.log.splitlines() if line.strip()]
    entries = []
    for line in lines:
        entry = json.loads(line)  # every line is JSON ...
        assert isinstance(entry, dict), line  # ... one object
        assert {"time", "level", "logger", "process", "pid", "message"} <= set(entry), entry
        entries.append(entry)
    processes = {entry["process"] for entry in entries}
    assert processes == {"rasa", "bot", "web", "haven"}, processes
    loggers = {(entry["process"], entry["logger"]) for entry in entries}
    assert ("rasa", "rasa.core.processor") in loggers  # Rasa's own lines ("Loading model")
    assert ("rasa", "root") in loggers  # "Starting Rasa server on ..."
    assert any(p == "bot" and name.startswith("rasa_sdk") for p, name in loggers)
    assert ("haven", "haven") in loggers  # `haven run` itself
    assert any(e["message"] == "Haven is running." for e in entries)
    assert any(e["message"] == "Stopping Haven…" for e in entries)  # on Ctrl-C, to stderr
    assert any(e["message"].startswith("Loaded ") for e in entries)  # `haven run` seeding
    # Each process wrote JSON itself: nothing had to be wrapped by `haven run`.
    wrapped = [e for e in entries if e["logger"] == "output"]
    assert not wrapped, wrapped[:5]
    text = ops.log
    for secret in (sender, "passport", "outside my door", "sleep in the truck"):
        assert secret not in text, secret
