"""Messages that reach a conversation outside the user's turn (a case manager's reply, a
staff member joining), kept for channels whose clients cannot be called back: the web chat's
page and REST clients.

Rasa's HTTP API with ``output_channel=latest`` hands such a message to the conversation's
channel's output (``PushedOutput``), which numbers it in the conversation's queue. A client
reads it by long polling (``GET .../events?sender=...&after=N``: answered as soon as
something arrives, else after ``WAIT_SECONDS``) or, over REST, with its next turn's replies.
Only conversation ids with at least 128 random bits may poll: a shorter or guessable id
could let someone read another person's messages. Queued messages are kept for
``KEEP_SECONDS`` and at most ``KEEP_MESSAGES`` per conversation: in this process's memory on
one machine, in Redis when ``HAVEN_REDIS_URL`` is set, so that whichever Rasa server the
balancer picks for the poll or the next turn has them (``RedisPushedMessages``; keys carry
a pseudonym of the conversation id and expire on their own).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import OutputChannel

from bot.safety.log_ids import pseudonym
from bot.settings import get_settings

logger = logging.getLogger(__name__)

SENDER = re.compile(r"^[A-Za-z0-9_-]{22,64}$")  # at least 128 random bits, base64url
WAIT_SECONDS = 25.0  # a long poll is answered after this long with nothing new
KEEP_SECONDS = 3600.0
KEEP_MESSAGES = 50
MAX_CONVERSATIONS = 10_000
SHARED_POLL_SECONDS = 0.1  # how often a long poll looks for a message another server queued


def may_poll(sender: str) -> bool:
    """Whether a conversation id is long and random enough to read its messages by."""
    return bool(SENDER.fullmatch(sender))


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

    async def push(self, sender: str, message: dict) -> None:
        queue = self._queue(sender)
        now = time.monotonic()
        queue.messages.append((queue.next_number, now, message))
        queue.next_number += 1
        queue.messages = [m for m in queue.messages if now - m[1] < KEEP_SECONDS]
        queue.messages = queue.messages[-KEEP_MESSAGES:]
        queue.arrived.set()
        queue.arrived = asyncio.Event()

    async def after(self, sender: str, number: int) -> tuple[list[dict], int]:
        """The messages numbered above ``number``, and the number to ask after next."""
        return self._after(sender, number)

    def _after(self, sender: str, number: int) -> tuple[list[dict], int]:
        queue = self._queues.get(sender)
        if queue is None:
            return [], number
        found = [m for m in queue.messages if m[0] > number]
        return [m[2] for m in found], max([number, *(m[0] for m in found)])

    async def take_unread(self, sender: str) -> list[dict]:
        """The messages no turn has carried yet (REST: they go out with the next reply)."""
        queue = self._queues.get(sender)
        if queue is None:
            return []
        found, last = self._after(sender, queue.delivered)
        queue.delivered = last
        return found

    async def mark_delivered(self, sender: str, number: int) -> None:
        """A long poll carried the messages up to ``number``: no turn repeats them."""
        queue = self._queues.get(sender)
        if queue is not None:
            queue.delivered = max(queue.delivered, number)

    async def wait(self, sender: str, number: int, seconds: float) -> tuple[list[dict], int]:
        """``after``, waiting up to ``seconds`` for something new."""
        found, last = self._after(sender, number)
        if found:
            return found, last
        event = self._queue(sender).arrived
        try:
            await asyncio.wait_for(event.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            pass
        return self._after(sender, number)


# KEYS: messages (list of [number, message] JSON), counter, delivered. ARGV: message JSON,
# keep (count), keep (ms). Returns the message's number.
_PUSH = """
local n = redis.call('INCR', KEYS[2])
redis.call('RPUSH', KEYS[1], cjson.encode({n, cjson.decode(ARGV[1])}))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[3])) end
return n
"""

# KEYS: delivered. ARGV: number. Raises "delivered" to ``number``; returns the old value.
_DELIVERED = """
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > old then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
end
return old
"""


class RedisPushedMessages:
    """``PushedMessages`` in Redis, shared by every Rasa server and worker.

    If Redis cannot be reached, this server keeps going on its own queue in memory, as on
    one machine: a message queued then reaches the client through this server (its next
    turn, or a poll that lands here), and a turn is never refused for want of Redis.
    """

    def __init__(self, url: str, channel: str) -> None:
        import redis.asyncio

        self.redis = redis.asyncio.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.channel = channel
        self._push = self.redis.register_script(_PUSH)
        self._delivered = self.redis.register_script(_DELIVERED)
        self._arrived: dict[str, asyncio.Event] = {}  # pushed by this process: wake at once
        self.local = PushedMessages()  # while Redis is unreachable
        self.fallbacks = 0

    def _down(self, error: Exception) -> None:
        self.fallbacks += 1
        logger.warning(
            "Shared message queue unreachable (%s): using this server's", type(error).__name__
        )

    def _keys(self, sender: str) -> list[str]:
        base = f"haven:pushed:{self.channel}:{{{pseudonym(sender)}}}"
        return [f"{base}:messages", f"{base}:counter", f"{base}:delivered"]

    async def push(self, sender: str, message: dict) -> None:
        keep_ms = int(KEEP_SECONDS * 1000)
        args = [json.dumps(message), KEEP_MESSAGES, keep_ms]
        try:
            await self._push(keys=self._keys(sender), args=args)
        except Exception as error:  # noqa: BLE001 - Redis down: keep it here rather than lose it
            self._down(error)
            await self.local.push(sender, message)
        event = self._arrived.pop(sender, None)
        if event is not None:
            event.set()

    async def _rows(self, sender: str) -> list[tuple[int, dict]]:
        rows = await self.redis.lrange(self._keys(sender)[0], 0, -1)
        return [(n, message) for n, message in (json.loads(row) for row in rows)]

    async def after(self, sender: str, number: int) -> tuple[list[dict], int]:
        try:
            rows = await self._rows(sender)
        except Exception as error:  # noqa: BLE001
            self._down(error)
            return await self.local.after(sender, number)
        found = [(n, message) for n, message in rows if n > number]
        return [m for _, m in found], max([number, *(n for n, _ in found)])

    async def take_unread(self, sender: str) -> list[dict]:
        kept_here = await self.local.take_unread(sender)
        try:
            return kept_here + await self._take_unread(sender)
        except Exception as error:  # noqa: BLE001
            self._down(error)
            return kept_here

    async def _take_unread(self, sender: str) -> list[dict]:
        rows = await self._rows(sender)
        if not rows:
            return []
        last = rows[-1][0]
        keep_ms = int(KEEP_SECONDS * 1000)
        old = int(await self._delivered(keys=[self._keys(sender)[2]], args=[last, keep_ms]))
        # Only what this call moved "delivered" past: a poll answered meanwhile keeps its own.
        return [message for n, message in rows if old < n <= last]

    async def mark_delivered(self, sender: str, number: int) -> None:
        try:
            await self._delivered(
                keys=[self._keys(sender)[2]], args=[number, int(KEEP_SECONDS * 1000)]
            )
        except Exception as error:  # noqa: BLE001
            self._down(error)
            await self.local.mark_delivered(sender, number)

    async def wait(self, sender: str, number: int, seconds: float) -> tuple[list[dict], int]:
        deadline = time.monotonic() + seconds
        while True:
            found, last = await self.after(sender, number)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found, last
            event = self._arrived.setdefault(sender, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), timeout=min(SHARED_POLL_SECONDS, left))
            except asyncio.TimeoutError:
                pass


def pushed_messages(channel: str) -> PushedMessages | RedisPushedMessages:
    """The queue for a channel: Redis when ``HAVEN_REDIS_URL`` is set, else this process."""
    url = get_settings().redis_url
    return RedisPushedMessages(url, channel) if url else PushedMessages()


class PushedOutput(OutputChannel):
    """Queues a message for the client (used for messages outside the user's turn)."""

    def __init__(self, pushed: PushedMessages | RedisPushedMessages, channel: str) -> None:
        self.pushed = pushed
        self.channel = channel

    def name(self) -> str:  # type: ignore[override] - one class serves two channels
        return self.channel

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        shown = {k: message[k] for k in ("text", "buttons") if message.get(k)}
        if shown:
            await self.pushed.push(recipient_id, {"recipient_id": recipient_id, **shown})
