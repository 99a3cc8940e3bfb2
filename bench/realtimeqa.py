"""The news benchmark: a real year of news (RealTimeQA 2023), each quiz question asked as of its own day.

    python bench/realtimeqa.py [--weeks N] [--half fit|report] [--variant NAME=READER:RANKER ...] [--json]

Indexes the 7,587 dated articles of ../shared/data/realtimeqa-2023 through `Engine` (once; the index is
kept in bench/results/ and reused while it holds the same articles), then asks each of the 1,429 CNN
news-quiz questions with `as_of` = the quiz's day, so nothing published later is searched. Scored as
RealTimeQA's generation setting is: *right* when the normalised answer contains the right choice or is
contained in it; EM/F1 with SQuAD's normalisation. Also reported: the answered rate, the right choice
first among the candidates vs anywhere among them, an answer-bearing passage among the top 5/20/50
retrieved, calibration (ECE over answered questions), answers given from boilerplate (a dateline, credit or
ad line of the stored text: qa.boilerplate) and citations of articles published after `as_of`, abstention
when every article that contains the answer is left out (`Filters.exclude`) and when asked 60 days before
the quiz, build passages/s and the median ask; and right / right first / right anywhere by where the
archive holds the answer as of the question's day (`reach`: in an article of the week before, only in older
ones, in none). The RealTimeQA team's stored systems are scored the same way beside it, overall and by reach.

The split is fixed here, by week (`half`): the 1st, 3rd, 5th ... weeks of the year are the *fit* half
(fit, tune and choose anything on it), the others the *report* half (report only). `--weeks N` keeps the
first N weeks, and as the archive only the articles RealTimeQA's searches found for their questions,
for a quick run; `--half` asks one half only. Each `--variant NAME=READER:RANKER` asks every question
again with another reader folder and answer ranker file (`shipped` for the shipped one, `none` for no
ranker), in the same run over the same index, so that variants compare side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT  # first: this checkout's qa, models offline

from qa.articles import Article
from qa.boilerplate import in_apparatus
from qa.calibration import expected_calibration_error
from qa.config import Config
from qa.engine import Engine
from qa.errors import InputError
from qa.retrieval import Filters
from qa.squad import normalize_answer, score

SHARED = ROOT.parent / "shared" / "data"
DATA = SHARED / "realtimeqa-2023"
BASELINES = {
    "GPT-3 + the same search results": "qa_open_gpt3_gcs_gen",
    "RAG + the same search results": "qa_open_rag_gcs_gen",
}
EARLIER_DAYS = 60
WEEK_DAYS = 7  # "the week before": an article of the question's day or of the 7 days before it
REACHES = ("in the week's news", "only in older news", "in no article by its day")


def half(week: str, weeks: list[str]) -> str:
    """The split, by week: the 1st, 3rd, ... weeks of the year fit, the 2nd, 4th, ... report."""
    return "fit" if sorted(weeks).index(week) % 2 == 0 else "report"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def right(prediction: str, truth: str) -> bool:
    """RealTimeQA's generation notion of right: one normalised text contains the other (and neither is empty)."""
    p, t = normalize_answer(prediction), normalize_answer(truth)
    return bool(p) and bool(t) and (p in t or t in p)


def archive(records: list[dict[str, Any]]) -> list[Article]:
    return [
        Article(r["id"], r.get("title") or r["url"], r["text"], r.get("date"), r.get("source"), r["url"])
        for r in records
        if r.get("text", "").strip()
    ]


def open_index(folder: Path, articles: list[Article], rebuild: bool) -> tuple[Engine, float | None]:
    """The archive's index, built through Engine unless one with the same articles is already there."""
    if not rebuild and folder.is_dir():
        try:
            engine = Engine.open(folder)
            if engine.stats().articles == len({a.id for a in articles}):
                return engine, None
        except Exception:  # noqa: BLE001 - an unusable cache is built again
            pass
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    engine = Engine.create(folder, progress=True)
    start = time.perf_counter()
    report = engine.add_articles(articles)
    return engine, report.passages / (time.perf_counter() - start)


def holders(question: dict[str, Any], texts: dict[str, str]) -> list[str]:
    """Ids of the articles whose text contains the right answer (normalised)."""
    answer = normalize_answer(question["answer_text"])
    return [i for i, text in texts.items() if answer and answer in text]


def reach(question: dict[str, Any], bearing: list[str], dates: dict[str, str]) -> str:
    """Where the archive holds the right answer as of the question's day (REACHES): in an article of the week
    before, only in older (or undated) articles, or in none published by then. Containment of the normalised
    answer, as `holders` counts it, so a common answer ("Disney") may be held by an article about something else."""
    day = datetime.date.fromisoformat(question["date"])
    ages = [(day - datetime.date.fromisoformat(dates[i])).days if dates.get(i) else None for i in bearing]
    if any(age is not None and 0 <= age <= WEEK_DAYS for age in ages):
        return REACHES[0]
    return REACHES[1] if any(age is None or age >= 0 for age in ages) else REACHES[2]


def variant_config(spec: str) -> tuple[str, Config]:
    """NAME=READER:RANKER[:PASSAGES[:CANDIDATES]] (each `shipped`, a path, or for the rankers `none`; the
    hybrid search's depth) as an engine Config."""
    name, _, models = spec.partition("=")
    reader, _, rankers = models.partition(":")
    ranker, _, rest = rankers.partition(":")
    passages, _, candidates = rest.partition(":")
    config = Config()
    if reader not in ("", "shipped"):
        config = config.with_(reader_model=reader)
    if ranker == "none":
        config = dataclasses.replace(config, answer_ranker=None)
    elif ranker not in ("", "shipped"):
        config = config.with_(answer_ranker=ranker)
    if passages == "none":
        config = dataclasses.replace(config, passage_ranker=None)
    elif passages not in ("", "shipped"):
        config = dataclasses.replace(config, passage_ranker=passages)
    if candidates:
        config = dataclasses.replace(config, candidates=int(candidates))
    return name or spec, config


def ask_all(
    engine: Engine,
    questions: list[dict[str, Any]],
    bearings: dict[str, list[str]],
    stored: dict[str, str],
    reaches: dict[str, str],
) -> list[dict[str, Any]]:
    """One row per question; `bearings`: the ids of the articles holding each question's answer (`holders`),
    `stored`: each article's text as stored (for offsets), `reaches`: where the archive holds the answer."""
    rows: list[dict[str, Any]] = []
    for n, q in enumerate(questions, 1):
        truth = q["answer_text"]
        start = time.perf_counter()
        try:
            result = engine.ask(q["question"], as_of=q["date"])
        except (
            InputError
        ) as exc:  # a question the engine refuses (too long for the reader): counted unanswered
            print(f"  {q['id']}: refused ({exc})", file=sys.stderr)
            rows.append(refused_row(q["id"], len(bearings[q["id"]]), reaches[q["id"]]))
            continue
        seconds = time.perf_counter() - start
        best = result.answers[0] if result.answers else None
        deep = engine.search(q["question"], top_k=50, filters=Filters(as_of=q["date"]))
        found = [any(right_in(h.passage.text, truth) for h in deep[:k]) for k in (5, 20, 50)]
        bearing = bearings[q["id"]]
        hidden = engine.ask(
            q["question"], as_of=q["date"], filters=Filters(exclude=bearing) if bearing else None
        )
        earlier = (datetime.date.fromisoformat(q["date"]) - datetime.timedelta(days=EARLIER_DAYS)).isoformat()
        before = engine.ask(q["question"], as_of=earlier)
        rows.append(
            {
                "id": q["id"],
                "answered": result.answered,
                "tier": result.tier,
                "best": best.text if best else "",
                "confidence": best.confidence if best else 0.0,
                "right": bool(best) and right(best.text, truth),
                "right_anywhere": any(right(a.text, truth) for a in result.answers),
                "em_f1": score(best.text if best else "", [truth]),
                "found@5/20/50": found,
                "boilerplate": bool(best)
                and in_apparatus(stored[best.citation.article_id], best.citation.start, best.citation.end),
                "cited_after_as_of": sum(
                    bool(e.date) and str(e.date)[:10] > q["date"] for a in result.answers for e in a.evidence
                ),
                "bearing_articles": len(bearing),
                "reach": reaches[q["id"]],
                "abstained_without_answer": not hidden.answered,
                "abstained_60_days_before": not before.answered,
                "seconds": seconds,
            }
        )
        if n % 50 == 0:
            print(f"  {n}/{len(questions)} asked", file=sys.stderr, flush=True)
    return rows


def refused_row(question_id: str, bearing: int, where: str) -> dict[str, Any]:
    """The row of a question the engine refuses in one line: not answered, nothing found, no time spent."""
    return {
        "id": question_id,
        "answered": False,
        "tier": "refused",
        "best": "",
        "confidence": 0.0,
        "right": False,
        "right_anywhere": False,
        "em_f1": (0.0, 0.0),
        "found@5/20/50": [False, False, False],
        "boilerplate": False,
        "cited_after_as_of": 0,
        "bearing_articles": bearing,
        "reach": where,
        "abstained_without_answer": True,
        "abstained_60_days_before": True,
        "seconds": 0.0,
    }


def right_in(passage: str, truth: str) -> bool:
    answer = normalize_answer(truth)
    return bool(answer) and answer in normalize_answer(passage)


def summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    n = max(1, len(rows))
    answered = [r for r in rows if r["answered"]]
    return {
        "questions": len(rows),
        "right_pct": 100 * sum(r["right"] and r["answered"] for r in rows) / n,
        "em": 100 * float(np.mean([r["em_f1"][0] for r in rows])) if rows else 0.0,
        "f1": 100 * float(np.mean([r["em_f1"][1] for r in rows])) if rows else 0.0,
        "answered_pct": 100 * len(answered) / n,
        "right_first_pct": 100 * sum(r["right"] for r in rows) / n,
        "right_anywhere_pct": 100 * sum(r["right_anywhere"] for r in rows) / n,
        **{
            f"found@{k}_pct": 100 * sum(r["found@5/20/50"][i] for r in rows) / n
            for i, k in enumerate((5, 20, 50))
        },
        "ece_answered": expected_calibration_error(
            [r["confidence"] for r in answered], [r["right"] for r in answered]
        )
        if answered
        else float("nan"),
        "abstained_without_answer_pct": 100
        * float(np.mean([r["abstained_without_answer"] for r in rows if r["bearing_articles"]] or [0])),
        "abstained_60_days_before_pct": 100
        * float(np.mean([r["abstained_60_days_before"] for r in rows] or [0])),
        "boilerplate_answers": sum(r["boilerplate"] and r["answered"] for r in rows),
        "boilerplate_first_candidates": sum(r["boilerplate"] for r in rows),
        "citations_after_as_of": sum(r["cited_after_as_of"] for r in rows),
        "ask_ms_median": 1000 * float(np.median([r["seconds"] for r in rows])) if rows else 0.0,
        "by_reach": by_reach(rows),
        "tiers": {
            tier: {
                "given": sum(r.get("tier") == tier for r in rows),
                "right": sum(r.get("tier") == tier and r["right"] for r in rows),
            }
            for tier in ("answer", "likely")
        },
        "precision_coverage_area": precision_coverage(rows)[2],
    }


def precision_coverage(rows: list[dict[str, Any]]) -> tuple[list[float], list[float], float]:
    """The risk-coverage curve of the best answers, most confident first: coverage (the share of questions
    answered) and precision (the share of those right) at every threshold, and the area under it (the mean
    precision over coverages; 1.0 is perfect, the share right when always answering is a random order's)."""
    order = sorted(rows, key=lambda r: -r["confidence"])
    right = np.cumsum([bool(r["right"]) for r in order])
    n = np.arange(1, len(order) + 1)
    precision = (right / n).tolist() if len(order) else []
    coverage = (n / max(1, len(order))).tolist()
    return coverage, precision, float(np.mean(precision)) if precision else float("nan")


def plot_precision_coverage(parts: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """A PNG of each part's precision-coverage curve (bench/realtimeqa.py --plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    for name, rows in parts.items():
        coverage, precision, area = precision_coverage(rows)
        axes.plot(coverage, precision, label=f"{name} (area {area:.3f})")
        given = sum(r.get("tier") == "answer" for r in rows) / max(1, len(rows))
        axes.axvline(given, linestyle=":", linewidth=1)
    axes.axhline(0.65, color="grey", linewidth=0.8, linestyle="--")
    axes.set_xlabel("share of questions answered (most confident first)")
    axes.set_ylabel("share of those answers right")
    axes.set_ylim(0, 1)
    axes.set_title("Real news: precision of the answers given at every threshold")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def by_reach(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Right (answered), right first and right anywhere among the candidates, for each REACHES group."""
    out = {}
    for where in REACHES:
        group = [r for r in rows if r["reach"] == where]
        n = max(1, len(group))
        out[where] = {
            "questions": len(group),
            "right_pct": 100 * sum(r["right"] and r["answered"] for r in group) / n,
            "right_first_pct": 100 * sum(r["right"] for r in group) / n,
            "right_anywhere_pct": 100 * sum(r["right_anywhere"] for r in group) / n,
        }
    return out


def baselines(
    questions: list[dict[str, Any]], reaches: dict[str, str], data: Path = DATA
) -> dict[str, dict[str, Any]]:
    """The stored systems scored as the engine is, overall and (right only) for each REACHES group (2023's
    only: no other year has them)."""
    out: dict[str, dict[str, Any]] = {}
    for name, file in BASELINES.items():
        if not (data / "baselines" / f"{file}.json").is_file():
            continue
        predicted = json.loads((data / "baselines" / f"{file}.json").read_text())
        rows = [(str(predicted.get(q["id"], "")), q["answer_text"], reaches[q["id"]]) for q in questions]
        n = max(1, len(rows))
        out[name] = {
            "right_pct": 100 * sum(right(p, t) for p, t, _ in rows) / n,
            "em": 100 * float(np.mean([score(p, [t])[0] for p, t, _ in rows])),
            "f1": 100 * float(np.mean([score(p, [t])[1] for p, t, _ in rows])),
            "right_pct_by_reach": {
                where: 100
                * sum(right(p, t) for p, t, w in rows if w == where)
                / max(1, sum(w == where for _, _, w in rows))
                for where in REACHES
            },
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--year", type=int, default=2023, help="which year of ../shared/data/realtimeqa-YEAR (default 2023)"
    )
    parser.add_argument("--weeks", type=int, help="only the first N weeks (a quick run)")
    parser.add_argument("--half", choices=("fit", "report"), help="ask only this half's questions")
    parser.add_argument(
        "--between",
        nargs=2,
        metavar=("FIRST", "LAST"),
        help="an own archive: only the articles dated from FIRST to LAST (ISO days) and the questions asked "
        "then, most of them not answerable from so small an archive (its index is kept apart)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=READER:RANKER[:PASSAGES[:CANDIDATES]]",
        help="ask again with another reader, answer ranker and passage ranker (shipped, a path, or none for "
        "the rankers)",
    )
    parser.add_argument(
        "--index", type=Path, help="where the archive's index is kept (default: bench/results/)"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the index again even if one is there")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--rows", type=Path, help="also write every question's row (per variant) to this JSON file"
    )
    parser.add_argument(
        "--plot", type=Path, help="also draw each half's precision-coverage curve to this PNG"
    )
    args = parser.parse_args()
    data = SHARED / f"realtimeqa-{args.year}"
    questions = read_jsonl(data / "questions.jsonl.gz")
    weeks = sorted({q["week"] for q in questions})
    if args.weeks:
        questions = [q for q in questions if q["week"] in weeks[: args.weeks]]
    records = read_jsonl(data / "articles.jsonl.gz")
    if args.weeks:  # a quick run: the articles found for these weeks' questions make the archive
        asked = {q["id"] for q in questions}
        records = [r for r in records if asked & set(r.get("found_for") or [])]
    if args.half:
        questions = [q for q in questions if half(q["week"], weeks) == args.half]
    if args.between:
        first, last = args.between
        records = [r for r in records if first <= str(r.get("date") or "")[:10] <= last]
        questions = [q for q in questions if first <= q["date"] <= last]
    articles = archive(records)
    folder = args.index or ROOT / "bench" / "results" / (
        f"realtimeqa-{'' if args.year == 2023 else f'{args.year}-'}index{f'-{args.weeks}w' if args.weeks else ''}"
        + (f"-{args.between[0]}-{args.between[1]}" if args.between else "")
    )
    engine, built_per_s = open_index(folder, articles, args.rebuild)
    texts = {a.id: normalize_answer(a.text) for a in articles}
    stored = {a.id: a.text for a in articles}
    dates = {a.id: str(a.date)[:10] for a in articles if a.date}
    bearings = {q["id"]: holders(q, texts) for q in questions}
    reaches = {q["id"]: reach(q, bearings[q["id"]], dates) for q in questions}
    by_id = {q["id"]: q for q in questions}
    result: dict[str, Any] = {
        "articles": len(articles),
        "passages": engine.stats().passages,
        "build_passages_per_s": built_per_s,
        "variants": {},
    }
    parts = [p for p in ("fit", "report") if any(half(q["week"], weeks) == p for q in questions)]
    all_rows = {}
    for name, config in [variant_config(v) for v in args.variant or ["as shipped=shipped:shipped"]]:
        rows = all_rows[name] = ask_all(Engine.open(folder, config), questions, bearings, stored, reaches)
        result["variants"][name] = {
            part: summary([r for r in rows if half(by_id[r["id"]]["week"], weeks) == part]) for part in parts
        }
    result["baselines"] = {
        part: baselines([q for q in questions if half(q["week"], weeks) == part], reaches, data)
        for part in parts
    }
    if args.rows:
        args.rows.write_text(json.dumps(all_rows))
    if args.plot:
        shipped = next(iter(all_rows.values()))
        plot_precision_coverage(
            {
                f"{args.year} {part} half": [
                    r for r in shipped if half(by_id[r["id"]]["week"], weeks) == part
                ]
                for part in parts
            },
            args.plot,
        )
    print(json.dumps(result, indent=1) if args.json else table(result))


def table(r: dict[str, Any]) -> str:
    lines = [
        f"{r['articles']} articles, {r['passages']} passages; "
        + (
            f"build {r['build_passages_per_s']:.1f} passages/s"
            if r["build_passages_per_s"]
            else "index reused"
        )
    ]
    for name, parts in r["variants"].items():
        for part, e in parts.items():
            lines.append(
                f"{name}, {part} half ({e['questions']} questions): right {e['right_pct']:.1f} % (always answering "
                f"{e['right_first_pct']:.1f}), EM {e['em']:.1f} F1 {e['f1']:.1f}, answered {e['answered_pct']:.1f} %; "
                f"right first {e['right_first_pct']:.1f} % vs anywhere {e['right_anywhere_pct']:.1f} %; answer passage in "
                f"top 5/20/50: {e['found@5_pct']:.1f} / {e['found@20_pct']:.1f} / {e['found@50_pct']:.1f} %; ECE (answered) "
                f"{e['ece_answered']:.3f}; abstained without the answer's articles {e['abstained_without_answer_pct']:.1f} %, "
                f"{EARLIER_DAYS} days before {e['abstained_60_days_before_pct']:.1f} %; boilerplate answers "
                f"{e['boilerplate_answers']} (first candidates {e['boilerplate_first_candidates']}), citations after as_of {e['citations_after_as_of']}; ask {e['ask_ms_median']:.0f} ms median"
            )
            t = e["tiers"]
            lines.append(
                f"  tiers: answer {t['answer']['right']} of {t['answer']['given']} right, likely "
                f"{t['likely']['right']} of {t['likely']['given']} right; precision-coverage area "
                f"{e['precision_coverage_area']:.3f}"
            )
            for where, g in e["by_reach"].items():
                lines.append(
                    f"  answer {where}: {g['questions']} questions, right {g['right_pct']:.1f} %, right first "
                    f"{g['right_first_pct']:.1f} % vs anywhere {g['right_anywhere_pct']:.1f} %"
                )
    for part, bases in r["baselines"].items():
        for base, b in bases.items():
            lines.append(
                f"  {part} half, {base}: right {b['right_pct']:.1f} %, EM {b['em']:.1f} F1 {b['f1']:.1f}; right "
                + ", ".join(f"{v:.1f} % with the answer {w}" for w, v in b["right_pct_by_reach"].items())
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
