"""Offline translation: Argos packages (install, list, remove, refuse), machine translation
with what must never change protected and cached, and the renderer's choice of source
(catalog, machine translation with the notice, English with the door line)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.db.migrate import upgrade
from bot.settings import get_settings
from tests.argos_packages import build_packages, build_without_splitter


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_packages(tmp_path_factory.mktemp("tiny-argos"))


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A var/ of its own (packages, the translation table); Argos re-reads it per test."""
    from bot.i18n import argos, machine

    monkeypatch.setenv("HAVEN_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("HAVEN_DATABASE_URL", f"sqlite:///{tmp_path}/haven.db")
    get_settings.cache_clear()
    upgrade(get_settings().database_url)
    machine.forget()
    argos._translator.cache_clear()
    yield tmp_path
    machine.forget()
    get_settings.cache_clear()


def installed(var_dir: Path, packages: dict[str, Path], *names: str) -> None:
    from bot.i18n import argos

    for name in names:
        argos.install(packages[name])


# ------------------------------------------------------------------- packages


def test_install_list_and_remove(var_dir: Path, packages: dict[str, Path]) -> None:
    from bot.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["translate", "install", str(packages["de-en"])])
    assert result.exit_code == 0, result.output
    assert "Installed de→en" in result.output
    assert (var_dir / "argos" / "packages").is_dir()
    listing = runner.invoke(main, ["translate", "list"]).output
    assert "de→en" in listing
    german = next(line for line in listing.splitlines() if line.startswith("de "))
    assert "pivot" in german and "→en" in german
    arabic = next(line for line in listing.splitlines() if line.startswith("ar "))
    assert " rtl " in arabic and "machine-assisted" in arabic
    assert runner.invoke(main, ["translate", "remove", "de", "en"]).exit_code == 0
    assert "de→en" not in runner.invoke(main, ["translate", "list"]).output
    again = runner.invoke(main, ["translate", "remove", "de", "en"])
    assert again.exit_code != 0 and "No package de→en" in again.output


def test_argos_reads_and_writes_only_under_var(
    var_dir: Path, packages: dict[str, Path], tmp_path: Path
) -> None:
    """In a fresh process (Argos reads its settings once, at import): a translation works,
    and nothing appears in the home directory Argos would otherwise use."""
    import os
    import subprocess
    import sys

    installed(var_dir, packages, "de-en")
    home = tmp_path / "home"
    home.mkdir()
    script = (
        "from bot.i18n import machine; import os;"
        "print(machine.to_pivot('ich brauche essen', 'de'));"
        "print(os.environ['ARGOS_PACKAGES_DIR']); print(os.environ['ARGOS_PACKAGE_INDEX'])"
    )
    env = {**os.environ, "HOME": str(home), "HAVEN_VAR_DIR": str(var_dir)}
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "ARGOS_PACKAGES_DIR"):
        env.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[-3:] == [
        "i need food",
        str(var_dir / "argos" / "packages"),
        "file:///nonexistent/haven-offline/",
    ]
    assert not any(home.rglob("*")), sorted(home.rglob("*"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("no-splitter", "no sentence splitter"),
        ("not-zip", "not a zip archive"),
        ("no-metadata", "no readable metadata.json"),
        ("missing", "no such file"),
    ],
)
def test_a_bad_package_gets_a_clear_error(
    var_dir: Path, packages: dict[str, Path], tmp_path: Path, damage: str, message: str
) -> None:
    from bot.cli import main

    path = tmp_path / f"{damage}.argosmodel"
    if damage == "no-splitter":
        build_without_splitter(packages["de-en"], path)
    elif damage == "not-zip":
        path.write_bytes(packages["de-en"].read_bytes()[:2000])  # a truncated download
    elif damage == "no-metadata":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("translate-xx/model/model.bin", b"\0")
    result = CliRunner().invoke(main, ["translate", "install", str(path)])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_corrupt_installed_package_fails_soft(var_dir: Path, packages: dict[str, Path]) -> None:
    from bot.i18n import argos, machine

    installed(var_dir, packages, "en-de")
    [package] = argos.installed_packages()
    (package.path / "model" / "model.bin").write_bytes(b"garbage")
    argos._translator.cache_clear()
    assert machine.to_language("Where should I look?", "de") is None
    from bot.nlg.render import Renderer

    reply = Renderer("de").reply({"text": {"msg": "Where should I look?", "values": {}}})
    assert reply["text"].startswith("Where should I look?")  # English, with the door line
    assert "1-888-373-7888" in reply["text"]


# ---------------------------------------------------------- machine translation


def test_placeholders_numbers_and_links_are_never_translated(
    var_dir: Path, packages: dict[str, Path]
) -> None:
    from bot.i18n import machine

    installed(var_dir, packages, "en-de")
    text = "Where should I look for {need}? Call 1-888-373-7888 or see https://example.org/help."
    translated = machine.to_language(text, "de")
    assert translated.startswith("Wo soll")
    for kept in ("{need}", "1-888-373-7888", "https://example.org/help."):
        assert kept in translated


def test_a_string_is_translated_once_per_language(
    var_dir: Path, packages: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.i18n import argos, machine

    installed(var_dir, packages, "en-de")
    calls = []
    real = argos.translate_text
    monkeypatch.setattr(argos, "translate_text", lambda *a: calls.append(a) or real(*a))
    first = machine.to_language("Where should I look?", "de")
    machine._cached.cache_clear()  # a new process: memory empty, the table remembers
    assert machine.to_language("Where should I look?", "de") == first
    assert len(calls) == 1
    import sqlalchemy as sa

    from bot.db.engine import get_engine

    with get_engine().connect() as connection:
        rows = connection.execute(sa.text("SELECT language, source, text FROM translation"))
        assert [tuple(r) for r in rows] == [("de", "Where should I look?", first)]


def test_the_users_words_are_never_stored_or_logged(
    var_dir: Path, packages: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from bot.i18n import machine

    installed(var_dir, packages, "de-en")
    with caplog.at_level(logging.DEBUG):
        assert machine.to_pivot("ich brauche essen", "de") == "i need food"
    assert not [r for r in caplog.records if "essen" in r.getMessage() or "food" in r.getMessage()]
    import sqlalchemy as sa

    from bot.db.engine import get_engine

    with get_engine().connect() as connection:
        assert connection.execute(sa.text("SELECT COUNT(*) FROM translation")).scalar() == 0


# ------------------------------------------------------------------- rendering


def test_a_language_without_catalog_gets_machine_translation_and_the_notice(
    var_dir: Path, packages: dict[str, Path]
) -> None:
    from bot.nlg.render import Renderer

    installed(var_dir, packages, "en-de")
    reply = Renderer("de").reply({"text": {"msg": "Where should I look?", "values": {}}})
    assert reply["text"].startswith("Wo soll Ich suchen?")
    assert "ⓘ" in reply["text"] and "(Machine-translated from English" in reply["text"]


def test_a_catalog_language_never_shows_the_notice(
    var_dir: Path, packages: dict[str, Path]
) -> None:
    from bot.nlg.render import Renderer

    reply = Renderer("es").reply({"text": {"msg": "Where should I look?", "values": {}}})
    assert "ⓘ" not in reply["text"]


def test_crisis_replies_are_reviewed_text_only(var_dir: Path, packages: dict[str, Path]) -> None:
    from rasa.shared.core.domain import Domain

    from bot.languages import REGISTRY
    from bot.nlg.generator import LocalizedResponseGenerator

    installed(var_dir, packages, "en-de")
    generator = LocalizedResponseGenerator(domain=Domain.load("domain.yml"))
    slots = {"crisis_type": "emergency"}
    english = generator.render("utter_crisis", {**slots, "language": "en"}, "rest")["text"]
    german = generator.render("utter_crisis", {**slots, "language": "de"}, "rest")["text"]
    assert german.startswith(english) and german.endswith(REGISTRY["de"].door)
    assert "ⓘ" not in german
    french = generator.render("utter_crisis", {**slots, "language": "fr"}, "rest")["text"]
    assert french.startswith(english)  # the French catalog awaits review
    spanish = generator.render("utter_crisis", {**slots, "language": "es"}, "rest")["text"]
    assert "911" in spanish and not spanish.startswith(english)  # reviewed


def test_no_package_no_catalog_means_english_and_the_door(var_dir: Path) -> None:
    from bot.languages import REGISTRY
    from bot.nlg.render import Renderer

    reply = Renderer("vi").reply({"text": {"msg": "Where should I look?", "values": {}}})
    assert reply["text"] == f"Where should I look?\n\n{REGISTRY['vi'].door}"


def test_descriptions_are_translated_but_names_and_addresses_never(
    var_dir: Path, packages: dict[str, Path]
) -> None:
    from bot.nlg.content import data, lines, prose
    from bot.nlg.render import Renderer

    installed(var_dir, packages, "en-de")
    content = lines(data("Help for food"), prose("Help for food"), data("100 Main St"))
    name, description, address = Renderer("de").render(content).split("\n")
    assert (name, address) == ("Help for food", "100 Main St")
    assert description.startswith("Hilfe für")


def test_a_crisis_line_missing_from_a_reviewed_catalog_stays_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.i18n import machine
    from bot.nlg.render import Renderer

    monkeypatch.setattr(machine, "to_language", lambda text, language: "MACHINE")
    crisis = Renderer("es", reviewed_only=True)
    assert (
        crisis.translate("A crisis line no catalog has yet.") == "A crisis line no catalog has yet."
    )
    assert Renderer("es").translate("A crisis line no catalog has yet.") == "MACHINE"
