"""Rasa's own checks: data validation without warnings, end-to-end stories in both languages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import get_settings
from bot.training import TRAINING_DATA_DIRS, model_path, quiet_tensorflow_env
from tests.conftest import ROOT

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
def test_end_to_end_stories_pass(tmp_path: Path, stories: str) -> None:
    """Real user text through the trained model; any wrong action fails the run.

    (`rasa test` predicts actions without executing them, so no bot service is needed.)
    """
    settings = get_settings()
    env = {**quiet_tensorflow_env(), "HAVEN_ACTION_ENDPOINT_URL": settings.action_endpoint_url}
    result = _rasa(
        "test", "core",
        "--model", str(model_path(settings)),
        "--stories", str(ROOT / "tests" / "e2e" / stories),
        "--endpoints", "endpoints.yml",
        "--e2e",  # parse the user text with the model, don't trust the story's labels
        "--fail-on-prediction-errors",
        "--out", str(tmp_path),
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
