"""Language detection accuracy and the latency translation adds, measured.

1. Detection: accuracy per language on ``tests/data/language_detection.yml`` (short
   messages of 1-2 words and of 3 words or more, written separately from the detector),
   and how many English and Spanish NLU training examples would be read as a third
   language.
2. Translation: per message, the English pivot (``machine.to_pivot``) and a rendered reply
   in a language without a catalog (``Renderer``: machine translation, cold and cached),
   next to the baselines in the same run: the same reply in English, and from the Spanish
   catalog. By default with the tiny test packages (Haven's own overhead); with
   ``--pair xx``, with the real ``xx→en`` / ``en→xx`` packages installed in var/argos.

Usage: make bench-languages  (or .venv/bin/python -m scripts.bench_languages [--pair xx])
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_MESSAGES = {
    "de": ["hallo", "ich brauche essen in Houston", "mein chef nahm meinen pass"],
}
REPLIES = [
    "Where should I look?",
    "What do you need help with? You can also write it in your own words.",
    "If you are in danger now, call 911.",
]


def detection() -> None:
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.i18n.detect import detect_language

    data = yaml.safe_load((ROOT / "tests" / "data" / "language_detection.yml").read_text())
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    print("Detection accuracy (tests/data/language_detection.yml)")
    print(f"{'lang':<6}{'1-2 words':>11}{'3+ words':>10}")
    for language, sets in data.items():
        row = []
        for kind in ("short", "long"):
            hits = sum(detect_language(t).language == language for t in sets[kind])
            totals[kind][0] += hits
            totals[kind][1] += len(sets[kind])
            row.append(f"{hits}/{len(sets[kind])}")
        print(f"{language:<6}{row[0]:>11}{row[1]:>10}")
    for kind, label in (("short", "1-2 words"), ("long", "3+ words")):
        hits, count = totals[kind]
        print(f"all, {label}: {hits}/{count} = {hits / count:.3f}")
    for language in ("en", "es"):
        examples = load_data(str(ROOT / "data" / "nlu" / language)).intent_examples
        other = sum(
            detect_language(e.get("text")).language not in (None, "en", "es") for e in examples
        )
        print(f"{language} training examples read as a third language: {other}/{len(examples)}")


def timed(function, repeat: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) * 1000 / repeat


def latency(pair: str | None) -> None:
    from bot.i18n import argos, machine
    from bot.nlg.render import Renderer
    from bot.settings import get_settings

    language = pair or "de"
    if pair is None:
        from bot.db.migrate import upgrade
        from tests.argos_packages import build_packages

        folder = Path(tempfile.mkdtemp(prefix="haven-bench-languages-"))
        os.environ["HAVEN_VAR_DIR"] = str(folder / "var")
        os.environ["HAVEN_DATABASE_URL"] = f"sqlite:///{folder}/var/haven.db"
        get_settings.cache_clear()
        upgrade(get_settings().database_url)
        for path in build_packages(folder / "packages").values():
            argos.install(path)
    if not (argos.can_translate(language, "en") and argos.can_translate("en", language)):
        raise SystemExit(
            f"Install {language}→en and en→{language} first (haven translate install)."
        )
    messages = SAMPLE_MESSAGES.get(language) or ["hello", "thank you very much for your help"]

    def render(code: str, text: str) -> str:
        return Renderer(code).reply({"text": {"msg": text, "values": {}}})["text"]

    machine.to_pivot("warm up", language)  # loads the model once, as a server does
    pivot = [timed(lambda m=m: argos.translate_text(m, language, "en")) for m in messages]
    english = [timed(lambda r=r: render("en", r), 50) for r in REPLIES]
    spanish = [timed(lambda r=r: render("es", r), 50) for r in REPLIES]
    machine.forget(language)
    cold = [timed(lambda r=r: render(language, r)) for r in REPLIES]
    warm = [timed(lambda r=r: render(language, r), 50) for r in REPLIES]
    machine._cached.cache_clear()
    stored = [timed(lambda r=r: render(language, r)) for r in REPLIES]
    source = f"real packages {language}" if pair else "tiny test packages (Haven's overhead)"
    print(f"\nTranslation latency per message, {source}; median ms")
    for label, values in (
        ("reply in English (baseline)", english),
        ("reply from the Spanish catalog", spanish),
        (f"reply machine-translated to {language}, first time", cold),
        ("  again, from the database (new process)", stored),
        ("  again, from memory", warm),
        (f"user message {language}→en (pivot)", pivot),
    ):
        print(f"  {label:<48}{statistics.median(values):8.2f}")
    added = statistics.median(cold) + statistics.median(pivot) - statistics.median(english)
    print(f"Added per translated exchange (pivot in + first translation out): {added:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", help="measure the installed real packages xx→en and en→xx")
    args = parser.parse_args()
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    detection()
    latency(args.pair)


if __name__ == "__main__":
    main()
