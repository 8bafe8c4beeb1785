"""Prometheus metrics for Haven's three processes: ``GET /metrics`` on each.

Counts and latencies only. No label ever holds a conversation id, message text, a name or
a URL with an id in it: routes are labelled by their template (``/conversations/
<conversation_id:path>/tracker``), channels, actions and outcomes by fixed names.

``install(app, process)`` adds to a Sanic app the request counters and latency histogram
(every process), the ``/metrics`` route and what that process counts:

- ``rasa`` (through ``bot.rasa_patches``): messages handed to Rasa per channel, bot replies
  per channel, messages sent outside a user's turn, crisis replies, tracker-store save
  failures. Rasa has no hook for these, so the three Rasa methods they pass through are
  wrapped here (``_instrument_rasa``): ``Agent.handle_message`` (every channel, Telegram's
  polling included, hands it each user message), ``MessageProcessor.execute_side_effects``
  (every bot message to a channel, in a turn or outside one) and
  ``FailSafeTrackerStore.save`` (which swallows a failed save);
- ``bot`` (the action server): action calls by action and outcome, and their duration;
- ``bot`` and ``web``: referrals created and live chats joined, counted as their audit
  rows are written (``bot.handoff.models.AuditEntry``), in whichever process writes them.

Access: with ``HAVEN_METRICS_TOKEN`` set, ``/metrics`` wants ``Authorization: Bearer
<token>``; without it, it answers anyone who reaches it (block it at the reverse proxy).

Several Sanic workers in one Rasa server (``HAVEN_RASA_WORKERS`` > 1) each count in their
own memory; a scrape reaches one of them. So ``bot.rasa_server`` sets
``PROMETHEUS_MULTIPROC_DIR`` for them, and when it is set every worker writes its counts
to files there and ``/metrics`` adds up all the files (prometheus_client's multiprocess
mode). The process memory figures are then those of the worker that answered.
"""

from __future__ import annotations

import contextvars
import functools
import hmac
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.settings import get_settings

logger = logging.getLogger(__name__)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CHANNELS = frozenset({"rest", "webchat", "telegram"})
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CRISIS_RESPONSE = "utter_crisis"
# Up to the long poll's 25 s wait (bot.channels.pushed) and Rasa's slowest turns.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
ACTION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

# No "_created" series: when a label was first seen is not worth a line per label.
disable_created_metrics()

# Created unregistered: each process registers the ones it counts (``install``), so the
# bot service does not show a crisis counter that is always 0.
HTTP_REQUESTS = Counter(
    "haven_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=None,
)
HTTP_LATENCY = Histogram(
    "haven_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=None,
)
MESSAGES_RECEIVED = Counter(
    "haven_messages_received",
    "User messages handed to Rasa, by channel (rest, webchat, telegram, other).",
    ["channel"],
    registry=None,
)
BOT_REPLIES = Counter(
    "haven_bot_replies",
    "Bot messages sent in answer to a user's message, by channel.",
    ["channel"],
    registry=None,
)
PUSHED_MESSAGES = Counter(
    "haven_pushed_messages",
    "Bot messages sent outside a user's turn (a case manager's message, joining or "
    "leaving), by channel (api: returned to the HTTP API caller only).",
    ["channel"],
    registry=None,
)
CRISIS_REPLIES = Counter("haven_crisis_replies", "Crisis replies given.", registry=None)
TRACKER_SAVE_FAILURES = Counter(
    "haven_tracker_store_save_failures",
    "Conversations Rasa could not save to the tracker store (kept in memory instead).",
    registry=None,
)
ACTION_CALLS = Counter(
    "haven_action_calls",
    "Custom action calls, by action name and outcome (ok, error).",
    ["action", "outcome"],
    registry=None,
)
ACTION_LATENCY = Histogram(
    "haven_action_duration_seconds",
    "Time to run a custom action, by action name.",
    ["action"],
    buckets=ACTION_BUCKETS,
    registry=None,
)
REFERRALS_CREATED = Counter(
    "haven_referrals_created", "Referrals created (a user consented and sent one).", registry=None
)
LIVE_CHATS_JOINED = Counter(
    "haven_live_chats_joined", "Times a case manager joined a user's chat.", registry=None
)

_COMMON = (HTTP_REQUESTS, HTTP_LATENCY)
_HANDOFF = (REFERRALS_CREATED, LIVE_CHATS_JOINED)
PROCESS_METRICS: dict[str, tuple[Any, ...]] = {
    "rasa": (MESSAGES_RECEIVED, BOT_REPLIES, PUSHED_MESSAGES, CRISIS_REPLIES,
             TRACKER_SAVE_FAILURES),
    "bot": (ACTION_CALLS, ACTION_LATENCY, *_HANDOFF),
    "web": _HANDOFF,
}  # fmt: skip
_registered: set[int] = set()


def _register(metrics: Iterable[Any]) -> None:
    for metric in metrics:
        if id(metric) not in _registered:
            REGISTRY.register(metric)
            _registered.add(id(metric))


def multiprocess_dir() -> str | None:
    """The folder shared by the workers of one server, when they share one."""
    return os.environ.get(MULTIPROCESS_ENV) or None


def render() -> bytes:
    """The exposition text: this process's registry, or every worker's files added up."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        ProcessCollector(registry=registry)  # the answering worker's memory and CPU
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def authorised(request: Request, token: str) -> bool:
    """Whether a request may read the metrics (any, when no token is set)."""
    if not token:
        return True
    given = (request.headers.get("Authorization") or "").encode()
    return hmac.compare_digest(given, f"Bearer {token}".encode())


async def metrics_view(request: Request) -> HTTPResponse:
    if not authorised(request, get_settings().metrics_token):
        return response.json(
            {"error": "not authorised"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    return response.raw(render(), content_type=CONTENT_TYPE_LATEST)


def route_label(request: Request) -> str:
    """The matched route's template ("unmatched" for a 404), never the path itself."""
    route = getattr(request, "route", None)
    if route is None:
        return "unmatched"
    return "/" + str(route.path).lstrip("/")


async def _request_started(request: Request) -> None:
    request.ctx.haven_started = time.perf_counter()


async def _request_finished(request: Request, resp: HTTPResponse) -> None:
    route = route_label(request)
    method = request.method if request.method in METHODS else "other"
    HTTP_REQUESTS.labels(route, method, str(resp.status)).inc()
    started = getattr(request.ctx, "haven_started", None)
    if started is not None:
        HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)


def install(app: Sanic, process: str) -> None:
    """Count ``app``'s requests and serve ``GET /metrics``; plus what ``process`` ("rasa",
    "bot" or "web") counts. Install it before other request middleware, so that requests
    they answer are timed too."""
    if getattr(app.ctx, "haven_metrics", None):
        return
    app.ctx.haven_metrics = process
    _register(_COMMON + PROCESS_METRICS.get(process, ()))
    app.register_middleware(_request_started, "request")
    app.register_middleware(_request_finished, "response")
    app.add_route(metrics_view, "/metrics", methods=["GET"], name="haven_metrics")
    if process == "rasa":
        _instrument_rasa()
    if process == "bot":
        _instrument_actions()
    if process in ("bot", "web"):
        _watch_handoffs()


def channel_label(name: str | None) -> str:
    return name if name in CHANNELS else "other"


# --- the Rasa server -------------------------------------------------------------------

# The channel of the user message being handled in this task (None: outside a turn).
_turn_channel: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "haven_turn_channel", default=None
)


def count_bot_messages(events: Iterable[Any], output_channel: Any) -> None:
    """Count the bot messages among ``events`` about to go to ``output_channel``."""
    from rasa.shared.core.events import BotUttered

    uttered = [event for event in events if isinstance(event, BotUttered)]
    if not uttered:
        return
    turn = _turn_channel.get()
    if turn is not None:
        BOT_REPLIES.labels(turn).inc(len(uttered))
    else:
        name = output_channel.name() if output_channel is not None else None
        PUSHED_MESSAGES.labels("api" if name == "collector" else channel_label(name)).inc(
            len(uttered)
        )
    crisis = sum(1 for e in uttered if (e.metadata or {}).get("utter_action") == CRISIS_RESPONSE)
    if crisis:
        CRISIS_REPLIES.inc(crisis)


def _instrument_rasa() -> None:
    """Wrap the Rasa methods the Rasa server's counts pass through (once)."""
    from rasa.core.agent import Agent
    from rasa.core.processor import MessageProcessor

    _instrument_tracker_store()
    if getattr(Agent.handle_message, "haven_metrics", False):
        return
    handle_message = Agent.handle_message
    execute_side_effects = MessageProcessor.execute_side_effects

    @functools.wraps(handle_message)
    async def counted_handle_message(self: Agent, message: Any) -> Any:
        channel = channel_label(getattr(message, "input_channel", None))
        MESSAGES_RECEIVED.labels(channel).inc()
        token = _turn_channel.set(channel)
        try:
            return await handle_message(self, message)
        finally:
            _turn_channel.reset(token)

    @functools.wraps(execute_side_effects)
    async def counted_side_effects(
        self: MessageProcessor, events: list, tracker: Any, output_channel: Any
    ) -> None:
        try:
            count_bot_messages(events, output_channel)
        except Exception:  # noqa: BLE001 - counting must never cost a reply
            logger.exception("Counting bot messages failed")
        await execute_side_effects(self, events, tracker, output_channel)

    counted_handle_message.haven_metrics = True  # type: ignore[attr-defined]
    Agent.handle_message = counted_handle_message  # type: ignore[method-assign]
    MessageProcessor.execute_side_effects = counted_side_effects  # type: ignore[method-assign]


def _instrument_tracker_store() -> None:
    """Count the saves Rasa's fail-safe tracker store swallows (once)."""
    from rasa.core.tracker_store import FailSafeTrackerStore

    if getattr(FailSafeTrackerStore.save, "haven_metrics", False):
        return

    async def counted_save(self: FailSafeTrackerStore, tracker: Any) -> None:
        """``FailSafeTrackerStore.save``, counting failures. Rasa's own version logs the
        error's text, and a database error's text holds the statement's parameters (the
        conversation's events, user text included): only the error's type is logged."""
        try:
            await self._tracker_store.save(tracker)  # noqa: SLF001
        except Exception as error:  # noqa: BLE001 - as Rasa: keep the conversation in memory
            TRACKER_SAVE_FAILURES.inc()
            if self._on_tracker_store_error:  # noqa: SLF001 - a callback given to Rasa
                self._on_tracker_store_error(error)  # noqa: SLF001
            else:
                logger.error(
                    "Saving a conversation to the tracker store failed (%s); it is kept in "
                    "memory until a later save succeeds.",
                    type(error).__name__,
                )
            await self.fallback_tracker_store.save(tracker)

    counted_save.haven_metrics = True  # type: ignore[attr-defined]
    FailSafeTrackerStore.save = counted_save  # type: ignore[method-assign]


# --- the bot service -------------------------------------------------------------------


def _instrument_actions() -> None:
    """Time and count every action call rasa-sdk's executor runs (once)."""
    from rasa_sdk.executor import ActionExecutor

    if getattr(ActionExecutor.run, "haven_metrics", False):
        return
    run = ActionExecutor.run

    @functools.wraps(run)
    async def counted_run(self: ActionExecutor, action_call: dict) -> Any:
        name = (action_call or {}).get("next_action")
        action = name if name in self.actions else "unknown"  # only names Haven registered
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await run(self, action_call)
            outcome = "ok"
            return result
        finally:
            ACTION_CALLS.labels(action, outcome).inc()
            ACTION_LATENCY.labels(action).observe(time.perf_counter() - started)

    counted_run.haven_metrics = True  # type: ignore[attr-defined]
    ActionExecutor.run = counted_run  # type: ignore[method-assign]


# --- handoffs (bot service and web process) --------------------------------------------

HANDOFF_AUDIT_ACTIONS = {"referral_created": REFERRALS_CREATED, "join_chat": LIVE_CHATS_JOINED}


def _count_audit_row(mapper: Any, connection: Any, entry: Any) -> None:
    counter = HANDOFF_AUDIT_ACTIONS.get(entry.action)
    if counter is not None:
        counter.inc()


def _watch_handoffs() -> None:
    import sqlalchemy as sa

    from bot.handoff.models import AuditEntry

    if not sa.event.contains(AuditEntry, "after_insert", _count_audit_row):
        sa.event.listen(AuditEntry, "after_insert", _count_audit_row)
