"""Project-level contracts: the CLI's manual, the domain's buttons, the registry of languages."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from bot.cli import main
from bot.languages import LANGUAGES
from bot.settings import get_settings
from bot.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def test_haven_help_documents_every_subcommand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "train", "chat", "purge"):
        assert command in result.output
    for command in main.commands.values():
        assert command.help, f"`haven {command.name}` has no help text"


def test_the_language_menu_is_the_registry() -> None:
    """The menu is built from the registry (every catalog language, by its own name); the
    domain's buttons are only its fallback, and each of their payloads is a registry code."""
    from rasa.shared.core.domain import Domain

    from bot.nlg.generator import LocalizedResponseGenerator

    generator = LocalizedResponseGenerator(domain=Domain.load(str(ROOT / "domain.yml")))
    menu = generator.render("utter_choose_language", {"language": "en"}, "rest")
    offered = {b["payload"]: b["title"] for b in menu["buttons"]}
    expected = {
        f'/choose_language{{"language": "{code}"}}': lang.native_name
        for code, lang in LANGUAGES.items()
    }
    assert expected.items() <= offered.items()
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    [variation] = domain["responses"]["utter_choose_language"]
    assert {b["payload"] for b in variation["buttons"]} <= set(expected)


def test_every_menu_button_leads_somewhere() -> None:
    """A menu entry's intent must have a rule or story (never an entry that leads nowhere)."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    handled = set()
    for path in (ROOT / "data").glob("*/*.yml"):
        content = yaml.safe_load(path.read_text()) or {}
        for block in content.get("rules", []) + content.get("stories", []):
            handled.update(step["intent"] for step in block["steps"] if "intent" in step)
    for name, variations in domain["responses"].items():
        for variation in variations:
            for button in variation.get("buttons", []):
                intent = button["payload"].lstrip("/").split("{")[0]
                assert intent in handled, f"button {button['title']!r} in {name} leads nowhere"


def test_taken_port_gets_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        settings = dataclasses.replace(get_settings(), rasa_port=port, var_dir=tmp_path)
        with pytest.raises(click.ClickException) as error:
            Stack(settings, tmp_path / "model.tar.gz").check_ports()
    assert f"Port {port} (rasa) is already in use" in error.value.message
    assert "HAVEN_RASA_PORT" in error.value.message
