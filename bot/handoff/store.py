"""The tracker store Haven runs with: deletion and retention (``bot.db.tracker_store``) plus
the two things a referral needs from every saved conversation.

- "Delete my data" also removes the personal data of the conversation's referrals, in the
  same place and at the same moment as the conversation's events (at the end of the
  request, inside the conversation's lock; retried with it).
- A crisis message in a conversation with an open referral makes the referral urgent,
  whatever state the dialogue is in (a case manager holding the chat included).
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from rasa.shared.core.trackers import DialogueStateTracker

from bot.db.tracker_store import HavenTrackerStore
from bot.handoff import referrals
from bot.handoff.flow import REFERRAL_SLOT

logger = logging.getLogger(__name__)

URGENT_INTENTS = {"crisis": "crisis", "danger_check": "possible_danger"}


class HandoffTrackerStore(HavenTrackerStore):
    """``HavenTrackerStore`` that keeps referrals in step with their conversation."""

    def delete_conversation(self, sender_id: str) -> int:
        deleted = super().delete_conversation(sender_id)
        referrals.forget_conversation(sender_id)
        return deleted

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        if not tracker.get_slot(REFERRAL_SLOT) or tracker.latest_message is None:
            return
        flag = URGENT_INTENTS.get((tracker.latest_message.intent or {}).get("name") or "")
        if flag is None:
            return
        try:
            await asyncio.to_thread(referrals.raise_urgency, tracker.sender_id, flag)
        except sa.exc.SQLAlchemyError:
            logger.error("A referral's urgency could not be raised (database error)")
