"""The web chat's channel on the Rasa server: the REST channel's rules, plus messages that
arrive later.

The page (served by the web process, which forwards ``/chat/*`` here so the browser only
ever talks to the page's own origin) sends each message to ``POST /webhooks/webchat/webhook``
and gets the replies of that turn, exactly as over REST. It also keeps one request open to
``GET /webhooks/webchat/events?sender=...&after=N`` (long polling: answered as soon as
something arrives, else after ``WAIT_SECONDS``) for messages that start outside the user's
turn: Rasa's HTTP API with ``output_channel=webchat`` (a staff reply, a reminder) puts them
in the conversation's queue here. Why not Rasa's socket.io channel: its client library
would have to be served from the project too, it keeps no messages for a page that is
reconnecting, and it bypasses the shared input handling; two plain HTTP requests need
nothing on the page but ``fetch``.

The conversation id is made by the page (``crypto.getRandomValues``, 128 bits) and kept in
the page's memory only: it is what lets a browser read its conversation's messages, so a
shorter or guessable one is refused. Queued messages are kept for ``KEEP_SECONDS`` and at
most ``KEEP_MESSAGES`` per conversation, in this process's memory (a shared store is
needed before several Rasa servers serve the web chat).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.rest import HavenRestInput

SENDER = re.compile(r"^[A-Za-z0-9_-]{22,64}$")  # at least 128 random bits, base64url
WAIT_SECONDS = 25.0  # a long poll is answered after this long with nothing new
KEEP_SECONDS = 3600.0
KEEP_MESSAGES = 50
MAX_CONVERSATIONS = 10_000


@dataclass
class _Queue:
    messages: list[tuple[int, float, dict]] = field(default_factory=list)  # (number, at, msg)
    next_number: int = 1
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class PushedMessages:
    """Messages for each conversation that arrived outside the user's turn, numbered."""

    def __init__(self) -> None:
        self._queues: OrderedDict[str, _Queue] = OrderedDict()

    def _queue(self, sender: str) -> _Queue:
        queue = self._queues.get(sender)
        if queue is None:
            queue = self._queues[sender] = _Queue()
            while len(self._queues) > MAX_CONVERSATIONS:
                self._queues.popitem(last=False)
        self._queues.move_to_end(sender)
        return queue

    def push(self, sender: str, message: dict) -> None:
        queue = self._queue(sender)
        now = time.monotonic()
        queue.messages.append((queue.next_number, now, message))
        queue.next_number += 1
        queue.messages = [m for m in queue.messages if now - m[1] < KEEP_SECONDS]
        queue.messages = queue.messages[-KEEP_MESSAGES:]
        queue.arrived.set()
        queue.arrived = asyncio.Event()

    def after(self, sender: str, number: int) -> tuple[list[dict], int]:
        """The messages numbered above ``number``, and the number to ask after next."""
        queue = self._queues.get(sender)
        if queue is None:
            return [], number
        found = [m for m in queue.messages if m[0] > number]
        return [m[2] for m in found], max([number, *(m[0] for m in found)])

    async def wait(self, sender: str, number: int, seconds: float) -> tuple[list[dict], int]:
        """``after``, waiting up to ``seconds`` for something new."""
        found, last = self.after(sender, number)
        if found:
            return found, last
        event = self._queue(sender).arrived
        try:
            await asyncio.wait_for(event.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass
        return self.after(sender, number)


class WebChatOutput(OutputChannel):
    """Queues a message for the page (used for messages outside the user's turn)."""

    def __init__(self, pushed: PushedMessages) -> None:
        self.pushed = pushed

    @classmethod
    def name(cls) -> str:
        return "webchat"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        shown = {k: message[k] for k in ("text", "buttons") if message.get(k)}
        if shown:
            self.pushed.push(recipient_id, {"recipient_id": recipient_id, **shown})


LANGUAGE_HEADER = "X-Haven-Language"


class HavenWebChatInput(HavenRestInput):
    """The web chat: a turn over HTTP as over REST (page-made conversation ids only),
    later messages by long polling."""

    def __init__(self) -> None:
        self.pushed = PushedMessages()

    @classmethod
    def name(cls) -> str:
        return "webchat"

    def accepts_sender(self, sender: str) -> bool:
        return bool(SENDER.match(sender))

    def get_output_channel(self) -> OutputChannel:
        return WebChatOutput(self.pushed)

    async def turn_headers(self, app: Any, sender: str) -> dict[str, str]:
        """The conversation's language after the turn, so the page follows it (an Arabic
        message turns the page right to left, in Arabic)."""
        return {LANGUAGE_HEADER: await self.conversation_language(app, sender)}

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webchat = super().blueprint(on_new_message)

        @webchat.route("/events", methods=["GET"])
        async def events(request: Request) -> HTTPResponse:
            sender = request.args.get("sender") or ""
            if not self.accepts_sender(sender):
                return response.json({"error": "Unknown conversation."}, status=400)
            try:
                after = max(0, int(request.args.get("after") or 0))
            except ValueError:
                return response.json({"error": '"after" must be a whole number.'}, status=400)
            wait = WAIT_SECONDS if request.args.get("wait", "1") != "0" else 0.0
            found, last = await self.pushed.wait(sender, after, wait)
            return response.json({"messages": found, "last": last})

        return webchat
