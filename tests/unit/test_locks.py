"""The lock store: one conversation at a time, in arrival order, across "servers" (two
store instances on one real Redis, as two Rasa processes would have) and without Redis."""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

import pytest

from bot.db.locks import HavenLockStore
from tests import redis_server

needs_redis = pytest.mark.skipif(not redis_server.available(), reason="redis-server not installed")


@pytest.fixture(scope="module")
def redis_url():
    with redis_server.redis_server() as server:
        yield server.url


class ObservedLockStore(HavenLockStore):
    """The store with a hook: ``ticketed`` is set once a message has its place in line."""

    async def _wait_for_turn(self, keys: list[str], ticket: int) -> None:
        ticketed = current_ticketed.get(None)
        if ticketed is not None:
            ticketed.set()
        await super()._wait_for_turn(keys, ticket)


current_ticketed: ContextVar[asyncio.Event] = ContextVar("current_ticketed")


async def _hammer(
    stores: list[HavenLockStore], conversations: int, messages: int, in_line: bool = False
) -> dict:
    """Many messages per conversation, spread over the stores: all at once, or (``in_line``)
    each sent once the one before has its place in line (as a person types, and as two
    servers receive them); records who held a conversation's lock at the same time and the
    order they ran in."""
    inside: dict[str, int] = {}
    overlaps: list[str] = []
    order: dict[str, list[int]] = {}

    async def one(conversation: str, number: int, ticketed: asyncio.Event) -> None:
        current_ticketed.set(ticketed)
        store = stores[number % len(stores)]
        async with store.lock(conversation):
            inside[conversation] = inside.get(conversation, 0) + 1
            if inside[conversation] > 1:
                overlaps.append(conversation)
            order.setdefault(conversation, []).append(number)
            await asyncio.sleep(0.01)
            inside[conversation] -= 1

    tasks = []
    for number in range(messages):
        events = [asyncio.Event() for _ in range(conversations)]
        for c, ticketed in enumerate(events):
            tasks.append(asyncio.create_task(one(f"conversation-{c}", number, ticketed)))
        if in_line:
            await asyncio.gather(*(event.wait() for event in events))
    await asyncio.gather(*tasks)
    return {"overlaps": overlaps, "order": order}


@pytest.fixture(params=["redis", "sqlite"])
def shared_store(request, tmp_path):
    """How two processes share tickets: Redis (several servers) or one machine's file."""
    if request.param == "redis":
        if not redis_server.available():
            pytest.skip("redis-server not installed")
        url = request.getfixturevalue("redis_url")
        return lambda: ObservedLockStore(redis_url=url)
    path = str(tmp_path / "locks.db")
    return lambda: ObservedLockStore(redis_url="", sqlite_path=path)


@pytest.mark.parametrize("in_line", [False, True])
def test_two_servers_never_hold_one_conversation_at_once_and_keep_arrival_order(
    shared_store, in_line
):
    """All at once: never two at a time, none lost. In line: exactly arrival order."""

    async def run() -> dict:
        stores = [shared_store(), shared_store()]
        assert all(store.shared for store in stores)
        return await _hammer(stores, conversations=5, messages=12, in_line=in_line)

    result = asyncio.run(run())
    assert result["overlaps"] == []
    for order in result["order"].values():
        assert sorted(order) == list(range(12))
        if in_line:
            assert order == list(range(12))


@needs_redis
def test_the_lock_leaves_no_key_and_no_conversation_id_in_redis(redis_url):
    import redis

    async def run() -> None:
        store = HavenLockStore(redis_url=redis_url)
        async with store.lock("+15551234567"):
            keys = redis.Redis.from_url(redis_url).keys("*")
            assert keys and not any(b"15551234567" in key for key in keys)

    asyncio.run(run())
    assert redis.Redis.from_url(redis_url).keys("haven:lock:*") == []


def test_an_expired_ticket_frees_the_conversation(shared_store):
    """A server that dies holding the lock delays its conversation by the lifetime only."""

    async def run() -> float:
        store = shared_store()
        keys = store._keys("dead-server")
        await store._take_ticket(keys, 0.3)  # taken by a server that never gives it back
        started = asyncio.get_running_loop().time()
        async with store.lock("dead-server"):
            return asyncio.get_running_loop().time() - started

    assert asyncio.run(run()) >= 0.25


def test_with_redis_down_messages_are_still_answered_in_order():
    """A Redis URL nobody answers on: each message falls back to this server's own lock."""

    async def run() -> tuple[dict, int]:
        store = HavenLockStore(redis_url="redis://127.0.0.1:9/0")
        result = await _hammer([store], conversations=2, messages=4)
        return result, store.fallbacks

    result, fallbacks = asyncio.run(run())
    assert result["overlaps"] == [] and fallbacks == 8
    assert all(sorted(order) == list(range(4)) for order in result["order"].values())


def test_without_redis_locks_are_in_memory_first_come_first_served():
    async def run() -> dict:
        store = HavenLockStore(redis_url="")
        assert not store.shared
        result = await _hammer([store], conversations=3, messages=10)
        assert store.local._locks == {}  # nothing left behind
        return result

    result = asyncio.run(run())
    assert result["overlaps"] == []
    assert all(order == list(range(10)) for order in result["order"].values())


def test_sqlite_tickets_leave_nothing_behind(tmp_path):
    import sqlite3

    path = tmp_path / "locks.db"

    async def run() -> None:
        store = HavenLockStore(redis_url="", sqlite_path=str(path))
        async with store.lock("+15551234567"):
            pass

    asyncio.run(run())
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM ticket").fetchone() == (0,)
