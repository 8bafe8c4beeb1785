"""Two fixes to Rasa 3.6.21 hot paths, applied in Haven's Rasa process only (``bot.rasa_server``).

Measured with py-spy under load, both cost time on every message without changing anything
a user sees:

1. ``Event.resolve_by_type`` walks every subclass of ``Event`` (``all_subclasses``) for each
   stored event it deserialises, so loading a conversation costs more the longer it is
   (about a fifth of the Rasa process's time in a 100-message conversation). Replaced by
   a lookup table built once, same first-match order.
2. ``RemoteAction._validate_action_result`` calls ``jsonschema.validate``, which checks the
   schema itself before checking the action server's answer: about 15 % of the process's
   time. Replaced by a validator compiled once; same errors, same message.

And one privacy rule: every response of the Rasa server, its own HTTP API included (not
only Haven's channels), is marked ``Cache-Control: no-store`` (``_no_store_app``).

And one safety net: when a custom action cannot run (the bot service is down or does not
answer in time, or answers with an error), Rasa logs it and the user hears nothing.
``_run_remote_action`` answers instead with a static message, in the conversation's
language, that says to try again and gives the hotline and 911 (``bot.nlg.unavailable``).
The user's message is stored as usual, so nothing is lost; the next message is answered
normally once the bot service is back. Crisis replies never reach this point: they are
domain responses rendered inside the Rasa process.

``apply()`` patches only the Rasa version these were measured on and is idempotent.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import aiohttp
import rasa
import rasa.server
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction, create_bot_utterance
from rasa.shared.core.events import Event
from rasa.shared.exceptions import RasaException
from rasa.shared.utils.common import all_subclasses

logger = logging.getLogger(__name__)

PATCHED_RASA_VERSION = "3.6.21"
_event_types: dict[str, type[Event]] = {}
_original_resolve = Event.resolve_by_type
_original_validate = RemoteAction._validate_action_result  # noqa: SLF001
_original_remote_run = RemoteAction.run
UNAVAILABLE_METADATA = "haven_action_unavailable"  # on the reply: which action failed
# Rasa waits up to 5 minutes for an action; a bot service that accepts connections but
# hangs would hold the person that long. Every action answers in well under a second.
ACTION_TIMEOUT_SECONDS = 30.0


def _resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    """``Event.resolve_by_type`` with the subclass walk done once (again on a miss)."""
    found = _event_types.get(type_name)
    if found is None:
        for cls in all_subclasses(Event):
            _event_types.setdefault(cls.type_name, cls)  # first match wins, as in Rasa
        found = _event_types.get(type_name)
    if found is not None:
        return found
    return _original_resolve(type_name, default)


@functools.lru_cache(maxsize=1)
def _action_response_validator() -> Any:
    from jsonschema.validators import validator_for

    schema = RemoteAction.action_response_format_spec()
    return validator_for(schema)(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """``RemoteAction._validate_action_result`` with the schema compiled once."""
    from jsonschema import ValidationError

    try:
        _action_response_validator().validate(result)
    except ValidationError:
        return _original_validate(self, result)  # Rasa's own error message
    return True


async def _run_remote_action(
    self: RemoteAction, output_channel: Any, nlg: Any, tracker: Any, domain: Any
) -> list[Event]:
    """``RemoteAction.run``; when the bot service cannot be reached, times out or fails, the
    static "try again" reply instead of silence. A rejection (the action server's 400, which
    Rasa's policies handle) is passed on unchanged."""
    try:
        return await asyncio.wait_for(
            _original_remote_run(self, output_channel, nlg, tracker, domain),
            timeout=ACTION_TIMEOUT_SECONDS,
        )
    except ActionExecutionRejection:
        raise
    except (RasaException, aiohttp.ClientError, asyncio.TimeoutError) as error:
        from bot.handoff.relay import JOINED_ACTION, LEFT_ACTION
        from bot.nlg.unavailable import conversation_language, unavailable_text
        from bot.safety.log_ids import pseudonym

        if self.name() in {JOINED_ACTION, LEFT_ACTION}:
            # Run by the staff console, not in answer to the user: the console reports it;
            # a "try again" would only confuse the user. Without the cause: an error's body
            # may quote the request, and Rasa logs the whole chain.
            raise RasaException(f"Failed to execute custom action '{self.name()}'") from None

        logger.error(
            "Custom action %s failed (%s) in conversation %s: answered with the static reply",
            self.name(), type(error).__name__, pseudonym(tracker.sender_id),
        )  # fmt: skip
        language = conversation_language(tracker.current_slot_values())
        message = {"text": unavailable_text(language), UNAVAILABLE_METADATA: self.name()}
        return [create_bot_utterance(message)]


_original_create_app = rasa.server.create_app


def _no_store_app(*args: Any, **kwargs: Any) -> Any:
    """``rasa.server.create_app`` plus Haven's metrics and health routes, and a response
    middleware: nothing is cached."""
    app = _original_create_app(*args, **kwargs)
    from bot import health, metrics

    metrics.install(app, "rasa")  # GET /metrics, request counts (bot.metrics)
    health.install(app, "rasa")  # GET /readyz and /healthz with dependencies (bot.health)

    @app.middleware("response")
    async def no_store(request: Any, response: Any) -> None:
        response.headers["Cache-Control"] = "no-store"

    return app


def apply() -> bool:
    """Install the fixes; False (and a warning) on any other Rasa version."""
    if rasa.__version__ != PATCHED_RASA_VERSION:
        logger.warning(
            "Rasa %s is not %s: Haven's speed fixes are not applied.",
            rasa.__version__,
            PATCHED_RASA_VERSION,
        )
        return False
    Event.resolve_by_type = staticmethod(_resolve_by_type)
    RemoteAction._validate_action_result = _validate_action_result  # noqa: SLF001
    rasa.server.create_app = _no_store_app
    RemoteAction.run = _run_remote_action
    return True
