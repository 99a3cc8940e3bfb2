"""Probe (2026-12-07): how many answers come from link lines, credits and newsletter voice, before and after
the rules of qa/boilerplate.py that bar them (RELATED_LINK, CONTRIBUTORS, NEWSLETTER_VOICE).

    python bench/experiments/boilerplate_answers.py [--data bench/results/answer-data.pkl]

Over the questions collected by scripts/answer_data.py (the indexes were built before these rules, so their
passages still hold such lines), each asked as of its day as the engine does (5 passages, the shipped
ranker): how many first answers, and how many answers given (answer tier), are cited to a boilerplate line,
with answers from boilerplate lines allowed (before) and barred (after, as shipped). Decided: that the
rules ship; the lines themselves were read on 2025's archive.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from common import ROOT  # noqa: E402 - first: this checkout's qa, models offline

import qa.answers  # noqa: E402
from qa.assembly import Assembly, Question  # noqa: E402
from qa.boilerplate import boilerplate_spans  # noqa: E402
from qa.config import Config  # noqa: E402


def on_boilerplate(answer: qa.answers.Answer) -> bool:
    c = answer.citation
    start, end = c.start - c.passage_start, c.end - c.passage_start
    return any(s < end and start < e for s, e in boilerplate_spans(c.passage))


def count(entries: list[dict], assembly: Assembly) -> dict[str, int]:
    out = {"questions": 0, "first_on_boilerplate": 0, "given_on_boilerplate": 0}
    for entry in entries:
        data = entry["found"]
        hits, readings = data["hits"][:5], data["readings"][:5]
        if assembly.reads_first_alone(entry["question"]) and assembly.sure_enough(readings[:1]):
            readings = readings[:1]
        asked = Question(entry["question"], hits, readings, data["asked_as_of"], data["left_out"])
        result = assembly.assemble(asked, data["carried"], always_answer=True)
        out["questions"] += 1
        if result.answers and on_boilerplate(result.answers[0]):
            out["first_on_boilerplate"] += 1
            out["given_on_boilerplate"] += int(result.confident)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=ROOT / "bench" / "results" / "answer-data.pkl")
    args = parser.parse_args()
    entries = [e for e in pickle.loads(args.data.read_bytes()).values() if e.get("year") in (2023, 2025)]
    entries = [e for e in entries if not e.get("refused")]
    assembly = Assembly.from_config(Config())
    for year in (2025, 2023):
        chosen = [e for e in entries if e["year"] == year]
        after = count(chosen, assembly)
        barring = qa.answers.boilerplate_spans
        qa.answers.boilerplate_spans = lambda text: []  # type: ignore[assignment] # before: only datelines, credits
        try:
            before = count(chosen, assembly)
        finally:
            qa.answers.boilerplate_spans = barring
        print(f"{year}: before {before}")
        print(f"{year}: after  {after}")


if __name__ == "__main__":
    main()
