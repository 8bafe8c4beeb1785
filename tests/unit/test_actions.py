"""Custom actions, run the way rasa-sdk runs them."""

from __future__ import annotations

import asyncio

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.actions.privacy import ActionDeleteMyData


async def _case_delete_my_data_only_marks_the_conversation() -> None:
    """It must not delete rows itself (the delete race); the tracker store does it on save."""
    dispatcher = CollectingDispatcher()
    tracker = Tracker("someone", {}, {}, [], False, None, {}, "action_listen")
    events = await ActionDeleteMyData().run(dispatcher, tracker, {})
    assert events == [
        {"event": "slot", "timestamp": None, "name": "delete_requested", "value": True}
    ]
    assert dispatcher.messages == []


def test_delete_my_data_only_marks_the_conversation() -> None:
    asyncio.run(_case_delete_my_data_only_marks_the_conversation())
