"""Rasa's REST channel, sanitized: ``POST /webhooks/rest/webhook`` with sender, message, metadata.

Same URL and reply format as Rasa's built-in ``rest`` channel, so any script can talk to
Haven; but input goes through ``bot.channels.common`` (typed ``/intent{...}`` text is never
an intent, metadata is only a language hint, over-long text is cut with a note or refused
with a 413), a malformed request gets a 400 with a reason instead of a 500, and every reply
is marked ``Cache-Control: no-store`` (as every response of the Rasa server is:
``bot.rasa_patches``). ``GET /webhooks/rest/`` answers 200 only once a model
is loaded: the readiness check that needs no token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.common import HavenInputChannel, client_metadata
from bot.channels.pushed import WAIT_SECONDS, PushedOutput, may_poll, pushed_messages
from bot.settings import get_settings

MAX_SENDER_ID_CHARS = 128


def _bad_request(reason: str, status: int = 400) -> HTTPResponse:
    return response.json({"error": reason}, status=status)


def _is_text(value: str) -> bool:
    """Whether a string is real text: bytes that were not UTF-8 reach us from Sanic's JSON
    parser as lone surrogates, which no database can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_request(request: Request) -> tuple[str, Any, dict[str, Any]] | HTTPResponse:
    """Validate the JSON body; return (sender, message, metadata) or a 4xx response."""
    try:
        # Sanic's parser (ujson) reads bytes that are not UTF-8 as Latin-1 ("\xa5" becomes
        # "¥"): a client sending another encoding would be read wrongly, not refused.
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        return _bad_request("The body must be JSON in UTF-8.")
    try:
        body = request.json
    except Exception:  # noqa: BLE001 - Sanic raises several types for bad or deep JSON
        return _bad_request('The body must be JSON: {"sender": ..., "message": ...}.')
    if not isinstance(body, dict):
        return _bad_request('The body must be a JSON object with "sender" and "message".')
    sender = body.get("sender")
    if (
        not isinstance(sender, str)
        or not sender.strip()
        or len(sender) > MAX_SENDER_ID_CHARS
        or not sender.isprintable()  # no NUL, newline or other control character
        or not _is_text(sender)
    ):
        return _bad_request(
            f'"sender" is required: a non-empty string of at most {MAX_SENDER_ID_CHARS} '
            "printable characters that names the conversation."
        )
    message = body.get("message", "")
    if message is not None and not isinstance(message, str):
        return _bad_request('"message" must be a string.')
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return _bad_request('"metadata" must be a JSON object.')
    if HavenInputChannel.refuses_unread(message):
        limit = get_settings().max_message_chars
        return _bad_request(
            f"The message is far longer than the {limit} characters Haven reads.", status=413
        )
    if message and not _is_text(message):
        return _bad_request('"message" must be UTF-8 text.')
    return sender, message, client_metadata(metadata)


class HavenRestInput(HavenInputChannel):
    """The REST channel with Haven's input handling, and messages that arrive between turns
    (a case manager's): they go out first in the next turn's reply, or to a long poll of
    ``GET /webhooks/rest/events?sender=...&after=N`` (conversation ids with 128 random
    bits only; see ``bot.channels.pushed``)."""

    def __init__(self) -> None:
        self.pushed = pushed_messages(self.name())

    @classmethod
    def name(cls) -> str:
        return "rest"

    def get_output_channel(self) -> OutputChannel:
        return PushedOutput(self.pushed, self.name())

    def replies_carry_pushed(self) -> bool:
        """Whether a turn's reply starts with the messages that arrived since the last."""
        return True

    def accepts_sender(self, sender: str) -> bool:
        """Whether a conversation id is one this channel serves (any, over REST)."""
        return True

    async def answer_turn(
        self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> HTTPResponse:
        """One user turn: the request checked, the text handled, the turn's replies."""
        parsed = parse_request(request)
        if isinstance(parsed, HTTPResponse):
            return parsed
        sender, raw_message, metadata = parsed
        if not self.accepts_sender(sender):
            return _bad_request("Unknown conversation.")
        collector = CollectingOutputChannel()
        handled = await self.handle_user_text(
            on_new_message, request.app, raw_message, collector, sender, metadata
        )
        if handled.failed:
            return response.json({"error": "Haven could not process this message."}, status=500)
        notes = [{"recipient_id": sender, "text": note} for note in handled.notes]
        replies = list(collector.messages) if handled.replies_stand else []
        pushed = await self.pushed.take_unread(sender) if self.replies_carry_pushed() else []
        headers = await self.turn_headers(request.app, sender)
        return response.json(pushed + notes + replies, headers=headers)

    async def turn_headers(self, app: Any, sender: str) -> dict[str, str]:
        """Extra response headers of a turn (none over REST)."""
        return {}

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"haven_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def ready(request: Request) -> HTTPResponse:
            agent = getattr(request.app.ctx, "agent", None)
            if agent is None or not agent.is_ready():
                return response.json({"status": "loading"}, status=503)
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            return await self.answer_turn(request, on_new_message)

        @webhook.route("/events", methods=["GET"])
        async def events(request: Request) -> HTTPResponse:
            sender = request.args.get("sender") or ""
            if not may_poll(sender):
                return _bad_request(
                    "Only conversations with a long random id (22-64 characters of A-Z, a-z, "
                    "0-9, _ and -) can read their messages this way."
                )
            try:
                after = max(0, int(request.args.get("after") or 0))
            except ValueError:
                return _bad_request('"after" must be a whole number.')
            wait = WAIT_SECONDS if request.args.get("wait", "1") != "0" else 0.0
            found, last = await self.pushed.wait(sender, after, wait)
            await self.pushed.mark_delivered(sender, last)
            return response.json({"messages": found, "last": last})

        return webhook
