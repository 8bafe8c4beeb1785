"""Chat commands a messaging app shows in its menu (Telegram's "/" list), one place for all.

A command is turned into the button payload Haven itself would send, never into text
Haven has to guess at; the payloads are therefore among those a user may send
(``bot.channels.payloads``). Descriptions are translated per language for the menu.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n.catalogs import N_

QUICK_EXIT_PAYLOAD = "/quick_exit"


@dataclass(frozen=True)
class Command:
    payload: str  # what Haven receives
    description: str  # shown in the app's command menu (a catalog message)


COMMANDS: dict[str, Command] = {
    "start": Command("/greet", N_("Start: what Haven can do")),
    "menu": Command("/help", N_("Main menu")),
    "help": Command("/about_haven", N_("What Haven is and is not")),
    "language": Command("/choose_language", N_("Change the language")),
    "delete": Command("/delete_my_data", N_("Delete my data from Haven")),
    "exit": Command(QUICK_EXIT_PAYLOAD, N_("Quick exit: delete this chat's messages")),
}
COMMAND_PAYLOADS = frozenset(command.payload for command in COMMANDS.values())


def command_of(text: str) -> str | None:
    """The command a message starts with ("/start", "/menu@haven_bot"), if it is one."""
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return None
    word = text[1:].split(maxsplit=1)[0]
    name = word.split("@", 1)[0].lower()
    return name if name in COMMANDS else None
