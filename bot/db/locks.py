"""Haven's lock store: one conversation is handled by one server at a time, in arrival order.

Rasa takes a per-conversation lock around every message and every HTTP API call on a
conversation (``lock_store.lock``). Rasa's own stores fall short in two ways here:

- ``RedisLockStore`` reads the whole lock, changes it in Python and writes it back. Two
  servers taking a ticket for the same conversation at the same moment can both read "no
  tickets", both take ticket 0 and both run: the messages race and one reply can be lost.
  The same read-change-write in its clean-up can delete a ticket another server has just
  taken, which then fails with ``LockError`` (a 500 and a lost message).
- Both stores check for their turn once a second: two quick messages of one conversation
  wait a whole second.

Here each step is one Redis script, so it is atomic across every server and worker: take a
ticket (``INCR``, numbered in arrival order), "is it my turn?" (after dropping expired
tickets), and give it back (the last one out removes the keys). The turn is checked every
10 ms at first, backing off to 50 ms. Tickets expire after ``TICKET_LOCK_LIFETIME`` seconds
(Rasa's variable, default 60): a server that dies holding one delays its conversation by
that long at most. Keys carry a pseudonym of the conversation id, never the id itself, and
vanish on their own after twice the lifetime.

Without ``HAVEN_REDIS_URL``, on one machine: with one Rasa process the locks are
first-come first-served ``asyncio.Lock``s in memory; with several Sanic workers
(``HAVEN_RASA_WORKERS``) the same tickets live in a small SQLite file, ``var/locks.db``,
shared by the workers of this machine (each step one short write transaction). If the
shared store cannot be reached, a server falls back to memory for the message at hand and
logs it (counts only): the conversation is still answered, in order within that process;
across processes order is only guaranteed again once the store is back.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore

from bot.safety.log_ids import pseudonym
from bot.settings import get_settings

logger = logging.getLogger(__name__)

FIRST_POLL_SECONDS = 0.01
LAST_POLL_SECONDS = 0.05
REDIS_TIMEOUT_SECONDS = 2.0
KEY_PREFIX = "haven:lock:"

# KEYS: tickets (sorted set, score = number), expiries (hash number -> ms), counter.
# ARGV: lifetime in ms. Returns the new ticket's number.
_ISSUE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local n = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], n, n)
redis.call('HSET', KEYS[2], n, now + tonumber(ARGV[1]))
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], 2 * tonumber(ARGV[1])) end
return n
"""

# KEYS as above; ARGV: ticket. Returns 0 (your turn), -1 (your ticket expired) or how many
# tickets are ahead of it.
_TURN = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < now then
    redis.call('HDEL', KEYS[2], all[i])
    redis.call('ZREM', KEYS[1], all[i])
  end
end
local rank = redis.call('ZRANK', KEYS[1], ARGV[1])
if not rank then return -1 end
return rank
"""

# KEYS as above; ARGV: ticket. The last ticket out removes every key of the lock.
_RELEASE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end
return 1
"""


class LocalLocks:
    """First-come first-served locks per conversation, in this process's memory."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class SqliteTickets:
    """The ticket steps of the Redis scripts, on a SQLite file shared by one machine's
    processes. Each step is one transaction that takes the write lock first (``BEGIN
    IMMEDIATE``), so two workers never take the same number; numbers only grow
    (``AUTOINCREMENT``), so they are served in the order they were taken."""

    def __init__(self, path: str) -> None:
        self.path = path
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS ticket (number INTEGER PRIMARY KEY AUTOINCREMENT,"
                " conversation TEXT NOT NULL, expires REAL NOT NULL)"
            )
            connection.execute("CREATE INDEX IF NOT EXISTS ix_ticket ON ticket (conversation)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=REDIS_TIMEOUT_SECONDS, isolation_level=None)

    def _transaction(self, work: Any) -> Any:
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            result = work(connection)
            connection.execute("COMMIT")
            return result
        finally:
            connection.close()

    def issue(self, key: str, lifetime: float) -> int:
        def work(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "INSERT INTO ticket (conversation, expires) VALUES (?, ?)",
                (key, time.time() + lifetime),
            )
            return int(cursor.lastrowid)

        return self._transaction(work)

    def turn(self, key: str, ticket: int) -> int:
        def work(connection: sqlite3.Connection) -> int:
            connection.execute("DELETE FROM ticket WHERE expires < ?", (time.time(),))
            numbers = [n for (n,) in connection.execute(
                "SELECT number FROM ticket WHERE conversation = ? ORDER BY number", (key,)
            )]  # fmt: skip
            return numbers.index(ticket) if ticket in numbers else -1

        return self._transaction(work)

    def release(self, key: str, ticket: int) -> None:
        self._transaction(lambda c: c.execute("DELETE FROM ticket WHERE number = ?", (ticket,)))


class HavenLockStore(LockStore):
    """Atomic ticket locks in Redis when ``HAVEN_REDIS_URL`` is set; else, with several
    workers, in ``var/locks.db``; else in memory."""

    def __init__(
        self,
        endpoint_config: Any = None,
        redis_url: str | None = None,
        sqlite_path: str | None = None,
    ) -> None:
        super().__init__()
        settings = get_settings()
        url = settings.redis_url if redis_url is None else redis_url
        self.local = LocalLocks()
        self.redis = None
        self.tickets: SqliteTickets | None = None
        if not url and sqlite_path is None and settings.rasa_workers > 1:
            sqlite_path = str(settings.var_dir / "locks.db")
        if not url and sqlite_path:
            self.tickets = SqliteTickets(sqlite_path)
        if url:
            import redis.asyncio

            self.redis = redis.asyncio.Redis.from_url(
                url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self._issue = self.redis.register_script(_ISSUE)
            self._turn = self.redis.register_script(_TURN)
            self._release = self.redis.register_script(_RELEASE)
        self.fallbacks = 0  # messages handled with a local lock because Redis was down

    @property
    def shared(self) -> bool:
        """Whether the locks hold across processes (Redis, or this machine's SQLite file)."""
        return self.redis is not None or self.tickets is not None

    @staticmethod
    def _keys(conversation_id: str) -> list[str]:
        # One hash tag per conversation: all three keys live on one Redis Cluster shard.
        base = f"{KEY_PREFIX}{{{pseudonym(conversation_id)}}}"
        return [f"{base}:tickets", f"{base}:expires", f"{base}:counter"]

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncIterator[TicketLock]:
        """Hold the conversation's lock for the block (Rasa's interface; the wait between
        checks is Haven's own, shorter than ``wait_time_in_seconds``)."""
        if not self.shared:
            async with self.local.hold(conversation_id):
                yield TicketLock(conversation_id)
            return
        keys = self._keys(conversation_id)
        try:
            ticket = await self._take_ticket(keys, lock_lifetime)
            await self._wait_for_turn(keys, ticket)
        except LockError:
            raise
        except Exception as error:  # noqa: BLE001 - Redis down or timing out: answer anyway
            self.fallbacks += 1
            logger.warning(
                "Lock store unreachable (%s): this message is ordered by this server only",
                type(error).__name__,
            )
            async with self.local.hold(conversation_id):
                yield TicketLock(conversation_id)
            return
        try:
            yield TicketLock(conversation_id)
        finally:
            try:
                await self._give_back(keys, ticket)
            except Exception as error:  # noqa: BLE001 - the ticket expires on its own
                logger.warning("Could not release a lock (%s)", type(error).__name__)

    async def _take_ticket(self, keys: list[str], lifetime: float) -> int:
        if self.tickets is not None:
            return await asyncio.to_thread(self.tickets.issue, keys[0], lifetime)
        return int(await self._issue(keys=keys, args=[int(lifetime * 1000)]))

    async def _ahead(self, keys: list[str], ticket: int) -> int:
        if self.tickets is not None:
            return await asyncio.to_thread(self.tickets.turn, keys[0], ticket)
        return int(await self._turn(keys=keys, args=[ticket]))

    async def _give_back(self, keys: list[str], ticket: int) -> None:
        if self.tickets is not None:
            await asyncio.to_thread(self.tickets.release, keys[0], ticket)
        else:
            await self._release(keys=keys, args=[ticket])

    async def _wait_for_turn(self, keys: list[str], ticket: int) -> None:
        pause = FIRST_POLL_SECONDS
        while True:
            ahead = await self._ahead(keys, ticket)
            if ahead == 0:
                return
            if ahead < 0:
                raise LockError("A conversation's lock ticket expired while it waited")
            await asyncio.sleep(pause)
            pause = min(LAST_POLL_SECONDS, pause * 1.5)

    async def ping(self) -> bool:
        """Whether Redis answers (True when none is configured: nothing to reach)."""
        if self.redis is None:
            return True
        try:
            return bool(await self.redis.ping())
        except Exception:  # noqa: BLE001 - any failure means "down"
            return False

    # Rasa's synchronous per-lock interface is not used with this store (every caller in
    # Rasa 3.6 goes through ``lock``); refuse loudly rather than half-work.
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        raise NotImplementedError("HavenLockStore is used through lock() only")

    def delete_lock(self, conversation_id: str) -> None:
        raise NotImplementedError("HavenLockStore is used through lock() only")

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError("HavenLockStore is used through lock() only")
