"""Health of Haven's three processes and of what each depends on.

Every process answers two URLs with the same JSON body::

    {"status": "ok", "process": "web", "version": "...",
     "dependencies": {"app_database": "ok", "rasa_server": "ok", "redis": "not configured"}}

or, when a configured dependency does not answer, ``"status": "degraded"`` and
``"down": ["redis"]``. Each dependency is ``"ok"``, ``"down"`` or ``"not configured"``.

- The liveness URL (Rasa ``/healthz``, bot service ``/health``, web ``/healthz``) always
  answers 200 while the process runs: restart the process only when it stops answering.
  (``haven run`` waits for Rasa's ``GET /webhooks/rest/``, which answers 200 once a model is
  loaded, and for the other two liveness URLs.)
- ``GET /readyz`` answers 200 when every configured dependency is "ok" and 503 otherwise:
  what a load balancer uses to take a server out of rotation.

What is checked:

- Rasa server: ``model`` (loaded), ``tracker_store`` (its database answers ``SELECT 1``),
  ``lock_store`` (Redis answers; "not configured" when the locks are in memory),
  ``action_server`` (the bot service's ``/health`` answers 200), ``redis``
  (``HAVEN_REDIS_URL``);
- bot service: ``app_database``, ``redis``;
- web process: ``app_database``, ``rasa_server`` (``GET /webhooks/rest/`` is 200), ``redis``.

Checks run concurrently, each limited to ``CHECK_SECONDS``, so an answer takes about a
second at most. Database and Redis pings run in a thread, never on the event loop. A check
still running when the next request comes is awaited again, not started twice, so a hung
dependency holds one thread per check, however often the URLs are polled. A dependency that
goes down (or comes back) is logged once, with the error's type only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import sqlalchemy as sa
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot import __version__
from bot.settings import get_settings

logger = logging.getLogger(__name__)

OK, DOWN, NOT_CONFIGURED = "ok", "down", "not configured"
CHECK_SECONDS = 1.0
LIVENESS_PATHS = {"rasa": "/healthz", "bot": "/health", "web": "/healthz"}

Check = Callable[[], Awaitable[str]]


class Probe:
    """One dependency's check: at most one attempt in flight per event loop, at most
    ``CHECK_SECONDS`` of waiting per request, state changes logged."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._pending: asyncio.Future | None = None
        self._last: str | None = None

    async def run(self, attempt: Callable[[], Awaitable[str]]) -> str:
        pending, loop = self._pending, asyncio.get_running_loop()
        if pending is None or pending.done() or pending.get_loop() is not loop:
            pending = self._pending = asyncio.ensure_future(attempt())
        try:
            state = await asyncio.wait_for(asyncio.shield(pending), CHECK_SECONDS)
            error = None
        except Exception as failure:  # noqa: BLE001 - any failure (or the time limit): down
            state, error = DOWN, type(failure).__name__
        self._note(state, error)
        return state

    def _note(self, state: str, error: str | None) -> None:
        if state == self._last:
            return
        if state == DOWN:
            logger.warning("Dependency %s is down (%s)", self.name, error or "no answer")
        elif self._last == DOWN:  # a warning too: shown wherever the first line was
            logger.warning("Dependency %s is back", self.name)
        self._last = state


def _select_one(engine: sa.engine.Engine) -> None:
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


async def sql_ok(engine: sa.engine.Engine) -> str:
    await asyncio.to_thread(_select_one, engine)
    return OK


def _redis_ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=CHECK_SECONDS, socket_timeout=CHECK_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()


async def redis_ok(url: str) -> str:
    if not url:
        return NOT_CONFIGURED
    await asyncio.to_thread(_redis_ping, url)
    return OK


async def http_ok(url: str, session: aiohttp.ClientSession | None = None) -> str:
    """OK when ``url`` answers 200 (within the check's time)."""
    timeout = aiohttp.ClientTimeout(total=CHECK_SECONDS)
    if session is None or session.closed:
        async with aiohttp.ClientSession(timeout=timeout) as own:
            return await http_ok(url, own)
    async with session.get(url, timeout=timeout) as reply:
        return OK if reply.status == 200 else DOWN


def _app_database() -> str:
    return get_settings().database_url


async def app_database_ok() -> str:
    from bot.db.engine import get_engine

    return await sql_ok(get_engine(_app_database()))


# --- what each process depends on --------------------------------------------------------


def _unwrap_tracker_store(store: Any) -> Any:
    """Rasa wraps the configured tracker store (fail-safe, awaitable): the one inside."""
    for _ in range(5):
        inner = getattr(store, "_tracker_store", None)
        if inner is None:
            break
        store = inner
    return store


async def tracker_store_ok(app: Sanic) -> str:
    agent = getattr(app.ctx, "agent", None)
    store = _unwrap_tracker_store(getattr(agent, "tracker_store", None))
    if store is None:  # no model loaded yet: the configured database
        from bot.db.engine import get_engine

        return await sql_ok(get_engine(get_settings().tracker_store_url))
    if getattr(store, "engine", None) is not None:  # SQL
        return await sql_ok(store.engine)
    red = getattr(store, "red", None)  # Rasa's Redis tracker store
    if red is not None:
        await asyncio.to_thread(red.ping)
    return OK  # in memory (or a kind that cannot be pinged): it is this process


async def lock_store_ok(app: Sanic) -> str:
    agent = getattr(app.ctx, "agent", None)
    store = getattr(agent, "lock_store", None)
    if store is None:
        return DOWN if get_settings().redis_url else NOT_CONFIGURED
    if getattr(store, "shared", None) is False:  # Haven's lock store, in memory
        return NOT_CONFIGURED
    ping = getattr(store, "ping", None)
    if ping is not None and asyncio.iscoroutinefunction(ping):  # Haven's lock store, Redis
        return OK if await ping() else DOWN
    red = getattr(store, "red", None)  # Rasa's RedisLockStore
    if red is not None:
        await asyncio.to_thread(red.ping)
        return OK
    return NOT_CONFIGURED  # Rasa's in-memory lock store


async def action_server_ok(app: Sanic) -> str:
    agent = getattr(app.ctx, "agent", None)
    endpoint = getattr(agent, "action_endpoint", None)
    url = getattr(endpoint, "url", None) or get_settings().action_endpoint_url
    if not url:
        return NOT_CONFIGURED
    base = url[: -len("/webhook")] if url.rstrip("/").endswith("/webhook") else url
    return await http_ok(base.rstrip("/") + "/health")


async def model_ok(app: Sanic) -> str:
    agent = getattr(app.ctx, "agent", None)
    return OK if agent is not None and agent.is_ready() else DOWN


async def rasa_server_ok(app: Sanic) -> str:
    url = get_settings().rasa_internal_url.rstrip("/") + "/webhooks/rest/"
    return await http_ok(url, getattr(app.ctx, "rasa", None))


def checks_for(process: str, app: Sanic) -> dict[str, Check]:
    """The dependencies ``process`` reports, each a check to run."""
    redis_url = get_settings().redis_url
    redis_check: Check = lambda: redis_ok(redis_url)  # noqa: E731
    if process == "rasa":
        return {
            "model": lambda: model_ok(app),
            "tracker_store": lambda: tracker_store_ok(app),
            "lock_store": lambda: lock_store_ok(app),
            "action_server": lambda: action_server_ok(app),
            "redis": redis_check,
        }
    if process == "bot":
        return {"app_database": app_database_ok, "redis": redis_check}
    if process == "web":
        return {
            "app_database": app_database_ok,
            "rasa_server": lambda: rasa_server_ok(app),
            "redis": redis_check,
        }
    raise ValueError(f"unknown process {process!r}")


async def report(process: str, checks: dict[str, Check], probes: dict[str, Probe]) -> dict:
    """Run every check at once; the health body."""
    names = list(checks)
    states = await asyncio.gather(*(probes[name].run(checks[name]) for name in names))
    dependencies = dict(zip(names, states, strict=True))
    down = [name for name, state in dependencies.items() if state == DOWN]
    body: dict[str, Any] = {
        "status": "degraded" if down else "ok",
        "process": process,
        "version": __version__,
        "dependencies": dependencies,
    }
    if down:
        body["down"] = down
    return body


def install(app: Sanic, process: str) -> None:
    """Add ``/readyz`` and the liveness URL (``LIVENESS_PATHS``) to ``process``'s app.
    The bot service's ``/health`` is rasa-sdk's own route: it is answered by a request
    middleware before that route is reached."""
    probes: dict[str, Probe] = {}

    async def body() -> dict:
        checks = checks_for(process, app)
        for name in checks:
            probes.setdefault(name, Probe(f"{process}:{name}"))
        return await report(process, checks, probes)

    async def readyz(request: Request) -> HTTPResponse:
        found = await body()
        return response.json(found, status=503 if "down" in found else 200)

    async def liveness(request: Request) -> HTTPResponse:
        return response.json(await body())

    app.add_route(readyz, "/readyz", methods=["GET"], name="haven_readyz")
    path = LIVENESS_PATHS[process]
    if process == "bot":

        async def answer_health(request: Request) -> HTTPResponse | None:
            if request.path == path and request.method == "GET":
                return await liveness(request)
            return None

        app.register_middleware(answer_health, "request")
    else:
        app.add_route(liveness, path, methods=["GET"], name="haven_liveness")
