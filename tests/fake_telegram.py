"""A fake Telegram Bot API server on 127.0.0.1 for tests: real HTTP, recorded calls.

Haven's Telegram channel talks to it exactly as to api.telegram.org (python-telegram-bot's
``Bot(base_url=...)``): ``POST /bot<token>/<method>`` with form or JSON parameters,
answered ``{"ok": true, "result": ...}``. It records every call, queues updates for
``getUpdates`` (long polling), and can answer the next calls of a method with
``429 Too Many Requests`` and a ``retry_after`` (``throttle``) or with a server error such as
``502 Bad Gateway`` (``fail``), as Telegram does under load or during an outage. It runs in
a thread with its own event loop, so a test (or ``make run`` by hand) can use it while the
Rasa server calls it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Haven test", "username": "haven_test_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when received
    status: int = 200


@dataclass
class FakeTelegram:
    """The server's state; every method is safe to call from the test's thread."""

    token: str = "123456:TEST-token"
    calls: list[Call] = field(default_factory=list)
    _updates: list[dict] = field(default_factory=list)
    # method → what its next calls get: (status, retry_after); 200 lets a call through
    _faults: dict[str, list[tuple[int, int | None]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _message_ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    url: str = ""
    closing: bool = False  # set on shutdown: pending long polls answer at once

    # ------------------------------------------------------------- test helpers

    @property
    def base_url(self) -> str:
        """What ``Bot(base_url=...)`` and ``TELEGRAM_API_URL`` take (the token is appended)."""
        return f"{self.url}/bot"

    def queue_update(self, update: dict) -> None:
        with self._lock:
            self._updates.append(update)

    def throttle(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``retry_after``."""
        with self._lock:
            self._faults.setdefault(method, []).extend([(429, retry_after)] * times)

    def fail(self, method: str, *statuses: int) -> None:
        """Answer the next calls of ``method`` with these HTTP statuses, one call each, in
        order, after any already queued: ``fail("sendMessage", 502, 500, 200, 503)``. A 200
        lets that call through; 429 is ``throttle``'s answer with a ``retry_after`` of 1."""
        with self._lock:
            queue = self._faults.setdefault(method, [])
            queue.extend((status, 1 if status == 429 else None) for status in statuses)

    def clear_faults(self) -> None:
        """Forget every fault still queued."""
        with self._lock:
            self._faults.clear()

    def calls_of(self, method: str, chat_id: int | str | None = None) -> list[Call]:
        with self._lock:
            found = [c for c in self.calls if c.method == method]
        if chat_id is not None:
            found = [c for c in found if str(c.params.get("chat_id")) == str(chat_id)]
        return found

    def wait_for(self, method: str, chat_id: int | str, count: int = 1, timeout: float = 60):
        """The first ``count`` successful calls of ``method`` for a chat, once they exist."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [c for c in self.calls_of(method, chat_id) if c.status == 200]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise TimeoutError(f"{count} × {method} for chat {chat_id} not received in {timeout} s")

    # ------------------------------------------------------------- the API

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return await request.json()
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            try:
                params[key] = json.loads(value) if isinstance(value, str) else value
            except json.JSONDecodeError:
                params[key] = value
        return params

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "sendMessage":
            return {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "from": BOT_USER,
                "text": str(params.get("text", "")),
            }
        return True  # answerCallbackQuery, deleteMessage(s), setWebhook, setMyCommands…

    async def handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        if token != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        params = await self._params(request)
        call = Call(method, params, time.monotonic())
        with self._lock:
            pending = self._faults.get(method)
            status, retry_after = pending.pop(0) if pending else (200, None)
            call.status = status
            self.calls.append(call)
        if status == 429:
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {retry_after}",
                    "parameters": {"retry_after": retry_after},
                },
                status=429,
            )
        if status != 200:
            description = {500: "Internal Server Error", 502: "Bad Gateway"}.get(status, "Error")
            return web.json_response(
                {"ok": False, "error_code": status, "description": description}, status=status
            )
        if method == "getUpdates":
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        return web.json_response({"ok": True, "result": self._result(method, params)})

    async def _get_updates(self, params: dict[str, Any]) -> list[dict]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 2.0)
        while True:
            with self._lock:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
                ready = list(self._updates)
            if ready or self.closing or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.05)


class FakeTelegramServer:
    """Runs a ``FakeTelegram`` on 127.0.0.1 in a background thread (context manager)."""

    def __init__(self, fake: FakeTelegram | None = None) -> None:
        self.fake = fake or FakeTelegram()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self.fake

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.fake.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # the free port the OS chose
        self.fake.url = f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        self.fake.closing = True
        await asyncio.sleep(0.1)  # let pending long polls answer
        if self._runner is not None:
            await self._runner.cleanup()
