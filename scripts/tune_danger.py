"""Where the danger model's thresholds come from (`make tune-danger`).

Five-fold cross-validation on the training data only (``data/safety``; the held-out set
in ``tests/heldout`` is never read here): every example is scored by a model that did not
see it, and the rule written beside the thresholds in ``bot/safety/danger_model.py`` is
applied per language:

- the crisis reply where false alarms on the hard negatives (label ``none``) stay at
  ``--false-alarms`` (3 %);
- the check-in where ``--recall`` (98 %) of present danger is caught;

then the lower of the two languages, rounded down to 0.05. It prints the figures and the
thresholds it would choose next to the ones in use; it changes nothing by itself.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from bot.safety import danger_model as dm

ROOT = Path(__file__).resolve().parent.parent


def out_of_fold(examples: list[dm.Example], folds: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each example's probability of present danger, and of danger or doubt (what the
    check-in reads), from a model trained without it."""
    scores, worries = np.zeros(len(examples)), np.zeros(len(examples))
    strata = [f"{e.language}:{e.label}" for e in examples]
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for number, (train, test) in enumerate(splitter.split(examples, strata), start=1):
        model = dm.DangerModel.train([examples[i] for i in train])
        rows = model.probabilities([examples[i].text for i in test])
        danger = [i for i, label in enumerate(model.labels) if label in dm.DANGER_TYPES]
        doubt = [i for i, label in enumerate(model.labels) if label == dm.POSSIBLE]
        scores[test] = rows[:, danger].sum(axis=1)
        worries[test] = rows[:, danger + doubt].sum(axis=1)
        print(f"  fold {number}/{folds} done", flush=True)
    return scores, worries


def floor_to(value: float, step: float = 0.05) -> float:
    return math.floor(value / step + 1e-9) * step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--false-alarms", type=float, default=0.03)
    parser.add_argument("--recall", type=float, default=0.98)
    args = parser.parse_args()
    examples = dm.load_examples(ROOT / "data" / "safety")
    print(f"{len(examples)} training examples; {args.folds}-fold cross-validation")
    scores, worries = out_of_fold(examples, args.folds, args.seed)
    danger_at, check_in_at = [], []
    for language in sorted({e.language for e in examples}):
        mine = [i for i, e in enumerate(examples) if e.language == language]
        negatives = np.array([scores[i] for i in mine if examples[i].label == dm.NONE])
        present = np.array([scores[i] for i in mine if examples[i].label in dm.DANGER_TYPES])
        worried = np.array([worries[i] for i in mine if examples[i].label in dm.DANGER_TYPES])
        danger = float(np.quantile(negatives, 1 - args.false_alarms))
        check_in = float(np.quantile(worried, 1 - args.recall))
        danger_at.append(danger)
        check_in_at.append(check_in)
        print(
            f"[{language}] {len(present)} present danger, {len(negatives)} hard negatives: "
            f"crisis reply at {danger:.3f} ({args.false_alarms:.0%} false alarms), "
            f"check-in at {check_in:.3f} ({args.recall:.0%} recall)"
        )
        calm = np.array([worries[i] for i in mine if examples[i].label == dm.NONE])
        for name, threshold, caught_scores, alarm_scores in (
            ("crisis", dm.DANGER_THRESHOLD, present, negatives),
            ("check-in", dm.CHECK_IN_THRESHOLD, worried, calm),
        ):
            caught = float(np.mean(caught_scores >= threshold))
            alarms = float(np.mean(alarm_scores >= threshold))
            print(f"    at the {name} threshold in use ({threshold:.2f}): "
                  f"danger caught {caught:.3f}, negatives reaching it {alarms:.3f}")  # fmt: skip
    print(
        f"Chosen by the rule: DANGER_THRESHOLD {floor_to(min(danger_at)):.2f}, "
        f"CHECK_IN_THRESHOLD {floor_to(min(check_in_at)):.2f} "
        f"(in use: {dm.DANGER_THRESHOLD:.2f}, {dm.CHECK_IN_THRESHOLD:.2f})"
    )


if __name__ == "__main__":
    main()
