"""Cross-validated intent F1 per language (English, Spanish) for Haven's NLU.

What it measures: how well the NLU part of config.yml, as it runs in production (language
detection, the intent classifier, FallbackClassifier, InputGuard, DangerDetector),
predicts the intent of messages it was not trained on. When danger detection answers a
message first (the crisis reply, the check-in question, a disclosure acknowledged), the
intent it holds for afterwards is scored, unless the true intent is itself one of those.

How: the English and Spanish examples (data/nlu/en, data/nlu/es) are split into K folds,
stratified by language and intent (seed 42). For each fold one bilingual model is trained
with `rasa train nlu` on the other folds plus every language-neutral example (data/nlu/any,
never scored), then parses each held-out message; ``nlu_fallback`` counts as a miss.
Prints accuracy, macro- and weighted-F1 over intents and the top confusions per language,
and writes them to var/bench-nlu/results.json (with each fold's training data and log).

Usage: make bench-nlu  (or .venv/bin/python -m scripts.bench_nlu [--folds K | --quick])
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLWriter
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.common import configure_logging_and_warnings
from rasa.utils.log_utils import configure_structlog
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from bot.settings import ensure_private_dir
from bot.training import quiet_tensorflow_env

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "var" / "bench-nlu"
LANGUAGES = ("en", "es")
NEUTRAL = "any"
SEED = 42


@dataclass(frozen=True)
class Example:
    """One NLU training example and the language folder it came from."""

    message: Message
    language: str

    @property
    def text(self) -> str:
        return self.message.get("text")

    @property
    def intent(self) -> str:
        return self.message.get("intent")


def load_examples(language: str) -> list[Example]:
    """Every intent example in data/nlu/<language>/, tagged with that language."""
    return [
        Example(message, language)
        for path in sorted((ROOT / "data" / "nlu" / language).glob("*.yml"))
        for message in load_data(str(path)).intent_examples
    ]


def train_fold(fold: int, examples: list[Example], config: Path) -> Path:
    """Train an NLU-only model on these examples with the real config; return its path."""
    data_path, log_path = WORK_DIR / f"fold{fold}.yml", WORK_DIR / f"fold{fold}.log"
    RasaYAMLWriter().dump(data_path, TrainingData([e.message for e in examples]))
    model_path = WORK_DIR / "models" / f"fold{fold}.tar.gz"
    model_path.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "rasa", "train", "nlu",
        "--config", str(config),
        "--nlu", str(data_path),
        "--out", str(model_path.parent),
        "--fixed-model-name", f"fold{fold}",
    ]  # fmt: skip
    env = {**os.environ, "RASA_MAX_CACHE_SIZE": "0"}  # no training cache: leave .rasa/ alone
    with log_path.open("w") as log:
        result = subprocess.run(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0 or not model_path.exists():
        raise SystemExit(f"Training fold {fold} failed (exit {result.returncode}); see {log_path}")
    return model_path


async def predict(model_path: Path, texts: list[str]) -> list[str]:
    """The intent the full NLU pipeline (rule-based components included) gives each text."""
    # Recorded, so never printed: TensorFlow, jax and matplotlib deprecation chatter (sanic's
    # import re-enables DeprecationWarning, so a plain "ignore" filter is not enough).
    with warnings.catch_warnings(record=True):
        from rasa.core.agent import Agent  # imports TensorFlow, so only once the env is set

        agent = Agent.load(model_path)
        return [scored_intent(await agent.parse_message(text)) for text in texts]


SAFETY_INTENTS = ("crisis", "danger_check", "disclosure")


def scored_intent(parse: dict[str, Any]) -> str:
    """The final intent; for a safety override, also the intent held to answer afterwards
    (as "final|held"; ``metrics`` scores the one that matches the true intent's kind)."""
    final = parse["intent"]["name"]
    held = ((parse.get("haven_danger") or {}).get("held") or {}).get("intent") or {}
    if final in SAFETY_INTENTS and held.get("name") and held["name"] != final:
        return f"{final}|{held['name']}"
    return final


DANGER_CLASS = {"crisis": "danger", "danger_check": "danger"}


def metrics(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Accuracy, macro/weighted F1 over the true intents, and the top 5 confusions."""
    y_true, y_pred = [t for t, _ in pairs], [p for _, p in pairs]
    labels = sorted(set(y_true))  # predictions such as nlu_fallback only count as misses

    def f1(average: str) -> float:
        return float(f1_score(y_true, y_pred, labels=labels, average=average, zero_division=0))

    confusions = Counter((t, p) for t, p in pairs if t != p).most_common(5)
    per_intent = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    # Danger read as "ask first" is the check-in, which also puts 911 first: one safety class
    # for this second figure (make bench-crisis measures danger detection itself).
    merged = [(DANGER_CLASS.get(t, t), DANGER_CLASS.get(p, p)) for t, p in pairs]
    m_true, m_pred = [t for t, _ in merged], [p for _, p in merged]
    return {
        "examples": len(pairs),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": f1("macro"),
        "weighted_f1": f1("weighted"),
        "macro_f1_danger_as_one": float(
            f1_score(m_true, m_pred, labels=sorted(set(m_true)), average="macro", zero_division=0)
        ),
        "per_intent_f1": {
            label: round(float(v), 3) for label, v in zip(labels, per_intent, strict=True)
        },
        "confusions": [{"true": t, "predicted": p, "count": n} for (t, p), n in confusions],
    }


def report(results: dict[str, dict[str, Any]], folds: int) -> str:
    """The results as a plain-text table followed by each language's top confusions."""
    lines = [
        f"Intent classification, {folds}-fold cross-validation (seed {SEED})",
        f"{'language':<10}{'examples':>10}{'accuracy':>10}{'macro-F1':>10}{'weighted-F1':>13}",
    ]
    for name, r in results.items():
        lines.append(
            f"{name:<10}{r['examples']:>10}{r['accuracy']:>10.3f}"
            f"{r['macro_f1']:>10.3f}{r['weighted_f1']:>13.3f}"
        )
    lines.append("\nMacro-F1 with crisis and check-in as one danger class (both put 911 first):")
    lines += [f"  {name:<8}{r['macro_f1_danger_as_one']:.3f}" for name, r in results.items()]
    lines.append("\nLowest per-intent F1")
    for name, r in results.items():
        lowest = sorted(r["per_intent_f1"].items(), key=lambda item: item[1])[:8]
        lines.append(f"  {name:<8}" + ", ".join(f"{k} {v:.2f}" for k, v in lowest))
    lines.append("\nMost common confusions (true → predicted: count)")
    for name, r in results.items():
        pairs = [f"{c['true']} → {c['predicted']}: {c['count']}" for c in r["confusions"]]
        lines.extend(
            f"{name if i == 0 else '':<10}{pair}" for i, pair in enumerate(pairs or ["none"])
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=3, help="number of folds (default 3)")
    parser.add_argument("--quick", action="store_true", help="2 folds (overrides --folds)")
    parser.add_argument("--config", type=Path, default=ROOT / "config.yml", help="pipeline to test")
    args = parser.parse_args()
    folds = 2 if args.quick else args.folds
    if folds < 2:
        parser.error("--folds must be at least 2")

    started = time.monotonic()
    os.environ.update(quiet_tensorflow_env())  # as bot.stack runs Rasa; TensorFlow reads it
    configure_logging_and_warnings(logging.ERROR)
    configure_structlog(logging.ERROR)
    ensure_private_dir(WORK_DIR)  # var/ and what is in it stay private
    scored = [e for language in LANGUAGES for e in load_examples(language)]
    neutral = load_examples(NEUTRAL)
    strata = [f"{e.language}/{e.intent}" for e in scored]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED)

    pairs: dict[str, list[tuple[str, str]]] = {language: [] for language in LANGUAGES}
    for fold, (train_idx, test_idx) in enumerate(splitter.split(scored, strata), start=1):
        fold_started = time.monotonic()
        log = WORK_DIR.relative_to(ROOT) / f"fold{fold}.log"
        size = len(train_idx) + len(neutral)
        print(f"Fold {fold}/{folds}: training on {size} examples (log: {log})", flush=True)
        model_path = train_fold(fold, [scored[i] for i in train_idx] + neutral, args.config)
        held_out = [scored[i] for i in test_idx]
        predicted = asyncio.run(predict(model_path, [e.text for e in held_out]))
        for example, intent in zip(held_out, predicted, strict=True):
            final, _, held = intent.partition("|")
            counted = final if example.intent in SAFETY_INTENTS or not held else held
            pairs[example.language].append((example.intent, counted))
        model_path.unlink()
        elapsed = time.monotonic() - fold_started
        print(f"  parsed {len(held_out)} held-out examples; fold took {elapsed:.0f} s", flush=True)

    results = {language: metrics(pairs[language]) for language in LANGUAGES}
    results["all"] = metrics([pair for language in LANGUAGES for pair in pairs[language]])
    wall = time.monotonic() - started
    print("\n" + report(results, folds))
    output = WORK_DIR / "results.json"
    payload = {"folds": folds, "seed": SEED, "wall_seconds": round(wall, 1), "results": results}
    output.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    print(f"\nWrote {output.relative_to(ROOT)}; wall time {wall / 60:.1f} min ({wall:.0f} s)")


if __name__ == "__main__":
    main()
