"""Danger and disclosure detection, measured on a held-out set it never saw (`make bench-crisis`).

What it measures: how the trained model's whole NLU pipeline (the intent model, the keyword
floor and the danger model, exactly as `make run` uses them) answers each message of
``tests/heldout/safety/<lang>.yml``: messages written independently of the training data
and of the rules, never trained on, never tuned against.

For each message the outcome is what the user would get first: the crisis reply, the
check-in question ("Are you in danger right now?", with 911), the acknowledgement of a
disclosure, or the ordinary answer. Printed per language:

- present danger: recall of the crisis reply, and of "crisis reply or check-in" (both put
  911 first: the recall target counts these);
- none: false alarms (the crisis reply where none was needed) and check-ins;
- disclosure: acknowledged at once; at once or after the check-in (a "no, not in danger"
  to the check-in brings the acknowledgement when the model read a disclosure too); and
  acknowledged or escalated to the crisis reply or check-in;
- the confusion between kinds of danger (which crisis reply was chosen);
- the time the danger components add per message (p50/p95, this machine).

Usage: make bench-crisis  (or .venv/bin/python -m scripts.bench_crisis [--model PATH])
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bot.nlu.danger import DANGER_KEY
from bot.safety.danger_model import (
    DANGER_TYPES,
    DISCLOSURE,
    DISCLOSURE_THRESHOLD,
    NONE,
    load_examples,
)
from bot.settings import ensure_private_dir, get_settings
from bot.training import model_path, quiet_tensorflow_env

ROOT = Path(__file__).resolve().parent.parent
HELD_OUT = ROOT / "tests" / "heldout" / "safety"
OUTCOMES = {"crisis": "crisis", "danger_check": "check_in", "disclosure": "disclosure"}


def outcome(parse: dict[str, Any]) -> tuple[str, str | None]:
    """What the user gets first, and the crisis reply's kind when there is one."""
    intent = (parse.get("intent") or {}).get("name")
    kind = next(
        (e.get("value") for e in parse.get("entities") or [] if e.get("entity") == "crisis_type"),
        None,
    )
    return OUTCOMES.get(intent, "answer"), kind


async def parse_all(model: Path, texts: list[str]) -> tuple[list[dict], list[float]]:
    with warnings.catch_warnings(record=True):
        from rasa.core.agent import Agent

        agent = Agent.load(model)
        parsed, seconds = [], []
        for text in texts:
            started = time.perf_counter()
            parsed.append(await agent.parse_message(text))
            seconds.append(time.perf_counter() - started)
        return parsed, seconds


def danger_component_seconds(model: Path, texts: list[str]) -> list[float]:
    """Time of the danger assessment alone (model + keyword floor), per message."""
    import tarfile
    import tempfile

    with tempfile.TemporaryDirectory() as folder, tarfile.open(model) as archive:
        members = [m for m in archive.getmembers() if "DangerDetector" in m.name]
        if not members:  # a model from before the danger model: nothing to time
            return []
        from bot.safety.crisis_rules import detect_crisis
        from bot.safety.danger_model import DangerModel

        archive.extractall(folder, members=members)  # noqa: S202 - our own model file
        stored = next(p.parent for p in Path(folder).rglob("coef.npy"))
        danger = DangerModel.load(stored)
    seconds = []
    for text in texts:
        started = time.perf_counter()
        danger.assess(text)
        detect_crisis(text)
        seconds.append(time.perf_counter() - started)
    return seconds


def rate(hits: int, total: int) -> str:
    return f"{hits / total:.3f} ({hits}/{total})" if total else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="trained model (default: current)")
    args = parser.parse_args()
    model = args.model or model_path(get_settings())
    if not model.exists():
        raise SystemExit(f"No model at {model}: run `make train` first.")
    os.environ.update(quiet_tensorflow_env())
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.ERROR)
    configure_structlog(logging.ERROR)  # never print the messages (Rasa logs parses at debug)
    examples = load_examples(HELD_OUT)
    parsed, seconds = asyncio.run(parse_all(model, [e.text for e in examples]))
    results: dict[str, Any] = {}
    lines = [
        f"Held-out set: {HELD_OUT.relative_to(ROOT)} ({len(examples)} messages), model {model.name}"
    ]
    for language in sorted({e.language for e in examples}):
        rows = [
            (e, *outcome(p), (p.get(DANGER_KEY) or {}).get("disclosure", 0.0))
            for e, p in zip(examples, parsed, strict=True)
            if e.language == language
        ]
        danger = [r for r in rows if r[0].label in DANGER_TYPES]
        disclosures = [r for r in rows if r[0].label == DISCLOSURE]
        ordinary = [r for r in rows if r[0].label == NONE]
        counts = {
            "danger": len(danger),
            "crisis_reply": sum(r[1] == "crisis" for r in danger),
            "crisis_or_check_in": sum(r[1] in ("crisis", "check_in") for r in danger),
            "none": len(ordinary),
            "false_alarm_crisis": sum(r[1] == "crisis" for r in ordinary),
            "check_in_on_none": sum(r[1] == "check_in" for r in ordinary),
            "disclosure_on_none": sum(r[1] == "disclosure" for r in ordinary),
            "disclosures": len(disclosures),
            "acknowledged": sum(r[1] == "disclosure" for r in disclosures),
            "escalated": sum(r[1] in ("crisis", "check_in") for r in disclosures),
            # "No, not in danger" after the check-in brings the acknowledgement (bot.actions.safety)
            "acknowledged_after_check_in": sum(
                r[1] == "check_in" and r[3] >= DISCLOSURE_THRESHOLD for r in disclosures
            ),
        }
        confusion: dict[str, Counter] = defaultdict(Counter)
        for example, result, kind, _ in danger:
            confusion[example.label][kind if result in ("crisis", "check_in") else "missed"] += 1
        per_kind = {
            kind: rate(sum(r[1] in ("crisis", "check_in") for r in danger if r[0].label == kind),
                       sum(r[0].label == kind for r in danger))
            for kind in DANGER_TYPES
        }  # fmt: skip
        results[language] = {"counts": counts, "confusion": confusion, "recall_by_kind": per_kind}
        c = counts
        lines += [
            "",
            f"[{language}]",
            f"  present danger: crisis reply {rate(c['crisis_reply'], c['danger'])}; "
            f"crisis reply or check-in (911 first) {rate(c['crisis_or_check_in'], c['danger'])}",
            "  by kind (crisis or check-in): " + ", ".join(f"{k} {v}" for k, v in per_kind.items()),
            f"  none: false alarms (crisis reply) {rate(c['false_alarm_crisis'], c['none'])}; "
            f"check-ins {rate(c['check_in_on_none'], c['none'])}; "
            f"read as disclosure {rate(c['disclosure_on_none'], c['none'])}",
            f"  disclosure: acknowledged at once {rate(c['acknowledged'], c['disclosures'])}; "
            "at once or after the check-in's 'no' "
            + rate(c["acknowledged"] + c["acknowledged_after_check_in"], c["disclosures"])
            + "; acknowledged or escalated (crisis reply or check-in) "
            + rate(c["acknowledged"] + c["escalated"], c["disclosures"]),
            "  kind of danger → reply chosen (true: predicted counts):",
        ]
        for kind in DANGER_TYPES:
            chosen = ", ".join(f"{k} {n}" for k, n in confusion[kind].most_common())
            lines.append(f"    {kind:<18} {chosen}")
    component = danger_component_seconds(model, [e.text for e in examples]) or [0.0]

    def ms(values: list[float], q: float) -> float:
        return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000

    timing = {
        "nlu_parse_p50_ms": ms(seconds, 0.5),
        "nlu_parse_p95_ms": ms(seconds, 0.95),
        "danger_p50_ms": ms(component, 0.5),
        "danger_p95_ms": ms(component, 0.95),
        "danger_mean_ms": statistics.mean(component) * 1000,
    }
    results["timing"] = timing
    lines += [
        "",
        f"Time per message: whole NLU parse p50 {timing['nlu_parse_p50_ms']:.1f} ms, "
        f"p95 {timing['nlu_parse_p95_ms']:.1f} ms; of which danger model + keyword floor "
        f"p50 {timing['danger_p50_ms']:.2f} ms, p95 {timing['danger_p95_ms']:.2f} ms.",
    ]
    print("\n".join(lines))
    output = ROOT / "var" / "bench-crisis" / "results.json"
    ensure_private_dir(output.parent)  # var/ and what is in it stay private
    output.write_text(json.dumps(results, indent=2, default=dict) + "\n")
    print(f"\nWrote {output.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
