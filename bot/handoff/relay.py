"""The live relay between a case manager in the console and the user's conversation.

Everything travels through Rasa's HTTP API (authorised with a short-lived JWT), so staff
messages are part of the conversation and reach whichever channel the user is on
(``output_channel=latest``): the web chat's and Telegram's channels deliver them at once;
the REST channel keeps them for the client's next request (or its long poll).

- joining runs ``action_staff_joined`` in the conversation (``POST .../execute``: the bot
  says who joined and steps aside, ``bot.nlu.handoff.HandoffPolicy``), leaving
  ``action_staff_left`` (the bot is back, with a short check-in). Actions, not external
  intents: an intent would need training examples, and the intent model must never
  read a user's words as a staff member joining;
- a staff message is a ``bot`` event with ``execute_side_effects`` (stored and sent), in the
  user's language: machine-translated, with the notice, when the staff member writes in
  another language and a package allows; the original is kept in the event's metadata.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.handoff.flow import HANDOFF_SLOT, HUMAN, JOINED_ACTION, LEFT_ACTION
from bot.handoff.staff import Staff
from bot.handoff.transcript import STAFF_KEY, STAFF_LANGUAGE_KEY, STAFF_ORIGINAL_KEY
from bot.i18n.catalogs import load_catalogs
from bot.i18n.machine import interpret
from bot.nlg.render import Renderer
from bot.rasa_api import auth_headers
from bot.settings import get_settings

MAX_STAFF_MESSAGE_CHARS = 4000


class RelayError(RuntimeError):
    """Rasa refused or could not be reached; nothing was sent."""


@dataclass(frozen=True)
class Sent:
    text: str  # what the user receives
    translated: bool  # machine-translated for the user
    untranslatable: bool  # the languages differ and no package covers the pair


def _conversation_url(conversation: str, tail: str) -> str:
    base = get_settings().rasa_internal_url
    return f"{base}/conversations/{quote(conversation, safe='')}/{tail}"


async def _call(client: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Any:
    """One call to Rasa's HTTP API; its JSON answer, or ``RelayError``."""
    try:
        async with client.request(method, url, json=body, headers=auth_headers()) as reply:
            if reply.status >= 400:
                raise RelayError(f"Rasa answered {reply.status}")
            return await reply.json(content_type=None)
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
        raise RelayError("Rasa could not be reached") from error


async def _handoff_now(client: aiohttp.ClientSession, conversation: str) -> Any:
    """The conversation's handoff slot as stored. Read again after an ``execute`` call:
    Rasa answers 200 even when the action failed (the bot service down), and the tracker in
    its answer is the one from before the action."""
    url = _conversation_url(conversation, "tracker?include_events=NONE")
    state = await _call(client, "GET", url)
    slots = state.get("slots") if isinstance(state, dict) else None
    return slots.get(HANDOFF_SLOT) if isinstance(slots, dict) else None


async def staff_joined(client: aiohttp.ClientSession, conversation: str, staff: Staff) -> None:
    """The action reads who joined from the referral (claimed by ``staff``)."""
    url = _conversation_url(conversation, "execute?output_channel=latest")
    await _call(client, "POST", url, {"name": JOINED_ACTION})
    if await _handoff_now(client, conversation) != HUMAN:
        raise RelayError("the assistant could not hand the chat over (is the bot service up?)")


async def staff_left(client: aiohttp.ClientSession, conversation: str) -> None:
    url = _conversation_url(conversation, "execute?output_channel=latest")
    await _call(client, "POST", url, {"name": LEFT_ACTION})
    if await _handoff_now(client, conversation) == HUMAN:
        raise RelayError("the assistant could not take the chat back (is the bot service up?)")


def for_user(text: str, staff_language: str, user_language: str) -> Sent:
    """A staff message as the user will read it."""
    if staff_language == user_language:
        return Sent(text, False, False)
    translated = interpret(text, staff_language, user_language)
    if translated is None:
        return Sent(text, False, True)
    renderer = Renderer(user_language, load_catalogs(get_settings().locales_dir))
    renderer.machine_translated = True
    notice = renderer.language_note()
    return Sent(f"{translated}\n\n{notice}" if notice else translated, True, False)


async def send_staff_message(
    client: aiohttp.ClientSession,
    conversation: str,
    staff: Staff,
    text: str,
    user_language: str,
) -> Sent:
    """Store a staff message in the conversation and deliver it to the user's channel."""
    text = text.strip()[:MAX_STAFF_MESSAGE_CHARS]
    sent = for_user(text, staff.language, user_language)
    event = {
        "event": "bot",
        "text": sent.text,
        "timestamp": time.time(),
        "metadata": {
            STAFF_KEY: staff.display_name,
            STAFF_ORIGINAL_KEY: text,
            STAFF_LANGUAGE_KEY: staff.language,
        },
    }
    url = _conversation_url(
        conversation, "tracker/events?output_channel=latest&execute_side_effects=true"
    )
    await _call(client, "POST", url, event)
    return sent
