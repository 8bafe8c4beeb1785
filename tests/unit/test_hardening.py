"""Small guarantees behind the closed holes: metadata, log ids, file modes, bounded work."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from bot import rasa_patches
from bot.channels.common import client_metadata
from bot.directory.geocode import find_place
from bot.directory.hsds_io import DirectoryImportError, import_directory
from bot.nlu.search_scope import search_ended
from bot.rasa_server import rasa_arguments, rasa_environment
from bot.safety.log_ids import pseudonym
from bot.settings import ensure_private_dir, get_settings
from bot.stack import services

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HAVEN_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("HAVEN_BIND_HOST", "0.0.0.0")  # noqa: S104 - what an operator might set
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ({"language": "es"}, {"language": "es"}),
        ({"language": "pt_BR", "name": "Maria"}, {"language": "pt"}),
        ({"language": "es", "haven": {"truncated": False}, "phone": "555"}, {"language": "es"}),
        ({"language": "<script>"}, {}),
        ({"language": "x" * 500}, {}),
        ({"language": ["es"]}, {}),
        ({"deep": [[[[[]]]]]}, {}),
        ([], {}),
        (None, {}),
    ],
)
def test_client_metadata_keeps_only_a_language_hint(raw: object, kept: dict) -> None:
    assert client_metadata(raw) == kept


def test_log_ids_are_keyed_not_a_bare_hash(settings_in, tmp_path: Path) -> None:
    first = pseudonym("telegram-123456789")
    assert first == pseudonym("telegram-123456789"), "stable, so log lines correlate"
    assert first != hashlib.sha256(b"telegram-123456789").hexdigest()[:12]
    (tmp_path / "var" / "log-secret").write_text("another key\n")
    assert pseudonym("telegram-123456789") != first, "depends on the secret"


def test_private_directories_are_created_and_tightened(tmp_path: Path) -> None:
    made = ensure_private_dir(tmp_path / "new" / "var")
    assert made.stat().st_mode & 0o777 == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    assert ensure_private_dir(loose).stat().st_mode & 0o777 == 0o700


def test_no_secret_on_a_command_line_and_actions_stay_on_loopback(settings_in) -> None:
    lines = services(settings_in, Path("models/x.tar.gz"))
    for service in lines:
        joined = " ".join(service.command)
        assert settings_in.rasa_token not in joined and settings_in.actions_secret not in joined
    bot = next(s for s in lines if s.name == "bot")
    assert bot.health_url.startswith("http://127.0.0.1:")
    assert settings_in.actions_bind_host == "127.0.0.1"


def test_rasa_runs_with_pinned_logs_limits_and_jwt(settings_in) -> None:
    env = rasa_environment({"LOG_LEVEL": "DEBUG", "PATH": os.environ.get("PATH", "")})
    assert env["LOG_LEVEL"] == "INFO"
    assert env["SANIC_REQUEST_MAX_SIZE"] == str(64 * 1024)
    assert int(env["SANIC_KEEP_ALIVE_TIMEOUT"]) > 60
    assert env["HAVEN_ACTIONS_SECRET"] == settings_in.actions_secret
    arguments = rasa_arguments("model.tar.gz")
    assert "--jwt-secret" in arguments and "--auth-token" not in arguments
    assert not {"--debug", "-vv", "--verbose"} & set(arguments)


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "text", ["x " * 1000, "new " * 500, "saint " * 333, "san jose del " * 150, "in " * 1000]
)
def test_the_place_finder_does_bounded_work_on_long_messages(text: str) -> None:
    """Before: about a second per message like these, on the action server's event loop."""
    for _ in range(10):
        find_place(text[:2000])
        find_place(text[:2000], place_only=True)


def test_globbed_import_files_cannot_leave_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "secret.csv"
    outside.write_text("id,name,description\norg-x,Outside,not part of the package\n")
    package = tmp_path / "package"
    package.mkdir()
    (package / "organizations.csv").symlink_to(outside)
    url = f"sqlite:///{tmp_path / 'haven.db'}"
    with pytest.raises(DirectoryImportError, match="outside the package"):
        import_directory(package, url)


def test_rasa_patches_resolve_every_event_type_as_rasa_does() -> None:
    assert rasa_patches.apply()
    for cls in all_subclasses(Event):
        assert Event.resolve_by_type(cls.type_name) is rasa_patches._original_resolve(cls.type_name)
    assert Event.resolve_by_type("topic") is None
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no-such-event")


def test_rasa_patches_validate_action_answers_as_rasa_does() -> None:
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction

    assert rasa_patches.apply()
    action = RemoteAction("action_x", None)
    assert action._validate_action_result({"events": [], "responses": []})
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": "not a list"})


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def _after(intent: str, domain: Domain, search: dict | None) -> DialogueStateTracker:
    events = [ActionExecuted("action_listen")]
    if search is not None:
        events.append(SlotSet("search", search))
    events.append(UserUttered("…", intent={"name": intent, "confidence": 1.0}))
    return DialogueStateTracker.from_events("s", events, domain.slots)


@pytest.mark.parametrize(
    ("intent", "ends"),
    [("kb_t_visa", True), ("greet", True), ("help", True), ("more_results", False),
     ("refine_search", False), ("inform_place", False), ("crisis", False),
     ("nlu_fallback", False)],
)  # fmt: skip
def test_a_search_ends_when_the_user_turns_to_something_else(
    intent: str, ends: bool, domain: Domain
) -> None:
    search = {"need": "legal_aid", "place": {"label": "Houston, TX"}}
    assert search_ended(_after(intent, domain, search)) is ends
    assert search_ended(_after(intent, domain, None)) is False
