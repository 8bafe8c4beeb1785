"""Privacy actions: deleting a conversation on the user's request (docs/safety-and-privacy.md)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionDeleteMyData(Action):
    """Marks the conversation for deletion (the rule then says so with ``utter_data_deleted``).

    The rows are removed by ``bot.db.tracker_store.HavenTrackerStore`` when Rasa saves the
    conversation at the end of this request; deleting them here would race with that save.
    """

    def name(self) -> str:
        return "action_delete_my_data"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return [SlotSet("delete_requested", True)]
