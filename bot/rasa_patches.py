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

``apply()`` patches only the Rasa version these were measured on and is idempotent.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import rasa
import rasa.server
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event
from rasa.shared.utils.common import all_subclasses

logger = logging.getLogger(__name__)

PATCHED_RASA_VERSION = "3.6.21"
_event_types: dict[str, type[Event]] = {}
_original_resolve = Event.resolve_by_type
_original_validate = RemoteAction._validate_action_result  # noqa: SLF001


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


_original_create_app = rasa.server.create_app


def _no_store_app(*args: Any, **kwargs: Any) -> Any:
    """``rasa.server.create_app`` plus a response middleware: nothing is cached."""
    app = _original_create_app(*args, **kwargs)

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
    return True
