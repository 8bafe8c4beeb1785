"""The web chat's channel on the Rasa server: the REST channel's rules, plus messages that
arrive later.

The page (served by the web process, which forwards ``/chat/*`` here so the browser only
ever talks to the page's own origin) sends each message to ``POST /webhooks/webchat/webhook``
and gets the replies of that turn, exactly as over REST. It also keeps one request open to
``GET /webhooks/webchat/events?sender=...&after=N`` (long polling, ``bot.channels.pushed``)
for messages that start outside the user's turn: Rasa's HTTP API with
``output_channel=latest`` (a case manager's reply) puts them in the conversation's queue.
Why not Rasa's socket.io channel: its client library would have to be served from the
project too, it keeps no messages for a page that is reconnecting, and it bypasses the
shared input handling; two plain HTTP requests need nothing on the page but ``fetch``.

The conversation id is made by the page (``crypto.getRandomValues``, 128 bits) and kept in
the page's memory only: it is what lets a browser read its conversation's messages, so a
shorter or guessable one is refused.
"""

from __future__ import annotations

from typing import Any

from bot.channels.pushed import may_poll
from bot.channels.rest import HavenRestInput

LANGUAGE_HEADER = "X-Haven-Language"


class HavenWebChatInput(HavenRestInput):
    """The web chat: a turn over HTTP as over REST (page-made conversation ids only),
    later messages by long polling."""

    @classmethod
    def name(cls) -> str:
        return "webchat"

    def accepts_sender(self, sender: str) -> bool:
        return may_poll(sender)

    def replies_carry_pushed(self) -> bool:
        return False  # the page reads them by long polling, in order, exactly once

    async def turn_headers(self, app: Any, sender: str) -> dict[str, str]:
        """The conversation's language after the turn, so the page follows it (an Arabic
        message turns the page right to left, in Arabic)."""
        return {LANGUAGE_HEADER: await self.conversation_language(app, sender)}
