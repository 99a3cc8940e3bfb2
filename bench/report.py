"""One reproducible results table: runs the benchmarks and writes docs/benchmarks.md.

    python bench/report.py [--quick] [--out docs/benchmarks.md]

Every figure comes from a command run here, in this run, on data the shipped models and knobs were
not fitted on (SQuAD v1.1 dev; real 2023 news for encoding speed); each row gives its figure, the
exact command (run from the repository root), its data and split. The page header says the commit,
the machine (cores, model, load before and after) and the date. `--quick` runs smaller samples
(about 20 minutes on 2 cores); without it, everything in full.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEV = "../shared/data/squad/dev-v1.1.json.gz"
HEADLINE_START, HEADLINE_END = (
    "<!-- headline figures: written by bench/report.py -->",
    "<!-- end of headline figures -->",
)


@dataclass
class Measure:
    """One command whose JSON output gives one or more rows."""

    command: list[str]  # run from the repository root; "python" is this interpreter
    data: str
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]]
    chose: str  # what this command's data chose of what ships (so whether its rows are held out)
    headline: tuple[int, ...] = ()  # the rows (by position) the README's table repeats


def measures(quick: bool) -> list[Measure]:
    limit = ["--limit", "3000"] if quick else []
    speed = ["--questions", "100", "--encode", "200"] if quick else []
    sample = ["--sample", "2000"] if quick else []
    dev_note = "SQuAD v1.1 dev" + (" (first 3,000 questions; all 2,067 paragraphs indexed)" if quick else "")
    return [
        Measure(
            ["python", "-m", "qa", "eval", "open", DEV, *limit, "--json", "--quiet"],
            dev_note + ", the whole engine, each paragraph an article",
            chose="SQuAD v1.1 dev chose the reader among its training runs, `decided_at` and `SHORT_FORM`: not held out",
            headline=(0, 2, 3),
            rows=[
                ("open QA, always answering: EM / F1", lambda r: f"{r['exact_match']:.1f} / {r['f1']:.1f}"),
                (
                    "open QA with the shipped no-answer rule: EM / F1, answered",
                    lambda r: (
                        f"{r['exact_match_abstaining']:.1f} / {r['f1_abstaining']:.1f}, "
                        f"{r['answered_rate']:.1f} %"
                    ),
                ),
                (
                    "retrieval: answer in the top 1 / 5 / 20 passages (hybrid)",
                    lambda r: f"{r['recall@1']:.3f} / {r['recall@5']:.3f} / {r['recall@20']:.3f}",
                ),
                (
                    "engine calibration: ECE over answered questions (right = F1 ≥ 0.5)",
                    lambda r: f"{r['expected_calibration_error_answered']:.3f}",
                ),
            ],
        ),
        Measure(
            ["python", "-m", "qa", "eval", "open", DEV, "--orphan", "0.5", *limit, "--json", "--quiet"],
            dev_note + ", half of the articles removed, so their questions have no answer to find",
            chose="SQuAD v1.1 dev chose the reader among its training runs, `decided_at` and `SHORT_FORM`: not held out",
            headline=(0,),
            rows=[
                (
                    "abstained on questions whose article was removed",
                    lambda r: f"{r['orphaned_abstained']:.1f} %",
                ),
                (
                    "engine calibration with removed articles: ECE over answered questions",
                    lambda r: f"{r['expected_calibration_error_answered']:.3f}",
                ),
            ],
        ),
        Measure(
            ["python", "-m", "qa", "eval", "reader", DEV, "--mix", "realistic", *sample, "--json", "--quiet"],
            "SQuAD v1.1 dev"
            + (" (2,000 random questions)" if quick else "")
            + ", the reader alone on gold paragraphs, each with an unanswerable twin",
            chose="SQuAD v1.1 dev chose the reader among its training runs (its threshold and calibration were fitted on SQuAD train): not held out",
            rows=[
                (
                    "reader calibration: ECE over the realistic mix (all pairs)",
                    lambda r: f"{r['expected_calibration_error']:.3f}",
                ),
                ("reader: F1 on answerable questions, always answering", lambda r: f"{r['has_ans_f1']:.1f}"),
            ],
        ),
        Measure(
            ["python", "bench/speed.py", *speed, "--json"],
            "SQuAD v1.1 dev (random questions of all 48 topics, index of all 2,067 paragraphs); "
            "passages of real 2023 news (RealTimeQA)",
            chose="SQuAD v1.1 dev chose `decided_at`, the reading stop these timings depend on; the news passages chose nothing",
            headline=(0, 3),
            rows=[
                (
                    "one question, hybrid retrieval + reading: median (p90), passages read",
                    lambda r: (
                        f"{r['ask_shipped']['total_ms_median']:.0f} ms "
                        f"({r['ask_shipped']['total_ms_p90']:.0f}), "
                        f"{r['ask_shipped']['passages_read_per_question']:.2f} passages"
                    ),
                ),
                (
                    "the same, reading all top 5 (`decided_at=None`), same run",
                    lambda r: (
                        f"{r['ask_read_all_5']['total_ms_median']:.0f} ms "
                        f"({r['ask_read_all_5']['total_ms_p90']:.0f}), "
                        f"{r['ask_read_all_5']['passages_read_per_question']:.2f} passages"
                    ),
                ),
                (
                    "indexing, passages/s: shipped int8 (each passage alone) vs fp32 batched, SQuAD dev",
                    lambda r: (
                        f"{r['encode_squad_dev']['int8_per_s']:.1f} vs {r['encode_squad_dev']['fp32_per_s']:.1f}"
                    ),
                ),
                (
                    "indexing real 2023 news passages, passages/s: shipped int8 vs fp32 batched",
                    lambda r: (
                        f"{r['encode_news_2023']['int8_per_s']:.1f} vs {r['encode_news_2023']['fp32_per_s']:.1f}"
                    ),
                ),
                (
                    "20 different questions at once: median latency, directly vs through the page's micro-batcher",
                    lambda r: (
                        f"{r['concurrent_direct']['median_s']:.2f} s vs "
                        f"{r['concurrent_batched']['median_s']:.2f} s"
                    ),
                ),
            ],
        ),
        Measure(
            ["python", "bench/realtimeqa.py", "--half", "report", "--json"],
            "real news: RealTimeQA 2023, the report half's 730 quiz questions, each asked as of its day over the "
            "whole 7,587-article archive (bench/realtimeqa.py; the other half and 2025 fitted the answer ranker "
            "and chose its tiers)",
            headline=(0, 1, 2),
            chose="nothing: held out (2025 and 2023's fit half fitted both rankers and chose the tiers; this half was read once each time they changed)",
            rows=[
                (
                    "news: right, F1, answered (GPT-3 with the same search results: right, F1)",
                    lambda r: (
                        f"{news(r)['right_pct']:.1f} %, {news(r)['f1']:.1f}, {news(r)['answered_pct']:.1f} % "
                        f"({gpt3(r)['right_pct']:.1f} %, {gpt3(r)['f1']:.1f})"
                    ),
                ),
                (
                    "news, by tier: answers given, right; likely answers shown, right; area under the "
                    "precision-coverage curve",
                    lambda r: (
                        f"{news(r)['tiers']['answer']['given']}, {news(r)['tiers']['answer']['right']}; "
                        f"{news(r)['tiers']['likely']['given']}, {news(r)['tiers']['likely']['right']}; "
                        f"{news(r)['precision_coverage_area']:.3f}"
                    ),
                ),
                (
                    "news: abstained with the answer's articles left out; ECE over answered",
                    lambda r: (
                        f"{news(r)['abstained_without_answer_pct']:.1f} %; {news(r)['ece_answered']:.3f}"
                    ),
                ),
                (
                    "news: one question asked as of its day, median",
                    lambda r: f"{news(r)['ask_ms_median']:.0f} ms",
                ),
                (
                    "news: right answer first vs anywhere among the candidates; answer passage in the top 5 / 20",
                    lambda r: (
                        f"{news(r)['right_first_pct']:.1f} % vs {news(r)['right_anywhere_pct']:.1f} %; "
                        f"{news(r)['found@5_pct']:.1f} / {news(r)['found@20_pct']:.1f} %"
                    ),
                ),
                (
                    "news: right first, by where the archive holds the answer as of the question's day: in an "
                    "article of the week before / only in older ones / in none (questions; GPT-3 right)",
                    lambda r: "; ".join(
                        f"{g['right_first_pct']:.1f} % ({g['questions']}; {gpt3(r)['right_pct_by_reach'][where]:.1f} %)"
                        for where, g in news(r)["by_reach"].items()
                    ),
                ),
            ],
        ),
        Measure(
            ["python", "bench/first_ask.py", "--json"],
            "the seed article (the README's first command)",
            chose="nothing",
            headline=(0, 1),
            rows=[
                (
                    "first `qa ask` after install (empty model cache, no index)",
                    lambda r: f"{r['first_s']:.1f} s",
                ),
                ("`qa ask` from the shell afterwards, median of 5", lambda r: f"{r['again_median_s']:.2f} s"),
            ],
        ),
    ]


def news(r: dict[str, Any]) -> dict[str, Any]:
    return r["variants"]["as shipped"]["report"]


def gpt3(r: dict[str, Any]) -> dict[str, Any]:
    return r["baselines"]["report"]["GPT-3 + the same search results"]


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model or platform.processor()}), Python {platform.python_version()}"


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def run(measure: Measure) -> tuple[dict[str, Any] | None, float, str]:
    command = [sys.executable if part == "python" else part for part in measure.command]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    try:
        return json.loads(proc.stdout), seconds, ""
    except ValueError:
        return None, seconds, (proc.stderr.strip().splitlines() or ["no output"])[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller samples (about 20 minutes)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--rerender",
        action="store_true",
        help="run nothing: write the page again from the last run's outputs (bench/results/report.json)",
    )
    args = parser.parse_args()
    saved = ROOT / "bench" / "results" / "report.json"
    if args.rerender:
        raw = json.loads(saved.read_text())
        run_line = raw.pop("_run", None) or earlier_run_line(args.out)
    else:
        raw, run_line = run_all(args.quick)
        saved.parent.mkdir(exist_ok=True)
        saved.write_text(json.dumps({**raw, "_run": run_line}, indent=1))
    lines, headlines = [], []
    for measure in measures(args.quick or "--limit" in " ".join(raw)):
        shown = " ".join(measure.command)
        result = raw.get(shown)
        for n, (label, figure) in enumerate(measure.rows):
            try:
                value = figure(result) if result is not None else "failed (see the run's log)"
            except (KeyError, TypeError) as exc:
                value = f"missing from the output ({exc})"
            lines.append(f"| {label} | **{value}** | `{shown}` | {measure.data} | {measure.chose} |")
            if n in measure.headline:
                headlines.append(f"| {label} | {value} |")
    args.out.write_text("\n".join(page(run_line, lines)), encoding="utf-8")
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(HEADLINE_START), text.find(HEADLINE_END)
    if args.out == ROOT / "docs" / "benchmarks.md" and 0 <= start < end:
        table = "\n".join(["| measure | figure |", "|---|---|", *headlines])
        readme.write_text(
            text[: start + len(HEADLINE_START)] + "\n" + table + "\n" + text[end:], encoding="utf-8"
        )
    print(f"wrote {args.out}", file=sys.stderr)


def run_all(quick: bool) -> tuple[dict[str, Any], str]:
    """Every measure's command run once: their outputs by command, and the line saying how the run went."""
    load_before = os.getloadavg()
    # the code measured is the tree as it was when the run began
    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    started = datetime.datetime.now(datetime.timezone.utc)
    raw = {}
    for measure in measures(quick):
        shown = " ".join(measure.command)
        print(f"running: {shown}", file=sys.stderr, flush=True)
        result, seconds, error = run(measure)
        raw[shown] = result
        if result is None:
            print(f"  failed: {error}", file=sys.stderr, flush=True)
        print(f"  {seconds:.0f} s", file=sys.stderr, flush=True)
    load_after = os.getloadavg()
    return raw, (
        f"Written by `python bench/report.py{' --quick' if quick else ''}` on {started:%Y-%m-%d %H:%M} UTC, "
        f"commit `{git('rev-parse', '--short', 'HEAD')}`{dirty}; {machine()}; load average "
        f"{load_before[0]:.1f} before, {load_after[0]:.1f} after."
    )


def earlier_run_line(page_file: Path) -> str:
    """The run line of a page written before report.json kept it (its first sentences)."""
    for line in page_file.read_text(encoding="utf-8").splitlines():
        if line.startswith("Written by"):
            return line.split(" One run;")[0]
    return "Written by `python bench/report.py` (when: not recorded)."


def page(run_line: str, lines: list[str]) -> list[str]:
    return [
        "# Benchmarks",
        "",
        f"{run_line} One run; timings on a shared machine are "
        "noisy, so compare the figures of one run, not across runs. Each command runs from the repository "
        "root; the data sit in `../shared/data/`. Each row says what its data chose of what ships: the reader "
        "was trained on SQuAD v1.1 train and chosen among its training runs on SQuAD v1.1 dev, which also "
        "chose `decided_at` and `SHORT_FORM` (so the SQuAD dev rows are not held out from those choices); both "
        "rankers were fitted on RealTimeQA 2025 and 2023's fit half (the answer ranker also on SQuAD v1.1 "
        "train), which also chose the tiers; the news rows report 2023's report half, which chose nothing.",
        "",
        "| measure | figure | command | data | what this data chose of what ships |",
        "|---|---|---|---|---|",
        *lines,
        "",
        "What the words mean: *EM/F1* are SQuAD's official answer scores (normalised text); an answer is "
        "*right* when its F1 against a gold answer is at least 0.5; *ECE* is the expected calibration error "
        "of the confidence shown (10 bins), over the questions the engine answered unless a row says "
        "otherwise; *passages read* counts the passages the reader actually read (reading stops at a sure "
        "first passage).",
        "",
    ]


if __name__ == "__main__":
    main()
