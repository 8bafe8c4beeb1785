"""Telegram, on python-telegram-bot 22: ``Update.de_json`` reads updates, ``Bot`` sends.

Rasa's own Telegram channel is not used: it never checks the webhook's secret (anyone who
learns the URL could write into any chat), drops the user's ``language_code`` and cannot
send a message that starts outside the user's turn. This one:

- **webhook** (``TELEGRAM_WEBHOOK_URL`` set; ``haven telegram setup`` registers it) at
  ``POST /webhooks/telegram/webhook``: a request without the right
  ``X-Telegram-Bot-Api-Secret-Token`` is refused with 403 and read no further (constant-time
  comparison); **polling** (only ``TELEGRAM_TOKEN`` set): ``getUpdates`` in a task of the
  Rasa server, for organisations without a public HTTPS address;
- the same input handling as every channel (``bot.channels.common``); the user's
  ``language_code`` goes with the message as a language hint;
- commands (``bot.channels.commands``): a command becomes the button payload Haven
  itself would send, never text Haven has to guess at;
- buttons as inline keyboards (callback data within Telegram's 64 bytes: a longer payload
  travels as a short hash of itself, read back against the payloads Haven issues); every
  callback query is answered; text is sent without a parse mode, so nothing a reply or a
  user wrote can turn into markup; replies over 4,096 characters are split at line breaks;
- a repeated ``update_id`` is handled once; ``429 retry_after`` is waited out; network
  errors are retried with backoff; logs name the conversation by pseudonym, never the text;
- ``get_output_channel`` sends at once, so Rasa's HTTP API (``output_channel=telegram``)
  can deliver a message outside the user's turn (staff replies, reminders);
- ``/exit``: the quick exit deletes every message of the chat that the bot still may
  (Telegram allows 48 hours), ends the conversation (a restart: nothing carried over to
  what is written next) and says nothing.

The conversation id is the Telegram chat id, as Telegram addresses replies by it.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.channels.commands import COMMANDS, QUICK_EXIT_PAYLOAD, command_of
from bot.channels.common import HavenInputChannel, client_metadata
from bot.channels.payloads import allowed_payloads
from bot.directory.geocode import nearest_zip
from bot.directory.payloads import skip_place_payload
from bot.i18n.catalogs import N_, load_catalogs
from bot.safety.log_ids import pseudonym
from bot.settings import get_settings

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT_CHARS = 4096  # Telegram's limit per message
MAX_CALLBACK_BYTES = 64  # Telegram's limit on a button's callback data
HASHED = "#"  # callback data that starts with this is a hash of a longer payload
SEND_ATTEMPTS = 5
BACKOFF_SECONDS = (0.5, 1, 2, 4)  # between attempts after a network error
MAX_RETRY_AFTER_SECONDS = 60  # a longer wait is not worth holding the reply for
POLL_TIMEOUT_SECONDS = 25  # long polling: getUpdates waits this long for news
SEEN_UPDATES = 4096  # how many recent update ids are remembered (duplicates are dropped)
DELETABLE_SECONDS = 48 * 3600  # Telegram lets a bot delete messages this young
KEPT_MESSAGE_IDS = 400  # per chat, for the quick exit
SKIP_PLACE = skip_place_payload()  # offered with every "where?": such a reply asks for a place


# ---------------------------------------------------------------- pure helpers


def split_text(text: str, limit: int = MAX_TEXT_CHARS) -> list[str]:
    """``text`` in parts of at most ``limit`` characters, cut at line breaks where it can
    (else at a space, else anywhere); nothing is lost."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        parts.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return [p for p in parts if p] or [""]


def _digest(payload: str) -> str:
    raw = hashlib.sha256(payload.encode("utf-8")).digest()[:15]
    return HASHED + base64.urlsafe_b64encode(raw).decode("ascii")


def callback_data(payload: str) -> str:
    """A button payload as callback data (at most 64 bytes)."""
    if len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES and not payload.startswith(HASHED):
        return payload
    return _digest(payload)


@functools.lru_cache(maxsize=4)
def _by_digest(known: frozenset[str]) -> dict[str, str]:
    return {_digest(payload): payload for payload in known}


def payload_of(data: str, known: Iterable[str]) -> str | None:
    """The payload a button's callback data stands for; None if Haven never issued it.
    The digests of Haven's payloads are computed once per set of payloads."""
    if not data.startswith(HASHED):
        return data
    return _by_digest(frozenset(known)).get(data)


def keyboard(buttons: list[dict]) -> InlineKeyboardMarkup | None:
    """Rasa buttons as an inline keyboard, one button per row (titles are long)."""
    rows = [
        [InlineKeyboardButton(str(b.get("title") or "")[:64], callback_data=callback_data(p))]
        for b in buttons
        if (p := str(b.get("payload") or ""))
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def secret_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of the webhook secret header. Sanic keeps header bytes that
    are not UTF-8 as surrogates, which a plain ``encode()`` refuses (a 500): they are
    encoded as they are, and never match."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


class SeenUpdates:
    """The most recent update ids: Telegram may deliver an update more than once."""

    def __init__(self, size: int = SEEN_UPDATES) -> None:
        self._order: deque[int] = deque(maxlen=size)
        self._ids: set[int] = set()

    def first_time(self, update_id: int) -> bool:
        if update_id in self._ids:
            return False
        if len(self._order) == self._order.maxlen:
            self._ids.discard(self._order[0])
        self._order.append(update_id)
        self._ids.add(update_id)
        return True


class ChatMessages:
    """Ids of recent messages per chat (both directions), for the quick exit."""

    def __init__(self) -> None:
        self._chats: OrderedDict[str, deque[tuple[int, float]]] = OrderedDict()

    def add(self, chat_id: str, message_id: int | None) -> None:
        if message_id is None:
            return
        kept = self._chats.setdefault(chat_id, deque(maxlen=KEPT_MESSAGE_IDS))
        kept.append((message_id, time.monotonic()))
        self._chats.move_to_end(chat_id)
        while len(self._chats) > 10_000:  # forget the chats quiet for longest
            self._chats.popitem(last=False)

    def take(self, chat_id: str) -> list[int]:
        """The chat's message ids still young enough to delete, forgotten from here."""
        young = time.monotonic() - DELETABLE_SECONDS
        return [i for i, at in self._chats.pop(chat_id, ()) if at >= young]


# ---------------------------------------------------------------- sending


def seconds_of(error: RetryAfter) -> float:
    """How long Telegram asked to wait (an int, or a timedelta in newer releases)."""
    delay = error.retry_after
    return delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)


async def with_retries(call: Callable[[], Awaitable[Any]], chat: str) -> Any:
    """``call()``, waiting out 429s and retrying network errors with backoff; the last
    error is raised. Logs name the chat by pseudonym only."""
    for attempt in range(SEND_ATTEMPTS):
        try:
            return await call()
        except RetryAfter as error:
            seconds = seconds_of(error)
            if attempt == SEND_ATTEMPTS - 1 or seconds > MAX_RETRY_AFTER_SECONDS:
                raise
            logger.warning("Telegram asked to wait %.0f s (chat %s)", seconds, pseudonym(chat))
            await asyncio.sleep(seconds)
        except Forbidden:
            raise  # the user blocked the bot: retrying cannot help
        except NetworkError as error:  # includes TimedOut
            if attempt == SEND_ATTEMPTS - 1:
                raise
            logger.warning(
                "Telegram network error (%s), retrying (chat %s)",
                type(error).__name__,
                pseudonym(chat),
            )
            await asyncio.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)])
    raise RuntimeError("unreachable")


class TelegramOutput(OutputChannel):
    """Sends Haven's replies to a chat at once (used outside the user's turn too)."""

    def __init__(self, telegram: TelegramClient) -> None:
        self.telegram = telegram

    @classmethod
    def name(cls) -> str:
        return "telegram"

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        await self.telegram.deliver(recipient_id, [message])


@dataclass(frozen=True)
class LocationOffer:
    """The "Share my location" keyboard, in the conversation's language."""

    text: str
    button: str


class TelegramClient:
    """The ``Bot``, created in the server's event loop on first use, and what the channel
    remembers between updates (update ids seen, message ids for the quick exit)."""

    def __init__(self, token: str, api_url: str) -> None:
        self.token, self.api_url = token, api_url
        self._bot: Bot | None = None
        self.seen = SeenUpdates()
        self.messages = ChatMessages()

    async def bot(self) -> Bot:
        if self._bot is None:
            self._bot = Bot(
                self.token,
                base_url=self.api_url,
                request=HTTPXRequest(connection_pool_size=32),
                get_updates_request=HTTPXRequest(read_timeout=POLL_TIMEOUT_SECONDS + 10),
            )
        return self._bot

    async def deliver(
        self,
        chat_id: str,
        messages: Iterable[dict[str, Any]],
        location_offer: LocationOffer | None = None,
    ) -> None:
        """Send Rasa's reply dicts (text and buttons) to a chat, in order. With a
        ``location_offer``, a reply that asks for a place ("where?", which offers to skip
        it) is followed by a "Share my location" keyboard button."""
        bot = await self.bot()
        for message in messages:
            text = str(message.get("text") or "")
            buttons = message.get("buttons") or []
            if not text and not buttons:
                continue
            parts = split_text(text or "…")
            for number, part in enumerate(parts, start=1):
                markup = keyboard(buttons) if number == len(parts) else None
                sent = await with_retries(
                    lambda part=part, markup=markup: bot.send_message(
                        chat_id=int(chat_id), text=part, reply_markup=markup
                    ),
                    chat_id,
                )
                self.messages.add(chat_id, getattr(sent, "message_id", None))
            asks_place = any(b.get("payload") == SKIP_PLACE for b in buttons)
            if location_offer is not None and asks_place:
                sent = await with_retries(
                    lambda: bot.send_message(
                        chat_id=int(chat_id),
                        text=location_offer.text,
                        reply_markup=ReplyKeyboardMarkup(
                            [[KeyboardButton(location_offer.button, request_location=True)]],
                            one_time_keyboard=True,
                            resize_keyboard=True,
                        ),
                    ),
                    chat_id,
                )
                self.messages.add(chat_id, getattr(sent, "message_id", None))

    async def answer_callback(self, query_id: str, chat_id: str) -> None:
        bot = await self.bot()
        try:
            await with_retries(lambda: bot.answer_callback_query(query_id), chat_id)
        except TelegramError as error:  # an old query cannot be answered; nothing to do
            logger.info("Callback query not answered: %s", type(error).__name__)

    async def delete_chat_messages(self, chat_id: str) -> int:
        """Delete what the bot still may of this chat; returns how many were asked for."""
        bot = await self.bot()
        ids = sorted(self.messages.take(chat_id))
        for start in range(0, len(ids), 100):  # deleteMessages takes at most 100 ids
            chunk = ids[start : start + 100]
            try:
                await with_retries(
                    lambda chunk=chunk: bot.delete_messages(int(chat_id), chunk), chat_id
                )
            except TelegramError as error:
                logger.warning("Could not delete messages (chat %s): %s", pseudonym(chat_id),
                               type(error).__name__)  # fmt: skip
        return len(ids)


# ---------------------------------------------------------------- the input channel


@dataclass(frozen=True)
class Incoming:
    """What one update asks of Haven."""

    chat_id: str
    text: str  # typed text, or the payload of a command or a button
    metadata: dict[str, str]
    message_id: int | None = None
    callback_query_id: str | None = None
    quick_exit: bool = False
    unplaced_location: bool = False  # a shared location with no US ZIP code near it


def read_update(update: Update, known_payloads: Iterable[str]) -> Incoming | None:
    """The user's text (or command or button) from an update; None for anything else
    (edits, channel posts, stickers without text…)."""
    if update.callback_query is not None:
        query = update.callback_query
        message = query.message
        if message is None or query.data is None:
            return None
        payload = payload_of(query.data, known_payloads)
        chat_id = str(message.chat.id)
        metadata = client_metadata({"language": getattr(query.from_user, "language_code", None)})
        text = payload if payload is not None else ""
        return Incoming(chat_id, text, metadata, None, query.id, text == QUICK_EXIT_PAYLOAD)
    message = update.message
    if message is None:
        return None
    chat_id = str(message.chat.id)
    user = message.from_user
    metadata = client_metadata({"language": getattr(user, "language_code", None)})
    if message.location is not None:  # searched from its ZIP code; the point is not kept
        code = nearest_zip(message.location.latitude, message.location.longitude)
        return Incoming(chat_id, code or "", metadata, message.message_id,
                        unplaced_location=code is None)  # fmt: skip
    text = message.text or message.caption or ""
    command = command_of(text)
    if command is not None:
        payload = COMMANDS[command].payload
        return Incoming(chat_id, payload, metadata, message.message_id, None, command == "exit")
    return Incoming(chat_id, text, metadata, message.message_id)


class HavenTelegramInput(HavenInputChannel):
    """Telegram with Haven's input handling (webhook or polling, see the module text)."""

    def __init__(self, token: str = "", api_url: str = "", mode: str | None = None) -> None:
        settings = get_settings()
        self.mode = mode if mode is not None else settings.telegram_mode
        self.telegram = TelegramClient(
            token or settings.telegram_token, api_url or settings.telegram_api_url
        )
        self._poller: asyncio.Task | None = None

    @classmethod
    def name(cls) -> str:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> HavenTelegramInput:
        return cls()  # everything comes from the environment (bot.settings)

    @staticmethod
    def translate(text: str, language: str) -> str:
        return load_catalogs(get_settings().locales_dir).translate(text, language)

    def location_offer(self, language: str) -> LocationOffer:
        return LocationOffer(
            self.translate(SHARE_LOCATION_TEXT, language),
            self.translate(SHARE_LOCATION_BUTTON, language),
        )

    def get_output_channel(self) -> OutputChannel:
        return TelegramOutput(self.telegram)

    async def parse(self, data: Any) -> Update | None:
        """The update in a webhook body; None when it is not one (never logged: it may
        hold what someone wrote)."""
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return None
        try:
            update = Update.de_json(data, await self.telegram.bot())
        except Exception:  # noqa: BLE001 - de_json raises KeyError, TypeError, ValueError…
            return None
        chat = update.effective_chat  # de_json does not check types: "abc" would pass
        if chat is not None and type(chat.id) is not int:
            return None
        return update

    async def handle_update(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        app: Sanic,
        update: Update,
    ) -> None:
        """One update, from the webhook or from polling: to Haven, and the replies back."""
        if not self.telegram.seen.first_time(update.update_id):
            return
        incoming = read_update(update, allowed_payloads())
        if incoming is None:
            return
        chat = incoming.chat_id
        self.telegram.messages.add(chat, incoming.message_id)
        if incoming.callback_query_id:
            await self.telegram.answer_callback(incoming.callback_query_id, chat)
        if not incoming.text and incoming.callback_query_id:
            return  # a button Haven never issued (or from an old version): ignored
        if incoming.unplaced_location:
            await self.telegram.deliver(chat, [{"text": await self.note(app, chat, NO_ZIP_NEAR)}])
            return
        collector = CollectingOutputChannel()
        handled = await self.handle_user_text(
            on_new_message, app, incoming.text, collector, chat, incoming.metadata
        )
        if incoming.quick_exit:
            await self.telegram.delete_chat_messages(chat)
            await self.end_conversation(app, chat)
            return  # and nothing is said afterwards
        replies = [{"text": note} for note in handled.notes]
        if handled.replies_stand:
            replies += list(collector.messages)
        if handled.failed:
            replies = [{"text": await self.note(app, chat, FAILED_TEXT)}]
        language = await self.conversation_language(app, chat)
        try:
            await self.telegram.deliver(chat, replies, self.location_offer(language))
        except TelegramError as error:
            logger.error("Reply not delivered (chat %s): %s", pseudonym(chat),
                         type(error).__name__)  # fmt: skip

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        telegram = Blueprint(f"haven_webhook_{type(self).__name__}", __name__)
        settings = get_settings()

        @telegram.route("/", methods=["GET"])
        async def status(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.mode else "off", "mode": self.mode})

        @telegram.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if self.mode != "webhook":
                return response.json({"error": "The Telegram webhook is not enabled."}, status=404)
            if not secret_matches(request.headers.get(SECRET_HEADER), settings.telegram_secret):
                return response.json({"error": "Forbidden."}, status=403)
            try:
                update = await self.parse(json.loads(request.body or b""))
            except (ValueError, UnicodeDecodeError):
                update = None
            if update is None:
                return response.json({"error": "The body must be a Telegram update."}, status=400)
            try:
                await self.handle_update(on_new_message, request.app, update)
            except Exception:  # noqa: BLE001 - Telegram retries non-200 answers forever
                logger.exception("Telegram update %s failed", update.update_id)
            return response.json({"ok": True})

        @telegram.listener("after_server_start")
        async def start_polling(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
            if self.mode == "polling":
                self._poller = loop.create_task(self.poll(on_new_message, app))

        @telegram.listener("before_server_stop")
        async def stop_polling(app: Sanic, loop: asyncio.AbstractEventLoop) -> None:
            if self._poller is not None:
                self._poller.cancel()

        return telegram

    async def poll(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]], app: Sanic
    ) -> None:
        """Long polling: ``getUpdates`` in a loop (after removing any webhook, which would
        make Telegram refuse it), each update handled in order."""
        bot = await self.telegram.bot()
        offset = 0
        failures = 0
        logger.info("Telegram: polling for updates")
        while True:
            try:
                if offset == 0:
                    await bot.delete_webhook(drop_pending_updates=False)
                updates = await bot.get_updates(
                    offset=offset or None,
                    timeout=POLL_TIMEOUT_SECONDS,
                    allowed_updates=["message", "callback_query"],
                )
                failures = 0
            except asyncio.CancelledError:
                raise
            except RetryAfter as error:
                delay = error.retry_after
                await asyncio.sleep(
                    delay.total_seconds() if hasattr(delay, "total_seconds") else delay
                )
                continue
            except TelegramError as error:
                failures += 1
                logger.warning("Telegram polling failed (%s); retrying", type(error).__name__)
                await asyncio.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS)) - 1])
                continue
            for update in updates:
                offset = max(offset, update.update_id + 1)
                try:
                    await self.handle_update(on_new_message, app, update)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - one bad update must not stop polling
                    logger.exception("Telegram update %s failed", update.update_id)


SHARE_LOCATION_TEXT = N_(
    "Or share your location: I will search near the closest ZIP code and not keep the exact point."
)
SHARE_LOCATION_BUTTON = N_("Share my location")
NO_ZIP_NEAR = N_(
    "I could not find a US ZIP code near that location. Please type your city or ZIP code."
)
FAILED_TEXT = N_("Sorry, something went wrong on my side. Please try again in a moment.")


# ---------------------------------------------------------------- setup (haven telegram setup)


async def set_up(webhook: bool = True) -> list[str]:
    """Register the command menu in every language Haven speaks (Telegram shows the one
    matching the user's app) and, with a webhook URL configured, the webhook with its
    secret; without one, remove any webhook so polling works. Returns what was done."""
    from telegram import BotCommand

    from bot.i18n.catalogs import load_catalogs
    from bot.languages import LANGUAGES, SOURCE_LANGUAGE

    settings = get_settings()
    client = TelegramClient(settings.telegram_token, settings.telegram_api_url)
    bot = await client.bot()
    catalogs = load_catalogs(settings.locales_dir)
    done = []
    async with bot:
        for code in LANGUAGES:
            commands = [
                BotCommand(name, catalogs.translate(command.description, code)[:256])
                for name, command in COMMANDS.items()
            ]
            language = None if code == SOURCE_LANGUAGE else code
            await bot.set_my_commands(commands, language_code=language)
            done.append(f"command menu ({code})")
        if webhook and settings.telegram_webhook_url:
            await bot.set_webhook(
                settings.telegram_webhook_url,
                secret_token=settings.telegram_secret,
                allowed_updates=["message", "callback_query"],
                drop_pending_updates=False,
            )
            done.append(f"webhook {settings.telegram_webhook_url} with its secret")
        else:
            await bot.delete_webhook()
            done.append("no webhook (polling)")
    return done
