"""A tiny REST client for integration tests (what any script talking to Haven would do)."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bot.rasa_api import signed_token


def new_sender(prefix: str = "test") -> str:
    """A fresh conversation id."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def say(rasa_url: str, sender: str, message: Any, metadata: dict | None = None) -> list[dict]:
    """Send one message over the REST channel; return Haven's replies."""
    body = {"sender": sender, "message": message}
    if metadata is not None:
        body["metadata"] = metadata
    status, replies = post(f"{rasa_url}/webhooks/rest/webhook", json.dumps(body).encode())
    assert status == 200, replies
    return replies


def texts(replies: list[dict]) -> str:
    return "\n".join(reply.get("text") or "" for reply in replies)


def payloads(replies: list[dict]) -> list[str]:
    return [button["payload"] for reply in replies for button in reply.get("buttons") or []]


def stored_events(tracker_db: Path, sender: str) -> int:
    with sqlite3.connect(tracker_db) as connection:
        query = "SELECT COUNT(*) FROM events WHERE sender_id = ?"
        return connection.execute(query, (sender,)).fetchone()[0]


def tracker(rasa_url: str, secret: str, sender: str) -> dict:
    """The stored conversation, read through Rasa's HTTP API with a signed token."""
    request = urllib.request.Request(
        f"{rasa_url}/conversations/{sender}/tracker",
        headers={"Authorization": f"Bearer {signed_token(secret)}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def push_bot_message(rasa_url: str, secret: str, sender: str, text: str) -> None:
    """A message outside the user's turn, as the console's relay sends one: a bot event
    through Rasa's HTTP API, handed to the conversation's channel (``output_channel=latest``)."""
    url = (
        f"{rasa_url}/conversations/{sender}/tracker/events"
        "?output_channel=latest&execute_side_effects=true"
    )
    event = {"event": "bot", "text": text, "timestamp": time.time()}
    request = urllib.request.Request(
        url, data=json.dumps([event]).encode(), method="POST",
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {signed_token(secret)}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as reply:
        assert reply.status == 200
