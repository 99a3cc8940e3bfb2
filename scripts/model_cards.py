"""Write the "What ships" part of each model's card from the model's own training metadata.

    python scripts/model_cards.py [--check]

The reader's card (qa/models/reader/README.md) from its training.json; the rankers' card
(qa/models/ranker/README.md) from ranker.json's and passages.json's `info`. Each generated part sits between
the markers below and is replaced whole; the rest of a card (its measured scores) is written by hand, and
what was tried before lives in docs/models-history.md. `--check` changes nothing and exits 1 when a card is
out of date (a fast test runs the same check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "qa" / "models"
BEGIN = "<!-- what ships: written by scripts/model_cards.py from the model's metadata; do not edit -->"
END = "<!-- end of what ships -->"


def table(rows: list[tuple[str, str]]) -> str:
    return "| | |\n| --- | --- |\n" + "".join(f"| {key} | {value} |\n" for key, value in rows)


def reader_part(folder: Path) -> str:
    meta = json.loads((folder / "training.json").read_text())
    config = meta.get("config", {})
    runs = "; ".join(
        f"`{name}`: from {run.get('base', '?')}, {run['steps']:,} steps"
        + (f" ({run['windows']:,} windows)" if "windows" in run else "")
        + f", lr {run.get('learning_rate', '?')}, negatives {run.get('negatives', '?')}, seed {run.get('seed', '?')}"
        for name, run in meta.get("chain", {}).items()
        if "steps" in run
    )
    averaged = meta.get("averaged_from")
    calibration = meta.get("calibration") or {}
    size = (folder / "model.safetensors").stat().st_size / 1e6
    rows = [
        ("made from", str(meta.get("base_model", "?"))),
        ("runs", runs or f"{meta.get('steps', '?')} steps"),
        ("averaged", " and ".join(f"`{Path(p).name}`" for p in averaged) if averaged else "no"),
        (
            "last run",
            f"{meta.get('steps', '?'):,} steps of batch {config.get('batch_size', '?')}, max length "
            f"{config.get('max_length', '?')} (stride {config.get('stride', '?')}), {meta.get('seconds', 0):,.0f} s "
            f"on {meta.get('hardware', '?')}",
        ),
        ("training data", f"{config.get('data', '?')}: {meta.get('training_pairs', 0):,} pairs → "
         f"{meta.get('training_windows', 0):,} windows, {meta.get('unanswerable_windows', 0):,} without the answer"),
        (
            "no-answer threshold",
            f"{meta.get('no_answer_threshold')} (rule `{meta.get('abstain_on')}`), chosen by "
            f"{meta.get('no_answer_threshold_from', '?')}",
        ),
        ("calibration", f"isotonic, {len(calibration.get('x', []))} points; {calibration.get('fitted_on', 'none')}"
         if calibration else "none"),
        ("weights", f"`model.safetensors`, {size:.0f} MB"),
        (
            "rebuild",
            "`python scripts/build_reader.py --output runs/reader --device cuda`: a fixed two-stage schedule from "
            "all-MiniLM-L6-v2 and a calibration (not the chain above, which budgets cut; see "
            "[the history](../../../docs/models-history.md))",
        ),
    ]  # fmt: skip
    return table(rows)


def answer_ranker_part(path: Path) -> str:
    data = json.loads(path.read_text())
    info: dict[str, Any] = data.get("info", {})
    fitted = info.get("fitted_on", {})
    tiers = info.get("tiers", {})
    reader, retrieval = info.get("reader_weights_sha256_12", "?"), info.get("retrieval", "?")
    likely = f"from {data.get('likely_threshold')}"
    if tiers:
        likely += (
            f"; on fit data {tiers.get('likely_tier_on_fit')}, held-out weeks {tiers.get('likely_held_out')}"
        )
    rows = [
        ("model", f"logistic regression over {len(data['features'])} features: {', '.join(data['features'])}"),
        ("fitted for", f"reader weights `{reader}`; retrieval: {retrieval}"),
        ("fitted on", "; ".join(f"{k}: {v}" for k, v in fitted.items()) if isinstance(fitted, dict) else str(fitted)),
        ("candidates", f"{info.get('candidates', 0):,}, {info.get('right', 0):,} right"),
        ("answer threshold", f"{data['threshold']:.3f}: {info.get('threshold_rule', '?')}"),
        ("likely tier", likely),
        ("answer tier", f"on fit data {tiers.get('answer_tier_on_fit')}, held-out weeks {tiers.get('answer_held_out')}"
         if tiers else "?"),
        ("rebuild", f"`{info.get('command', 'python scripts/build_answer_ranker.py')}`"),
    ]  # fmt: skip
    return table(rows)


def passage_ranker_part(path: Path) -> str:
    data = json.loads(path.read_text())
    info: dict[str, Any] = data.get("info", {})
    found = info.get("found_at_k_percent_search_order_vs_learned_2_fold_by_week", {})
    rows = [
        (
            "model",
            f"logistic regression over {len(data['features'])} features: {', '.join(data['features'])}",
        ),
        ("fitted on", str(info.get("fitted_on", "?"))),
        ("encoder of the archive", str(info.get("encoder", "not recorded"))),
        (
            "answer passage among the first k, search order → learned (2-fold by week)",
            ", ".join(f"k={k}: {a} → {b} %" for k, (a, b) in found.items()),
        ),
        ("rebuild", f"`{info.get('command', 'python scripts/build_passage_ranker.py')}`"),
    ]
    return table(rows)


def rewritten(card: Path, part: str) -> str:
    text = card.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(
            f"{card} has no generated part (markers {BEGIN!r} … {END!r}); add them where it goes."
        )
    head, rest = text.split(BEGIN, 1)
    return head + BEGIN + "\n" + part + rest[rest.index(END) :]


def cards() -> dict[Path, str]:
    """Each card's text as it should be."""
    reader = MODELS / "reader" / "README.md"
    rankers = MODELS / "ranker" / "README.md"
    ranker_text = rewritten(rankers, answer_ranker_part(MODELS / "ranker" / "ranker.json"))
    head, rest = ranker_text.split(END, 1)  # the passage ranker's part is the card's second
    second = rest.split(BEGIN, 1)
    ranker_text = (
        head + END + second[0] + BEGIN + "\n" + passage_ranker_part(MODELS / "ranker" / "passages.json")
    )
    ranker_text += second[1][second[1].index(END) :]
    return {reader: rewritten(reader, reader_part(MODELS / "reader")), rankers: ranker_text}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when a card is out of date"
    )
    args = parser.parse_args()
    stale = [path for path, text in cards().items() if path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run python scripts/model_cards.py")
        return 1 if stale else 0
    for path, text in cards().items():
        path.write_text(text)
    print(f"Wrote {len(stale)} card(s)" if stale else "The cards were up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
