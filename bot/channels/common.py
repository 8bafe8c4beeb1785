"""What every Haven channel does with a user message, in one place.

A channel (REST today; Telegram and the web chat next) only parses its own wire format.
Then ``HavenInputChannel.handle_user_text`` applies the shared rules: text far over the size
limit is refused unread, the rest is sanitized (``bot.safety.sanitize``), client metadata
is reduced to a language hint, and a failure that the user must hear about (a deletion
that did not happen) becomes a reply in the conversation's language instead of silence.
Channels therefore collect Rasa's replies during a user's turn and send them afterwards:
a "your data is deleted" must never go out before the deletion has happened.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import Restarted
from sanic import Sanic

from bot.channels.payloads import allowed_payloads
from bot.db.tracker_store import watching_deletions
from bot.i18n.argos import pivot_languages
from bot.i18n.catalogs import N_, load_catalogs
from bot.nlu.language import CONVERSATION_METADATA, LANGUAGE_SLOT, LANGUAGE_SOURCE_SLOT
from bot.safety.log_ids import pseudonym
from bot.safety.sanitize import (
    SanitizedText,
    exceeds_raw_limit,
    sanitize_text,
    with_channel_flags,
)
from bot.settings import get_settings

logger = logging.getLogger(__name__)

# What a client may tell Haven besides the text: a language hint (BCP 47: "es", "pt-BR").
LANGUAGE_HINT = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,2}$")
MAX_LANGUAGE_HINT_CHARS = 20

TOO_LONG_NOTE = N_(
    "Your message was very long, so I read only the first {max_message_chars} characters. "
    "Short messages work best."
)
DELETION_FAILED_NOTE = N_(
    "I could not delete this conversation just now, so it is still stored. Please try again "
    'in a few minutes: write "delete my data".'
)


def client_metadata(raw: Any) -> dict[str, str]:
    """The only client metadata Haven keeps: a well-formed language hint, nothing else."""
    if not isinstance(raw, dict):
        return {}
    language = raw.get("language")
    if (
        isinstance(language, str)
        and len(language) <= MAX_LANGUAGE_HINT_CHARS
        and LANGUAGE_HINT.match(language)
    ):
        return {"language": language.replace("_", "-").split("-")[0].lower()}
    return {}


@dataclass(frozen=True)
class Handled:
    """What became of one user message."""

    clean: SanitizedText
    notes: tuple[str, ...] = ()  # channel notes to show before Rasa's replies
    replies_stand: bool = True  # False: drop what Rasa said (it did not happen); show notes
    failed: bool = False  # an unexpected error: nothing was answered


class HavenInputChannel(InputChannel):
    """Base of Haven's input channels: the shared handling of a user's text."""

    @staticmethod
    def refuses_unread(raw_text: Any) -> bool:
        """Text so far over the limit that it is not processed at all."""
        return exceeds_raw_limit(raw_text, get_settings().max_message_chars)

    async def handle_user_text(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        app: Sanic,
        raw_text: Any,
        output_channel: OutputChannel,
        sender: str,
        metadata: dict[str, Any],
    ) -> Handled:
        """Sanitize ``raw_text`` and hand it to Rasa; translate failures into notes. ``app``
        is the Rasa server's Sanic app (where the agent is: notes need the language)."""
        settings = get_settings()
        clean = sanitize_text(raw_text, allowed_payloads(), settings.max_message_chars)
        metadata = with_channel_flags(metadata, clean)
        if pivot_languages():  # the English pivot needs the conversation's language first
            metadata[CONVERSATION_METADATA] = await self.conversation_state(app, sender)
        message = UserMessage(
            clean.text,
            output_channel,
            sender,
            input_channel=self.name(),
            metadata=metadata,
        )
        try:
            with watching_deletions() as failed_deletions:
                await on_new_message(message)
        except Exception:  # noqa: BLE001 - never show a stack trace to a user
            logger.exception("Message for conversation %s failed", pseudonym(sender))
            return Handled(clean, replies_stand=False, failed=True)
        if failed_deletions:
            logger.error("Deletion failed for conversation %s", pseudonym(sender))
            note = await self.note(app, sender, DELETION_FAILED_NOTE)
            return Handled(clean, notes=(note,), replies_stand=False)
        if clean.truncated:
            note = await self.note(
                app, sender, TOO_LONG_NOTE, max_message_chars=settings.max_message_chars
            )
            return Handled(clean, notes=(note,))
        return Handled(clean)

    @staticmethod
    async def end_conversation(app: Sanic, sender: str) -> None:
        """Close the conversation as a restart would (the quick exit): what is written next
        starts a new one, with nothing carried over (language, search, answers)."""
        agent = getattr(app.ctx, "agent", None)
        if agent is None or agent.processor is None:
            return
        async with agent.lock_store.lock(sender):
            tracker = await agent.processor.get_tracker(sender)
            tracker.update(Restarted())
            await agent.processor.save_tracker(tracker)

    @staticmethod
    async def conversation_state(app: Sanic, sender: str) -> dict[str, str | None]:
        """The conversation's language and where it came from (its slots), if any."""
        agent = getattr(app.ctx, "agent", None)
        if agent is None or agent.tracker_store is None:
            return {}
        tracker = await agent.tracker_store.retrieve(sender)
        if tracker is None:
            return {}
        return {
            "language": tracker.get_slot(LANGUAGE_SLOT),
            "source": tracker.get_slot(LANGUAGE_SOURCE_SLOT),
        }

    @classmethod
    async def conversation_language(cls, app: Sanic, sender: str) -> str:
        """The conversation's language (its slot), else the default."""
        state = await cls.conversation_state(app, sender)
        return state.get("language") or get_settings().default_language

    async def note(self, app: Sanic, sender: str, message: str, **values: Any) -> str:
        """A channel note in the conversation's language (read after Rasa replied)."""
        language = await self.conversation_language(app, sender)
        text = load_catalogs(get_settings().locales_dir).translate(message, language)
        return text.format(**values)
