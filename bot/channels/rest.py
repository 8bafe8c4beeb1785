"""Rasa's REST channel, sanitized: ``POST /webhooks/rest/webhook`` with sender, message, metadata.

Same URL and reply format as Rasa's built-in ``rest`` channel, so any script can talk to
Haven; but typed ``/intent{...}`` text is never an intent (``bot.channels.sanitize``), a
malformed request gets a 400 with a reason instead of a 500, and a message over the size
limit is cut and answered with a note in the conversation's language.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.payloads import allowed_payloads
from bot.i18n.catalogs import N_, load_catalogs
from bot.safety.sanitize import SanitizedText, sanitize_text, with_channel_flags
from bot.settings import get_settings

logger = logging.getLogger(__name__)

MAX_SENDER_ID_CHARS = 128
TOO_LONG_NOTE = N_(
    "Your message was very long, so I read only the first {max_message_chars} characters. "
    "Short messages work best."
)


def hashed(identifier: str) -> str:
    """A short, stable hash of an identifier, for logs (SAFETY.md 18)."""
    return hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:12]


def _bad_request(reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=400)


class HavenRestInput(InputChannel):
    """The REST channel with Haven's input sanitizing."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def parse_request(self, request: Request) -> tuple[str, Any, dict[str, Any]] | HTTPResponse:
        """Validate the JSON body; return (sender, message, metadata) or a 400 response."""
        try:
            body = request.json
        except Exception:  # noqa: BLE001 - Sanic raises several types for bad JSON
            return _bad_request('The body must be JSON: {"sender": ..., "message": ...}.')
        if not isinstance(body, dict):
            return _bad_request('The body must be a JSON object with "sender" and "message".')
        sender = body.get("sender", "default")
        if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_ID_CHARS:
            return _bad_request(
                f'"sender" must be a non-empty string of at most {MAX_SENDER_ID_CHARS} characters.'
            )
        message = body.get("message", "")
        if message is not None and not isinstance(message, str):
            return _bad_request('"message" must be a string.')
        metadata = body.get("metadata")
        metadata = {} if metadata is None else metadata
        if not isinstance(metadata, dict):
            return _bad_request('"metadata" must be a JSON object.')
        return sender, message, metadata

    def sanitize(self, message: Any) -> SanitizedText:
        settings = get_settings()
        return sanitize_text(message, allowed_payloads(), settings.max_message_chars)

    async def too_long_note(self, request: Request, sender: str) -> dict[str, Any]:
        """The size-limit note, in the conversation's language (read after Rasa replied)."""
        settings = get_settings()
        language = settings.default_language
        agent = getattr(request.app.ctx, "agent", None)
        if agent is not None and agent.tracker_store is not None:
            tracker = await agent.tracker_store.retrieve(sender)
            if tracker is not None and tracker.get_slot("language"):
                language = tracker.get_slot("language")
        text = load_catalogs(settings.locales_dir).translate(TOO_LONG_NOTE, language)
        return {
            "recipient_id": sender,
            "text": text.format(max_message_chars=settings.max_message_chars),
        }

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"haven_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            parsed = self.parse_request(request)
            if isinstance(parsed, HTTPResponse):
                return parsed
            sender, raw_message, metadata = parsed
            clean = self.sanitize(raw_message)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(
                    UserMessage(
                        clean.text,
                        collector,
                        sender,
                        input_channel=self.name(),
                        metadata=with_channel_flags(metadata, clean),
                    )
                )
            except Exception:  # noqa: BLE001 - never show a stack trace to a user
                logger.exception("REST message for sender %s failed", hashed(sender))
                return response.json({"error": "Haven could not process this message."}, status=500)
            messages = list(collector.messages)
            if clean.truncated:
                messages.insert(0, await self.too_long_note(request, sender))
            return response.json(messages)

        return webhook
