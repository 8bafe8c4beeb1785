"""Messages that reach a conversation outside the user's turn (a case manager's reply, a
staff member joining), kept for channels whose clients cannot be called back: the web chat's
page and REST clients.

Rasa's HTTP API with ``output_channel=latest`` hands such a message to the conversation's
channel's output (``PushedOutput``), which numbers it in the conversation's queue. A client
reads it by long polling (``GET .../events?sender=...&after=N``: answered as soon as
something arrives, else after ``WAIT_SECONDS``) or, over REST, with its next turn's replies.
Only conversation ids with at least 128 random bits may poll: a shorter or guessable id
could let someone read another person's messages. Queued messages are kept for
``KEEP_SECONDS`` and at most ``KEEP_MESSAGES`` per conversation, in this process's memory
(the scale-out work moves them to a shared store).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import OutputChannel

SENDER = re.compile(r"^[A-Za-z0-9_-]{22,64}$")  # at least 128 random bits, base64url
WAIT_SECONDS = 25.0  # a long poll is answered after this long with nothing new
KEEP_SECONDS = 3600.0
KEEP_MESSAGES = 50
MAX_CONVERSATIONS = 10_000


def may_poll(sender: str) -> bool:
    """Whether a conversation id is long and random enough to read its messages by."""
    return bool(SENDER.match(sender))


@dataclass
class _Queue:
    messages: list[tuple[int, float, dict]] = field(default_factory=list)  # (number, at, msg)
    next_number: int = 1
    delivered: int = 0  # over REST: the last number a turn's reply carried
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

    def take_unread(self, sender: str) -> list[dict]:
        """The messages no turn has carried yet (REST: they go out with the next reply)."""
        queue = self._queues.get(sender)
        if queue is None:
            return []
        found, last = self.after(sender, queue.delivered)
        queue.delivered = last
        return found

    def mark_delivered(self, sender: str, number: int) -> None:
        """A long poll carried the messages up to ``number``: no turn repeats them."""
        queue = self._queues.get(sender)
        if queue is not None:
            queue.delivered = max(queue.delivered, number)

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


class PushedOutput(OutputChannel):
    """Queues a message for the client (used for messages outside the user's turn)."""

    def __init__(self, pushed: PushedMessages, channel: str) -> None:
        self.pushed = pushed
        self.channel = channel

    def name(self) -> str:  # type: ignore[override] - one class serves two channels
        return self.channel

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        shown = {k: message[k] for k in ("text", "buttons") if message.get(k)}
        if shown:
            self.pushed.push(recipient_id, {"recipient_id": recipient_id, **shown})
