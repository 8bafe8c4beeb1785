"""Rasa's own checks: data validation without warnings, end-to-end stories in both languages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import get_settings
from bot.training import TRAINING_DATA_DIRS, model_path, quiet_tensorflow_env
from tests.conftest import ROOT, RunningStack

pytestmark = pytest.mark.integration


def _rasa(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rasa", *args],
        cwd=ROOT,
        env=env or quiet_tensorflow_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_rasa_data_validate_has_no_errors_or_warnings() -> None:
    result = _rasa(
        "data", "validate", "--fail-on-warnings",
        "--domain", "domain.yml", "--config", "config.yml",
        "--data", *TRAINING_DATA_DIRS,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize(
    "stories", sorted(p.name for p in (ROOT / "tests" / "e2e").glob("test_*.yml"))
)
def test_end_to_end_stories_pass(stack: RunningStack, tmp_path: Path, stories: str) -> None:
    model = model_path(get_settings())
    env = {**quiet_tensorflow_env(), "HAVEN_ACTION_ENDPOINT_URL": f"{stack.actions_url}/webhook"}
    env.update({k: v for k, v in stack.env.items() if k.startswith("HAVEN_")})
    result = _rasa(
        "test", "core",
        "--model", str(model),
        "--stories", str(ROOT / "tests" / "e2e" / stories),
        "--endpoints", "endpoints.yml",
        "--fail-on-prediction-errors",
        "--out", str(tmp_path),
        env=env,
    )  # fmt: skip
    failed = tmp_path / "failed_test_stories.yml"
    report = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, report[-4000:] or (result.stdout + result.stderr)[-4000:]
    assert os.path.getsize(tmp_path / "failed_test_stories.yml") < 200 or "None" in report
