"""What several processes must share, the same in memory (one machine) and in Redis
(several servers; two objects play two servers): messages between turns (a case manager's),
kept for the client, and the console's sign-in limit per address."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.pushed import KEEP_MESSAGES, PushedMessages, RedisPushedMessages
from bot.web.staff import LoginLimiter, RedisLoginLimiter
from tests import redis_server

SENDER = "Zk3v9QeP0bW7xY2mLr5TfA"


@pytest.fixture(scope="module")
def redis_url():
    if not redis_server.available():
        pytest.skip("redis-server not installed")
    with redis_server.redis_server() as server:
        yield server.url


@pytest.fixture(params=["memory", "redis"])
def two_servers(request):
    """Two queues that must behave as one: the same object in memory, two Redis clients."""
    if request.param == "memory":
        queue = PushedMessages()
        return queue, queue
    url = request.getfixturevalue("redis_url")
    channel = f"test{request.node.name.__hash__() & 0xFFFF}"
    return RedisPushedMessages(url, channel), RedisPushedMessages(url, channel)


def test_messages_are_numbered_and_read_after_a_number(two_servers) -> None:
    one, other = two_servers

    async def run():
        await one.push(SENDER, {"text": "first"})
        await other.push(SENDER, {"text": "second"})
        return await other.after(SENDER, 0), await one.after(SENDER, 1), await one.after(SENDER, 2)

    everything, later, nothing = asyncio.run(run())
    assert everything == ([{"text": "first"}, {"text": "second"}], 2)
    assert later == ([{"text": "second"}], 2)
    assert nothing == ([], 2)


def test_a_turn_carries_each_message_once_and_not_what_a_poll_delivered(two_servers) -> None:
    one, other = two_servers

    async def run():
        await one.push(SENDER, {"text": "a"})
        first = await other.take_unread(SENDER)
        again = await one.take_unread(SENDER)
        await one.push(SENDER, {"text": "b"})
        await other.mark_delivered(SENDER, 2)  # a long poll carried "b"
        after_poll = await one.take_unread(SENDER)
        await other.push(SENDER, {"text": "c"})
        return first, again, after_poll, await one.take_unread(SENDER)

    assert asyncio.run(run()) == ([{"text": "a"}], [], [], [{"text": "c"}])


def test_a_long_poll_wakes_for_a_message_queued_by_another_server(two_servers) -> None:
    one, other = two_servers

    async def run():
        async def later():
            await asyncio.sleep(0.3)
            await other.push(SENDER, {"text": "a case manager's reply"})

        pushing = asyncio.create_task(later())
        started = asyncio.get_running_loop().time()
        found = await one.wait(SENDER, 0, seconds=10)
        await pushing
        return found, asyncio.get_running_loop().time() - started

    (messages, last), waited = asyncio.run(run())
    assert messages == [{"text": "a case manager's reply"}] and last == 1
    assert 0.25 < waited < 5


def test_a_poll_with_nothing_new_returns_after_its_wait(two_servers) -> None:
    one, _ = two_servers
    assert asyncio.run(one.wait("nobody-" + SENDER, 0, seconds=0.2)) == ([], 0)


def test_only_the_newest_messages_are_kept(two_servers) -> None:
    one, other = two_servers

    async def run():
        for n in range(KEEP_MESSAGES + 5):
            await one.push(SENDER, {"text": str(n)})
        return await other.after(SENDER, 0)

    messages, last = asyncio.run(run())
    assert len(messages) == KEEP_MESSAGES and messages[-1] == {"text": str(KEEP_MESSAGES + 4)}
    assert last == KEEP_MESSAGES + 5


def test_redis_keys_hold_no_conversation_id_and_expire(redis_url) -> None:
    import redis

    queue = RedisPushedMessages(redis_url, "privacy")
    asyncio.run(queue.push(SENDER, {"text": "x"}))
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("haven:pushed:privacy:*")
    assert keys and not any(SENDER.encode() in key for key in keys)
    assert all(0 < client.pttl(key) <= 3600 * 1000 for key in keys)


@pytest.fixture(params=["memory", "redis"])
def two_web_processes(request):
    if request.param == "memory":
        limiter = LoginLimiter(limit=3, window=60)
        return limiter, limiter
    url = request.getfixturevalue("redis_url")
    return RedisLoginLimiter(url, limit=3, window=60), RedisLoginLimiter(url, limit=3, window=60)


def test_failed_sign_ins_count_across_web_processes(two_web_processes) -> None:
    one, other = two_web_processes

    async def run():
        seen = []
        for limiter in (one, other, one):
            seen.append(await other.blocked("203.0.113.7"))
            await limiter.failed("203.0.113.7")
        return seen, await one.blocked("203.0.113.7"), await other.blocked("198.51.100.2")

    assert asyncio.run(run()) == ([False, False, False], True, False)


def test_the_sign_in_limit_keeps_no_address_in_redis(redis_url) -> None:
    import redis

    asyncio.run(RedisLoginLimiter(redis_url).failed("203.0.113.9"))
    keys = redis.Redis.from_url(redis_url).keys("haven:login-failures:*")
    assert keys and not any(b"203.0.113.9" in key for key in keys)


def test_with_redis_down_sign_in_is_not_refused_for_that_alone() -> None:
    limiter = RedisLoginLimiter("redis://127.0.0.1:9/0", limit=1)

    async def run():
        await limiter.failed("203.0.113.7")
        return await limiter.blocked("203.0.113.7")

    assert asyncio.run(run()) is False


def test_with_redis_down_a_message_between_turns_is_kept_on_this_server() -> None:
    """A staff reply queued while Redis is unreachable is not lost: this server keeps it and
    gives it with the next turn; reading never fails the turn."""
    queue = RedisPushedMessages("redis://127.0.0.1:9/0", "down")

    async def run():
        await queue.push(SENDER, {"text": "still here"})
        return await queue.take_unread(SENDER), await queue.take_unread(SENDER)

    first, again = asyncio.run(run())
    assert first == [{"text": "still here"}] and again == [] and queue.fallbacks >= 2
