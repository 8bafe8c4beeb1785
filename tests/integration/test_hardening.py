"""The holes closed in the running stack: secrets, limits, keep-alive, privacy promises."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import EXPIRED_SENDER, RunningStack
from tests.integration.chat import new_sender, post, say, stored_events, texts, tracker

pytestmark = pytest.mark.integration


def _process_tree(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found += _process_tree(int(child))
    return found


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def test_no_secret_is_on_any_command_line(stack: RunningStack) -> None:
    secrets = [stack.token, (stack.var_dir / "actions-secret").read_text().strip()]
    lines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in _process_tree(stack.process.pid)]
    assert len(lines) >= 4, "supervisor, rasa, bot service and web"
    for line in lines:
        for secret in secrets:
            assert secret.encode() not in line


def test_rasa_api_refuses_a_token_in_the_url_and_accepts_a_signed_header(
    stack: RunningStack,
) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "hi")
    url = f"{stack.rasa_url}/conversations/{sender}/tracker"
    assert _status(f"{url}?token={stack.token}") == 401
    assert _status(url) == 401
    assert tracker(stack.rasa_url, stack.token, sender)["sender_id"] == sender


def test_var_directory_and_its_files_are_private(stack: RunningStack) -> None:
    assert stack.var_dir.stat().st_mode & 0o777 == 0o700
    for name in ("tracker.db", "haven.db", "actions-secret", "log-secret"):
        path = stack.var_dir / name
        assert path.stat().st_mode & 0o077 == 0, f"{name} is readable by others"


def test_action_server_needs_the_shared_secret(stack: RunningStack) -> None:
    status, reply = post(f"{stack.actions_url}/webhook", b'{"next_action": "action_find_service"}')
    assert status == 401 and reply["error"]
    wrong = urllib.request.Request(
        f"{stack.actions_url}/actions", headers={"Authorization": "Bearer guessed"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(wrong, timeout=10)
    assert refused.value.code == 401
    assert _status(f"{stack.actions_url}/health") == 200
    # …and Rasa, which sends the secret, still runs actions (a search is a custom action).
    assert "Houston, TX" in texts(say(stack.rasa_url, new_sender(), "I need a lawyer in Houston"))


def test_action_server_listens_on_loopback_only(stack: RunningStack) -> None:
    port = int(stack.actions_url.rsplit(":", 1)[1])
    listening = [
        line.split()[1]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == port
    ]
    assert listening == [f"0100007F:{port:04X}"]


def _raw_request(url: str, head: str) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        return sock.recv(4096)


def test_two_megabyte_body_is_refused_at_once_and_others_are_answered(
    stack: RunningStack,
) -> None:
    # The refusal comes from the declared size: no need to send the two megabytes.
    head = (
        "POST /webhooks/rest/webhook HTTP/1.1\r\nHost: haven\r\n"
        "Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
    )
    assert b" 413 " in _raw_request(stack.rasa_url, head).split(b"\r\n", 1)[0]
    body = json.dumps({"sender": new_sender(), "message": "/ " * 1_000_000}).encode()
    try:
        status, _ = post(f"{stack.rasa_url}/webhooks/rest/webhook", body)
        assert status == 413
    except (ConnectionError, urllib.error.URLError):
        pass  # the server may close before the whole body is sent: refused either way
    assert "safe for you to chat" in texts(say(stack.rasa_url, new_sender(), "hi"))


def test_deeply_nested_json_gets_a_400_never_a_500(stack: RunningStack) -> None:
    url = f"{stack.rasa_url}/webhooks/rest/webhook"
    nested = '{"sender": "x", "message": "hi", "metadata": ' + "[" * 30000 + "]" * 30000 + "}"
    status, reply = post(url, nested.encode())
    assert status == 400 and reply["error"]
    payload = '/greet{"a": ' + "[" * 900 + "]" * 900 + "}"
    sender = new_sender()
    replies = say(stack.rasa_url, sender, payload)
    assert texts(replies), "answered as text, not as an injected intent"


def test_a_request_without_sender_is_refused(stack: RunningStack) -> None:
    status, reply = post(f"{stack.rasa_url}/webhooks/rest/webhook", b'{"message": "hi"}')
    assert status == 400 and "sender" in reply["error"]
    assert stored_events(stack.tracker_db, "default") == 0


def test_client_metadata_is_reduced_to_a_language_hint(stack: RunningStack) -> None:
    sender = new_sender()
    metadata = {"language": "es", "name": "Maria Lopez", "phone": "555-0100", "deep": {"a": [1]}}
    say(stack.rasa_url, sender, "hola", metadata=metadata)
    events = tracker(stack.rasa_url, stack.token, sender)["events"]
    stored = [e for e in events if e["event"] == "user"][-1]["metadata"]
    assert stored["language"] == "es"
    # Besides the client's language hint: the channel's own flags ("haven") and, with a
    # translation package installed, the conversation's language read before the turn.
    server_side = {"model_id", "assistant_id", "haven_conversation"}
    assert set(stored) - server_side == {"language", "haven"}, stored
    assert set(stored.get("haven_conversation") or {}) <= {"language", "source"}


def test_rest_replies_are_marked_no_store(stack: RunningStack) -> None:
    body = json.dumps({"sender": new_sender(), "message": "hi"}).encode()
    request = urllib.request.Request(
        f"{stack.rasa_url}/webhooks/rest/webhook",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        assert reply.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("server", "path"),
    [("rasa", "/"), ("rasa", "/version"), ("rasa", "/webhooks/telegram/"),
     ("actions", "/health"), ("web", "/healthz"), ("web", "/api/services")],
)  # fmt: skip
def test_every_process_marks_every_response_no_store(stack: RunningStack, server, path) -> None:
    base = {"rasa": stack.rasa_url, "actions": stack.actions_url, "web": stack.web_url}[server]
    with urllib.request.urlopen(base + path, timeout=60) as reply:
        assert reply.headers["Cache-Control"] == "no-store", (server, path)


def test_servers_keep_idle_connections_longer_than_clients_do(stack: RunningStack) -> None:
    """A client or proxy that reuses a connection after a few idle seconds must find it open
    (Sanic's default closes it after 5 s, which loses requests written at that moment)."""
    targets = {
        "rasa": (stack.rasa_url, "/webhooks/rest/"),
        "bot": (stack.actions_url, "/health"),
        "web": (stack.web_url, "/healthz"),
    }
    answers: dict[str, list[bytes]] = {}

    def idle_then_reuse(name: str, url: str, path: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        head = f"GET {path} HTTP/1.1\r\nHost: haven\r\nConnection: keep-alive\r\n\r\n".encode()
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(head)
            first = sock.recv(4096)
            time.sleep(6.5)
            try:
                sock.sendall(head)
                second = sock.recv(4096)
            except OSError:
                second = b""
        answers[name] = [first, second]

    threads = [threading.Thread(target=idle_then_reuse, args=(n, *t)) for n, t in targets.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, (first, second) in answers.items():
        assert first.startswith(b"HTTP/1.1 200"), name
        assert second.startswith(b"HTTP/1.1 200"), f"{name} closed an idle connection"


async def _burst(url: str, session: aiohttp.ClientSession, count: int) -> list[list]:
    async def conversation() -> list:
        sender = new_sender("burst")
        replies = []
        for text in ("hi", "yes", "what is a T visa"):
            async with session.post(url, json={"sender": sender, "message": text}) as reply:
                replies.append(await reply.json() if reply.status == 200 else [])
        return replies

    return await asyncio.gather(*(conversation() for _ in range(count)))


def test_a_burst_after_a_pause_loses_no_reply(stack: RunningStack) -> None:
    url = f"{stack.rasa_url}/webhooks/rest/webhook"

    async def run() -> list[list]:
        async with aiohttp.ClientSession() as session:  # one pool of keep-alive connections
            first = await _burst(url, session, 20)
            await asyncio.sleep(6)  # past Sanic's default keep-alive
            return first + await _burst(url, session, 20)

    conversations = asyncio.run(run())
    assert all(all(replies) for replies in conversations), "an empty reply came back"


def test_a_failed_deletion_is_retried_and_the_user_is_told(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "hi")
    say(stack.rasa_url, sender, "delete my data")
    before = stored_events(stack.tracker_db, sender)
    blocker = sqlite3.connect(stack.tracker_db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another writer holds the database for a while
    try:
        replies = say(stack.rasa_url, sender, "yes")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert "could not delete" in texts(replies)
    assert "deleted" not in texts(replies).replace("could not delete", "")
    assert stored_events(stack.tracker_db, sender) == before, "still stored, as the user is told"
    say(stack.rasa_url, sender, "delete my data")
    say(stack.rasa_url, sender, "yes")
    assert stored_events(stack.tracker_db, sender) == 0


def test_the_place_of_a_search_is_forgotten_when_the_search_ends(stack: RunningStack) -> None:
    sender = new_sender()
    say(stack.rasa_url, sender, "I need a lawyer in Houston")
    slots = tracker(stack.rasa_url, stack.token, sender)["slots"]
    assert slots["search"]["place"]["label"] == "Houston, TX"
    say(stack.rasa_url, sender, "more results")
    assert tracker(stack.rasa_url, stack.token, sender)["slots"]["search"]["place"]
    say(stack.rasa_url, sender, "what is a T visa")
    assert tracker(stack.rasa_url, stack.token, sender)["slots"]["search"] is None


def test_retention_runs_on_a_timer_without_cron(stack: RunningStack) -> None:
    deadline = time.monotonic() + 30
    while stored_events(stack.tracker_db, EXPIRED_SENDER) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stored_events(stack.tracker_db, EXPIRED_SENDER) == 0
    assert "Retention: removed" in (stack.var_dir / "stack.log").read_text(errors="replace")
