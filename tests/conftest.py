"""Shared fixtures: the project's settings and, for integration tests, the real running stack."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sanic import Sanic

ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
# Sanic rewrites its HTTP class at an app's start-up ("touch-up"); in test mode it keeps the
# original, so several apps can start in one test process (the HSDS API and console tests).
Sanic.test_mode = True
warnings.filterwarnings("ignore", category=DeprecationWarning)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningStack:
    """Haven started with `haven run` on free ports, with its own var/ directory."""

    process: subprocess.Popen
    rasa_url: str
    actions_url: str
    web_url: str
    var_dir: Path
    token: str
    env: dict[str, str]

    @property
    def tracker_db(self) -> Path:
        return self.var_dir / "tracker.db"


def _wait_for(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} not healthy after {timeout} s")


EXPIRED_SENDER = "expired-conversation"
TEST_TOKEN = "test-secret-that-signs-rasa-api-tokens-0123456789"


def seed_expired_conversation(var_dir: Path) -> None:
    """A conversation 40 days old in the stack's tracker store: the retention timer of
    `haven run` must remove it without anyone running `haven purge`."""
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.db.tracker_store import HavenTrackerStore

    old = time.time() - 40 * 86400
    events = [ActionExecuted("action_listen", timestamp=old), UserUttered("hi", timestamp=old)]
    store = HavenTrackerStore(url=f"sqlite:///{var_dir}/tracker.db")
    asyncio.run(store.save(DialogueStateTracker.from_events(EXPIRED_SENDER, events)))
    store.engine.dispose()


TELEGRAM_SECRET = "telegram-webhook-secret-for-tests_0123"
STAFF_PASSWORD = "correct horse battery staple"
# username: (name shown to users, role, console language)
STAFF = {
    "casey": ("Casey", "case_manager", "en"),
    "sofia": ("Sofía", "case_manager", "es"),
    "sam": ("Sam", "supervisor", "en"),
}
STAFF_TELEGRAM_CHAT = "-1001234567"


def add_staff_accounts(var_dir: Path) -> None:
    """The stack's staff, made as an operator makes them: with `haven staff add`."""
    env = {**os.environ, "HAVEN_VAR_DIR": str(var_dir)}
    for username, (name, role, language) in STAFF.items():
        subprocess.run(
            [sys.executable, "-m", "bot.cli", "staff", "add", username, "--name", name,
             "--role", role, "--language", language, "--password-stdin"],
            input=STAFF_PASSWORD + "\n", text=True, cwd=ROOT, env=env, check=True,
            capture_output=True,
        )  # fmt: skip


QUICK_EXIT_URL = "about:blank"


@pytest.fixture(scope="session")
def fake_telegram():
    """A fake Telegram Bot API server on 127.0.0.1 (tests/fake_telegram.py) for the stack."""
    from tests.fake_telegram import FakeTelegramServer

    with FakeTelegramServer() as fake:
        yield fake


@contextmanager
def running_stack(var_dir: Path, extra_env: dict[str, str]) -> Iterator[RunningStack]:
    """`haven run` on free ports with its own var/ directory, until the block ends; then
    Ctrl-C, as a user would press it: all three processes must stop and free their ports."""
    ports = {
        "HAVEN_RASA_PORT": free_port(),
        "HAVEN_ACTIONS_PORT": free_port(),
        "HAVEN_WEB_PORT": free_port(),
    }
    env = {
        **os.environ,
        **{k: str(v) for k, v in ports.items()},
        "HAVEN_VAR_DIR": str(var_dir),
        "HAVEN_RASA_TOKEN": TEST_TOKEN,
        "HAVEN_RETENTION_DAYS": "30",
        # Asking for debug logs must not make any process log what users write.
        "LOG_LEVEL": "DEBUG",
        "HAVEN_LOG_LEVEL": "DEBUG",
        **extra_env,
    }
    log_path = var_dir / "stack.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--no-train"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    running = RunningStack(
        process=process,
        rasa_url=f"http://127.0.0.1:{ports['HAVEN_RASA_PORT']}",
        actions_url=f"http://127.0.0.1:{ports['HAVEN_ACTIONS_PORT']}",
        web_url=f"http://127.0.0.1:{ports['HAVEN_WEB_PORT']}",
        var_dir=var_dir,
        token=TEST_TOKEN,
        env=env,
    )
    try:
        _wait_for(f"{running.rasa_url}/webhooks/rest/", process, timeout=240)
        _wait_for(f"{running.actions_url}/health", process, timeout=30)
        _wait_for(f"{running.web_url}/healthz", process, timeout=30)
    except Exception:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        print(log_path.read_text()[-5000:])
        raise
    yield running
    os.killpg(process.pid, signal.SIGINT)
    try:
        code = process.wait(timeout=60)
    finally:
        log.close()
    assert code == 0, log_path.read_text()[-3000:]
    for port in ports.values():
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open after Ctrl-C"


def install_test_packages(var_dir: Path, folder: Path) -> None:
    """The tiny Argos packages (tests/argos_packages.py), installed as an operator would:
    with `haven translate install`, into this stack's var/."""
    from tests.argos_packages import build_packages

    env = {**os.environ, "HAVEN_VAR_DIR": str(var_dir)}
    paths = [str(p) for p in build_packages(folder).values()]
    script = (
        "import sys; from pathlib import Path; from bot.i18n import argos; "
        "[argos.install(Path(p)) for p in sys.argv[1:]]"
    )
    subprocess.run([sys.executable, "-c", script, *paths], cwd=ROOT, env=env, check=True)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, fake_telegram) -> Iterator[RunningStack]:
    """Start the real three processes once per test session; Ctrl-C must stop all three.
    Telegram is on in webhook mode, against the fake Bot API server."""
    var_dir = tmp_path_factory.mktemp("haven-var")
    seed_expired_conversation(var_dir)
    install_test_packages(var_dir, tmp_path_factory.mktemp("argos-packages"))
    add_staff_accounts(var_dir)
    telegram = {
        "TELEGRAM_TOKEN": fake_telegram.token,
        "TELEGRAM_API_URL": fake_telegram.base_url,
        "TELEGRAM_WEBHOOK_URL": "https://haven.example/webhooks/telegram/webhook",
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
    }
    web = {"HAVEN_QUICK_EXIT_URL": QUICK_EXIT_URL}  # no network here: a page that needs none
    # Staffed around the clock, so live chat is offered whenever the tests run.
    handoff = {"HAVEN_STAFF_HOURS": "always", "HAVEN_STAFF_TELEGRAM_CHAT": STAFF_TELEGRAM_CHAT}
    with running_stack(var_dir, {**telegram, **web, **handoff}) as running:
        yield running
