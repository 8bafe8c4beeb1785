"""Past one machine: two Rasa servers (one of them with two Sanic workers) and two bot
services behind balancers, PostgreSQL for both databases, Redis for the locks and the shared
queues, and the web process in front. One conversation's messages go alternately and all at
once to both servers; nothing may be lost, doubled or interleaved."""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import postgres, redis_server
from tests.cluster import Cluster
from tests.conftest import ROOT, TEST_TOKEN
from tests.integration.chat import (
    new_sender,
    payloads,
    post,
    push_bot_message,
    say,
    texts,
    tracker,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (postgres.available() and redis_server.available()),
        reason="PostgreSQL (initdb, pg_ctl) and redis-server are needed (make services)",
    ),
]

# The real mix: greetings, rights questions, directory searches with a place, two languages.
MESSAGES = [
    "hi",
    "what are my rights at work",
    "can they take my passport",
    "I need a lawyer in Houston, TX",
    "hola",
    "necesito comida en Houston",
    "what is a T visa",
    "thanks",
]


def _model() -> Path:
    from bot.settings import get_settings
    from bot.training import model_path

    model = model_path(get_settings())
    assert model.exists(), "train first (make test does)"
    return model


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    import subprocess
    import sys

    with postgres.postgres_server() as admin_url, redis_server.redis_server() as redis:
        app_url, tracker_url = postgres.create_databases(admin_url, "haven", "tracker")
        var_dir = tmp_path_factory.mktemp("cluster-var")
        env = {
            "HAVEN_DATABASE_URL": app_url,
            "HAVEN_TRACKER_STORE_URL": tracker_url,
            "HAVEN_REDIS_URL": redis.url,
            "HAVEN_STAFF_HOURS": "always",
        }
        cluster = Cluster(var_dir, env)
        prepare = (
            "from bot.cli import _prepare_database; from bot.settings import get_settings; "
            "from bot.i18n.catalogs import compile_catalogs; s = get_settings(); "
            "_prepare_database(s); compile_catalogs(s.locales_dir)"
        )
        subprocess.run([sys.executable, "-c", prepare], cwd=ROOT, env=cluster.env, check=True,
                       capture_output=True)  # fmt: skip
        try:
            actions = [cluster.actions("actions-1"), cluster.actions("actions-2")]
            cluster.start_many(*(process.name for process in actions))
            actions_lb = cluster.balancer("actions-lb", actions, "/health")
            cluster.start(actions_lb.name)
            model = _model()
            webhook = actions_lb.url + "/webhook"
            servers = [
                cluster.rasa("rasa-1", model, webhook, HAVEN_RASA_WORKERS="2"),
                cluster.rasa("rasa-2", model, webhook),
            ]
            cluster.start_many(*(process.name for process in servers), timeout=400)
            rasa_lb = cluster.balancer("rasa-lb", servers, "/webhooks/rest/")
            cluster.start(rasa_lb.name)
            cluster.redis = redis  # type: ignore[attr-defined]
            cluster.tracker_url = tracker_url  # type: ignore[attr-defined]
            yield cluster
        finally:
            cluster.stop_all()


def _servers(cluster: Cluster) -> list[str]:
    return [cluster.processes["rasa-1"].url, cluster.processes["rasa-2"].url]


def _turns(events: list[dict]) -> list[tuple[str, list[str]]]:
    """(user text, bot texts) per turn, checking each turn ends in a listen before the next
    user message: a turn handled while another ran would break that."""
    turns: list[tuple[str, list[str]]] = []
    listening = True
    for event in events:
        if event["event"] == "user":
            assert listening, "a message was handled while another was still being answered"
            turns.append((event.get("text") or "", []))
            listening = False
        elif event["event"] == "bot" and turns:
            turns[-1][1].append(event.get("text") or "")
        elif event["event"] == "action" and event.get("name") == "action_listen":
            listening = True
    return turns


def test_alternating_servers_answer_one_conversation_in_order(cluster: Cluster) -> None:
    sender = new_sender("alternate")
    servers = _servers(cluster)
    answered = []
    for number, message in enumerate(MESSAGES):
        replies = say(servers[number % 2], sender, message)
        assert replies and all(r.get("text") or r.get("buttons") for r in replies), message
        answered.append(texts(replies))
    stored = _turns(tracker(servers[0], TEST_TOKEN, sender)["events"])
    assert [text for text, _ in stored] == MESSAGES
    # What each client was told is what the conversation holds, turn by turn.
    assert ["\n".join(bot) for _, bot in stored] == answered


def test_messages_sent_at_once_to_both_servers_are_each_answered_once(cluster: Cluster) -> None:
    sender = new_sender("burst")
    servers = _servers(cluster)
    say(servers[0], sender, "hi")
    burst = [f"what are my rights at work {n}" for n in range(10)]

    def send(number: int) -> list[dict]:
        return say(servers[number % 2], sender, burst[number])

    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(send, range(10)))
    assert all(replies), "a message got no reply"
    stored = _turns(tracker(servers[1], TEST_TOKEN, sender)["events"])
    user_texts = [text for text, _ in stored]
    assert user_texts[0] == "hi" and sorted(user_texts[1:]) == sorted(burst)  # once each
    assert all(bot for _, bot in stored)  # and each answered


def test_delete_my_data_is_race_free_across_servers(cluster: Cluster) -> None:
    """The deletion on one server and, while it runs, a message on the other: the message
    waits for the shared lock, and the deletion (done inside it) leaves nothing from before
    it. Which of two messages sent together goes first is up to the network; the rare turn
    where the other message wins (the "yes" then no longer answers the question) is run
    again."""
    servers = _servers(cluster)
    for _attempt in range(3):
        sender = new_sender("delete")
        for number, message in enumerate(MESSAGES[:4]):
            say(servers[number % 2], sender, message)
        assert "/affirm" in payloads(say(servers[1], sender, "delete my data"))
        with ThreadPoolExecutor(max_workers=2) as pool:
            deleting = pool.submit(say, servers[0], sender, "/affirm")
            time.sleep(0.05)  # the "yes" takes its ticket first; the other message waits
            other = pool.submit(say, servers[1], sender, "hello again")
            deleted = "deleted" in texts(deleting.result())
            assert other.result()
        if deleted:
            break
    assert deleted, "the deletion never went first in three tries"
    time.sleep(0.5)
    left = [e.get("text") for e in tracker(servers[0], TEST_TOKEN, sender)["events"]
            if e["event"] == "user"]  # fmt: skip
    assert not set(left) & set(MESSAGES[:4]), left
    assert set(left) <= {"hello again"}


def test_a_staff_reply_through_one_server_reaches_a_poll_on_the_other(cluster: Cluster) -> None:
    """Messages between turns live in Redis: the long poll may land on any server."""
    sender = secrets.token_urlsafe(24)
    one, other = _servers(cluster)
    say(one, sender, "hi")
    text = "Hello, this is Casey from the case team."
    push_bot_message(one, TEST_TOKEN, sender, text)
    with urllib.request.urlopen(f"{other}/webhooks/rest/events?sender={sender}&after=0") as r:
        polled = json.loads(r.read())
    assert [m["text"] for m in polled["messages"]] == [text]
    # Delivered once: the next turn on the first server does not repeat it.
    replies = say(one, sender, "thanks")
    assert text not in texts(replies)


def test_a_server_killed_mid_conversation_loses_nothing(cluster: Cluster) -> None:
    """Through the balancer: one Rasa server dies (SIGKILL) between two messages; the next
    ones go to the other server and the conversation goes on, whole."""
    balancer = cluster.processes["rasa-lb"].url
    sender = new_sender("killed")
    for message in MESSAGES[:3]:
        assert say(balancer, sender, message)
    cluster.kill("rasa-2")
    for message in MESSAGES[3:]:
        assert say(balancer, sender, message)
    stored = _turns(tracker(balancer, TEST_TOKEN, sender)["events"])
    assert [text for text, _ in stored] == MESSAGES
    assert all(bot for _, bot in stored)
    status, _ = post(f"{balancer}/webhooks/rest/webhook", b'{"sender": "x", "message": "hi"}')
    assert status == 200


def test_redis_down_for_a_moment_loses_no_message(cluster: Cluster) -> None:
    """Without Redis each server orders a conversation's messages by itself; when Redis is
    back the servers share their locks again. Every message is answered throughout."""
    redis = cluster.redis  # type: ignore[attr-defined]
    server = _servers(cluster)[0]
    sender = secrets.token_urlsafe(24)
    say(server, sender, "hi")
    redis.stop()
    try:
        for message in MESSAGES[1:4]:
            assert say(server, sender, message)
    finally:
        redis.start()
    for message in MESSAGES[4:]:
        assert say(server, sender, message)
    stored = _turns(tracker(server, TEST_TOKEN, sender)["events"])
    assert [text for text, _ in stored] == MESSAGES
