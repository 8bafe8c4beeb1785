"""Training the Rasa model once per change of data, domain, config or NLU component code.

The model is named by a fingerprint of everything that shapes it, so ``make run`` and
``make test`` skip training when nothing changed (and CI trains once per run).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from bot.settings import Settings

MODEL_PREFIX = "haven-"
TRAINING_DATA_DIRS = ("data/nlu", "data/rules", "data/stories")
_FINGERPRINTED = (
    "domain.yml", "config.yml", *TRAINING_DATA_DIRS, "data/safety", "bot/nlu",
    "bot/safety/danger_model.py", "bot/i18n/text.py",  # text folding the features read
)  # fmt: skip
KEEP_MODELS = 2


def training_files(root: Path) -> list[Path]:
    """Every file whose content changes the trained model, in a stable order."""
    files = []
    for name in _FINGERPRINTED:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(p for p in path.rglob("*") if p.is_file() and p.suffix in {".yml", ".py"})
    return sorted(files)


def fingerprint(root: Path) -> str:
    """A short hash of the training inputs and the Rasa version."""
    import rasa

    digest = hashlib.sha256(f"rasa {rasa.__version__}\n".encode())
    for path in training_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def model_path(settings: Settings) -> Path:
    return settings.model_dir / f"{MODEL_PREFIX}{fingerprint(settings.project_root)}.tar.gz"


def quiet_tensorflow_env() -> dict[str, str]:
    """Environment for Rasa subprocesses: TensorFlow's C++ chatter and progress bars off."""
    env = dict(os.environ)
    for name, value in (
        ("TF_CPP_MIN_LOG_LEVEL", "2"),
        ("TF_ENABLE_ONEDNN_OPTS", "0"),
        ("PYTHONWARNINGS", "ignore"),
        ("SQLALCHEMY_SILENCE_UBER_WARNING", "1"),
    ):
        env[name] = env.get(name) or value
    env["RASA_TELEMETRY_ENABLED"] = "false"  # nothing about conversations leaves the server
    return env


def train(settings: Settings, force: bool = False, echo=print) -> Path:
    """Train the model if no model with the current fingerprint exists; return its path."""
    target = model_path(settings)
    if target.exists() and not force:
        echo(f"Model is up to date: {target.relative_to(settings.project_root)}")
        return target
    settings.model_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.var_dir / "logs" / "train.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    echo(f"Training the model (a few minutes on 2 cores); log: {log_path}")
    root = settings.project_root
    command = [
        sys.executable, "-m", "rasa", "train",
        "--config", str(root / "config.yml"),
        "--domain", str(root / "domain.yml"),
        "--data", *(str(root / d) for d in TRAINING_DATA_DIRS),
        "--out", str(settings.model_dir),
        "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]  # fmt: skip
    with log_path.open("w") as log:
        result = subprocess.run(
            command, cwd=root, stdout=log, stderr=subprocess.STDOUT, env=quiet_tensorflow_env()
        )
    if result.returncode != 0 or not target.exists():
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-30:])
        raise SystemExit(
            f"Training failed (exit {result.returncode}). Last lines of {log_path}:\n{tail}"
        )
    _remove_old_models(settings, keep=target)
    echo(f"Trained {target.relative_to(settings.project_root)}")
    return target


def _remove_old_models(settings: Settings, keep: Path) -> None:
    models = sorted(
        settings.model_dir.glob(f"{MODEL_PREFIX}*.tar.gz"), key=lambda p: p.stat().st_mtime
    )
    for old in [m for m in models if m != keep][: max(0, len(models) - KEEP_MODELS)]:
        old.unlink(missing_ok=True)
