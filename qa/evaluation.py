"""Scoring the reader alone (gold paragraphs) and the whole engine (open retrieval).

Scores are percentages with the official SQuAD normalisation, so they sit next
to published numbers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.calibration import Calibration, expected_calibration_error, fit_calibration, reliability
from qa.config import AbstainRule, reader_card
from qa.errors import InputError
from qa.files import write_atomic
from qa.reading import Reader, answerability
from qa.squad import SquadExample, load_examples, load_paragraphs, score

ASKED_TOGETHER = 32  # questions per Engine.ask_many in the open evaluation
if TYPE_CHECKING:
    from qa.config import Config
    from qa.engine import Engine
    from qa.retrieval import Hit


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="q", disable=not enabled)


def best_threshold(
    scores: np.ndarray, f1_if_answered: np.ndarray, impossible: np.ndarray
) -> tuple[float, float]:
    """The answer-score threshold that maximises F1 when lower scores abstain, and that F1 (0-1)."""
    order = np.argsort(scores)
    null_f1 = impossible[order].astype(float)
    ans_f1 = f1_if_answered[order]
    # Abstaining on the first k (lowest-scored) questions, for k = 0..n.
    totals = np.concatenate([[0.0], np.cumsum(null_f1)]) + np.concatenate(
        [np.cumsum(ans_f1[::-1])[::-1], [0.0]]
    )
    k = int(np.argmax(totals))
    return _threshold_below(scores[order], k), float(totals[k] / len(scores))


def _threshold_below(sorted_scores: np.ndarray, k: int) -> float:
    """A threshold under which exactly the k lowest of these sorted scores fall."""
    if len(sorted_scores) == 0:
        return 0.0
    if k == 0:
        return float(sorted_scores[0]) - 1e-6
    if k == len(sorted_scores):
        return float(sorted_scores[-1]) + 1e-6
    return float((sorted_scores[k - 1] + sorted_scores[k]) / 2)


def threshold_keeping(
    scores: np.ndarray, f1_if_answered: np.ndarray, impossible: np.ndarray, has_ans_f1: float
) -> float:
    """The highest threshold at which answerable questions still score `has_ans_f1` (0-1) F1.

    Abstaining only ever costs answerable questions F1, so this is the threshold
    that says "no answer" as often as that floor allows.
    """
    order = np.argsort(scores)
    has = ~impossible[order]
    # HasAns F1 when the k lowest-scored questions abstain, for k = 0..n.
    kept = np.concatenate([np.cumsum((f1_if_answered[order] * has)[::-1])[::-1], [0.0]])
    ok = np.flatnonzero(kept >= has_ans_f1 * max(1, has.sum()))
    return _threshold_below(scores[order], int(ok.max()) if ok.size else 0)


def save_threshold(reader_dir: str | Path, result: dict[str, Any]) -> Path:
    """Write a SQuAD 2.0 result's HasAns-floor threshold into the reader's training card (the old rule).

    The card is replaced atomically; everything else in it is kept.
    """
    if "floor_threshold" not in result:
        raise InputError("--save-threshold needs a file with unanswerable questions (SQuAD 2.0 format).")
    return _update_card(
        reader_dir,
        "--save-threshold",
        result["abstain_on"],
        result["floor_threshold"],
        (
            f"floor_threshold of `qa eval reader {result.get('file', '?')}` ({result['count']} questions, rule "
            f"'{result['abstain_on']}'): the highest threshold keeping HasAns F1 at {result['floor_has_ans_f1']:g} "
            f"(there NoAns accuracy {result['floor_no_ans_accuracy']:.1f}, F1 {result['floor_f1']:.1f})"
        ),
    )


def save_calibration(reader_dir: str | Path, result: dict[str, Any], calibration: Calibration) -> Path:
    """Write a realistic-mix result's best-F1 threshold and a calibration into the reader's card.

    The card is replaced atomically; everything else in it is kept.
    """
    if "best_threshold" not in result:
        raise InputError("--save-calibration needs unanswerable pairs: pass --mix realistic.")
    return _update_card(
        reader_dir,
        "--save-calibration",
        result["abstain_on"],
        result["best_threshold"],
        (
            f"best_threshold of `qa eval reader {result.get('file', '?')} --mix realistic` ({result['count']} pairs, "
            f"rule '{result['abstain_on']}'): the threshold with the best F1 there "
            f"(F1 {result['best_f1']:.1f}, HasAns F1 {result['best_has_ans_f1']:.1f}, NoAns "
            f"{result['best_no_ans_accuracy']:.1f})"
        ),
        calibration=calibration.to_dict(),
    )


def fit_and_save_calibration(
    reader_dir: str | Path, result: dict[str, Any], scores: list[float], right: list[bool], fitted_on: str
) -> tuple[Calibration, Path]:
    """Fit a confidence calibration on a realistic-mix result's (answerability, right) pairs, record its
    in-sample ECE in `result`, and save it with the best-F1 threshold into the reader's card."""
    calibration = fit_calibration(scores, right, fitted_on=fitted_on)
    result["expected_calibration_error_in_sample"] = expected_calibration_error(
        [calibration(x) for x in scores], right
    )
    return calibration, save_calibration(reader_dir, result, calibration)


def _update_card(
    reader_dir: str | Path, option: str, rule: str, threshold: float, why: str, **more: Any
) -> Path:
    import json

    folder = Path(reader_dir)
    if not folder.is_dir():
        raise InputError(f"{option} needs a reader in a local folder; '{reader_dir}' is not one.")
    card_path = folder / "training.json"
    card = reader_card(str(folder))
    if card_path.exists() and not card:
        raise InputError(f"{card_path} is not a JSON object; fix or remove it, then run again.")
    if card.get("abstain_on") != rule:
        card.pop("calibration", None)  # a calibration maps one rule's scores; it means nothing for another
    card.update(
        abstain_on=rule, no_answer_threshold=round(float(threshold), 4), no_answer_threshold_from=why, **more
    )
    write_atomic(card_path, json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return card_path


def evaluate_reader(
    reader: Reader,
    examples: list[SquadExample],
    threshold: float | None = None,
    batch_size: int = 64,
    progress: bool = True,
    abstain_on: AbstainRule = "ratio",
    has_ans_floor: float = 70.0,
    kinds: list[str] | None = None,
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """EM/F1 of the reader on each question's own paragraph (or its unanswerable twin).

    With `threshold`, questions whose answerability (by `abstain_on`, see
    `qa.reading.answerability`) is below it get "no answer". Files with unanswerable
    questions also get HasAns/NoAns scores, the best-F1 threshold and the highest
    threshold that keeps HasAns F1 at `has_ans_floor`.

    With `kinds` (a realistic mix, see `qa.squad.realistic_mix`) NoAns is also
    reported per kind of twin, with `f1_half_KIND`: the F1 of answerable questions
    and twins of that kind alone, half and half.

    With `calibration`, the confidence of every best answer is scored against
    whether it was right (F1 of at least 0.5 with a gold answer; any answer to an
    unanswerable pair is wrong): expected calibration error and reliability bins.
    `scores` and `right` come back too, for fitting a calibration or drawing it.
    """
    texts, scores = _best_spans(reader, examples, batch_size, progress, abstain_on)
    score_arr = np.array(scores)
    impossible = np.array([e.is_impossible for e in examples])
    answered = [score(t, e.answers) for t, e in zip(texts, examples)]
    f1_answered = np.array([f for _, f in answered])
    em_answered = np.array([m for m, _ in answered])
    right = (f1_answered >= 0.5) & ~impossible
    abstain = score_arr < threshold if threshold is not None else np.zeros(len(examples), dtype=bool)
    em = np.where(abstain, impossible, em_answered)
    f1 = np.where(abstain, impossible, f1_answered)
    result: dict[str, Any] = {
        "count": len(examples),
        "exact_match": 100 * float(em.mean()) if len(examples) else 0.0,
        "f1": 100 * float(f1.mean()) if len(examples) else 0.0,
        "answered_rate": 100 * float((~abstain).mean()) if len(examples) else 0.0,
        "threshold": threshold,
        "abstain_on": abstain_on,
    }
    if impossible.any():
        result.update(
            unanswerable_scores(score_arr, em, f1, f1_answered, abstain, impossible, kinds, has_ans_floor)
        )
    if calibration is not None and len(examples):
        confidence = [calibration(x) for x in scores]
        result["expected_calibration_error"] = expected_calibration_error(confidence, right)
        result["reliability"] = reliability(confidence, right)
    result["scores"], result["right"] = scores, [bool(r) for r in right]
    return result


def _best_spans(
    reader: Reader, examples: list[SquadExample], batch_size: int, progress: bool, abstain_on: AbstainRule
) -> tuple[list[str], list[float]]:
    """Each example's best span in its own paragraph, and that span's answerability by `abstain_on`."""
    texts, scores = [], []
    bar = _progress(len(examples), "reading", progress)
    for lo in range(0, len(examples), batch_size):
        chunk = examples[lo : lo + batch_size]
        for reading in reader.read_pairs([e.question for e in chunk], [e.context for e in chunk], top_n=1):
            best = reading.best
            texts.append(best.text if best else "")
            scores.append(answerability(best.score if best else 0.0, reading.no_answer, abstain_on))
        bar.update(len(chunk))
    bar.close()
    return texts, scores


def unanswerable_scores(
    score_arr: np.ndarray,
    em: np.ndarray,
    f1: np.ndarray,
    f1_answered: np.ndarray,
    abstain: np.ndarray,
    impossible: np.ndarray,
    kinds: list[str] | None,
    has_ans_floor: float,
) -> dict[str, Any]:
    """HasAns/NoAns scores at the threshold used, per kind of twin, at the best-F1 threshold and at the
    highest threshold that keeps HasAns F1 at `has_ans_floor` (see evaluate_reader). `em`, `f1`: with the
    abstentions at the threshold used; `f1_answered`: always answering."""
    out: dict[str, Any] = {}
    has = ~impossible
    t_best, f1_best = best_threshold(score_arr, f1_answered, impossible)
    best_abstain = score_arr < t_best
    out.update(
        has_ans_count=int(has.sum()),
        has_ans_exact_match=100 * float(em[has].mean()) if has.any() else 0.0,
        has_ans_f1=100 * float(f1[has].mean()) if has.any() else 0.0,
        has_ans_f1_always_answering=100 * float(f1_answered[has].mean()) if has.any() else 0.0,
        no_ans_count=int(impossible.sum()),
        no_ans_accuracy=100 * float(abstain[impossible].mean()),
    )
    for kind in sorted(set(kinds or [])):
        twins = np.array([k == kind for k in kinds or []]) & impossible
        if twins.any():
            no_ans = float(abstain[twins].mean())
            out[f"no_ans_accuracy_{kind.replace('-', '_')}"] = 100 * no_ans
            # F1 of a half-and-half mix of answerable questions and twins of this kind alone.
            out[f"f1_half_{kind.replace('-', '_')}"] = 50 * (float(f1[has].mean()) + no_ans)
    out.update(
        best_threshold=t_best,
        best_f1=100 * f1_best,
        best_has_ans_f1=100 * float(np.where(best_abstain, 0.0, f1_answered)[has].mean())
        if has.any()
        else 0.0,
        best_no_ans_accuracy=100 * float(best_abstain[impossible].mean()),
    )
    t_floor = threshold_keeping(score_arr, f1_answered, impossible, has_ans_floor / 100)
    floor_abstain = score_arr < t_floor
    out.update(
        floor_has_ans_f1=has_ans_floor,
        floor_threshold=t_floor,
        floor_f1=100 * float(np.where(floor_abstain, impossible, f1_answered).mean()),
        floor_no_ans_accuracy=100 * float(floor_abstain[impossible].mean()),
    )
    return out


def answer_hits(hits: list[Hit], answers: list[str]) -> list[bool]:
    """For each retrieved passage, whether it contains a gold answer (the open-QA notion of a hit)."""
    return [any(a.lower() in hit.passage.text.lower() for a in answers) for hit in hits]


def evaluate_open(
    squad_file: str | Path,
    config: Config,
    limit: int | None = None,
    ks: tuple[int, ...] = (1, 5, 20),
    index_dir: str | Path | None = None,
    progress: bool = True,
    orphan: float = 0.0,
    seed: int = 13,
) -> dict[str, Any]:
    """The whole engine over all of the file's paragraphs: retrieval recall@k, EM/F1, and abstention.

    Each paragraph becomes one article, so a retrieval hit is a passage that
    contains a gold answer. With `orphan`, that share of the file's articles
    (every paragraph of each) is left out of the corpus, so their questions have
    no answer to find: the engine should say so. EM/F1 are reported always
    answering (`exact_match`, `f1`, over the questions whose article is there) and
    with the engine's no-answer rule (`*_abstaining`; an abstention is right only
    for an orphaned question). The index is built in `index_dir` (a temporary
    folder when None).
    """
    import random

    from qa.articles import Article
    from qa.engine import Engine

    examples = [e for e in load_examples(squad_file, limit=limit) if not e.is_impossible]
    paragraphs = load_paragraphs(squad_file)
    titles = list(dict.fromkeys(title for title, _ in paragraphs))
    orphaned = set(random.Random(seed).sample(titles, round(orphan * len(titles))))
    articles = [
        Article.from_text(context, title=title) for title, context in paragraphs if title not in orphaned
    ]
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.create(Path(index_dir or tmp), config, progress=progress)
        engine.add_articles(articles)
        questions = [e.question for e in examples]
        depth = max(max(ks), config.top_k)
        hits_per_question = engine.search_many(questions, top_k=depth, retrieval=config.retrieval)
        recall, rows, shown = _ask_all(engine, examples, hits_per_question, orphaned, ks, progress)
    result = _open_scores(rows, recall, len(articles), ks, config, engine)
    if (engine.asker.assembly.calibration is not None or engine.asker.assembly.ranker is not None) and shown:
        result.update(_calibration_scores(shown))
    if orphan:
        result.update(_orphan_scores(rows, orphan, len(orphaned)))
    return result


def _ask_all(
    engine: Engine,
    examples: list[SquadExample],
    hits_per_question: list[list[Hit]],
    orphaned: set[str],
    ks: tuple[int, ...],
    progress: bool,
) -> tuple[dict[int, int], list[tuple[bool, float, float, bool]], list[tuple[float, bool, bool]]]:
    """Ask every question as users do (the whole ask, best guess shown): recall@k of the retrieval, one
    (orphaned, EM, F1, answered) row per question, and (confidence, right, answered) of each best answer."""
    recall = {k: 0 for k in ks}
    bar = _progress(len(examples), "answering", progress)
    rows = []
    shown = []
    for lo in range(0, len(examples), ASKED_TOGETHER):
        chunk = examples[lo : lo + ASKED_TOGETHER]
        results = engine.ask_many([e.question for e in chunk], always_answer=True)
        for example, hits, asked in zip(chunk, hits_per_question[lo:], results):
            found = answer_hits(hits, example.answers)
            for k in ks:
                recall[k] += example.title not in orphaned and any(found[:k])
            best = asked.answers[0] if asked.answers else None
            em, f1 = score(best.text if best else "", example.answers)
            rows.append((example.title in orphaned, em, f1, asked.confident))
            right = f1 >= 0.5 and example.title not in orphaned  # a gold answer matched, for calibration
            shown.append((best.confidence if best else 0.0, right, asked.confident))
            bar.update(1)
    bar.close()
    return recall, rows, shown


def _open_scores(
    rows: list[tuple[bool, float, float, bool]],
    recall: dict[int, int],
    paragraphs: int,
    ks: tuple[int, ...],
    config: Config,
    engine: Engine,
) -> dict[str, Any]:
    present = [r for r in rows if not r[0]]
    n = max(1, len(present))
    ranker = engine.asker.assembly.ranker
    return {
        "count": len(rows),
        "paragraphs": paragraphs,
        "exact_match": 100 * sum(r[1] for r in present) / n,
        "f1": 100 * sum(r[2] for r in present) / n,
        "exact_match_abstaining": 100 * sum(r[1] * r[3] for r in present) / n,
        "f1_abstaining": 100 * sum(r[2] * r[3] for r in present) / n,
        "answered_rate": 100 * sum(r[3] for r in present) / n,
        **{f"recall@{k}": recall[k] / n for k in ks},
        "retrieval": config.retrieval,
        "top_k": config.top_k,
        "threshold": (ranker.thresholds or ranker.threshold) if ranker else engine.asker.assembly.threshold,
    }


def _calibration_scores(shown: list[tuple[float, bool, bool]]) -> dict[str, float]:
    """ECE of the confidence shown, over every question and over the answered ones ("right": F1 >= 0.5)."""
    out = {
        "expected_calibration_error": expected_calibration_error(
            [c for c, _, _ in shown], [r for _, r, _ in shown]
        )
    }
    answered = [(c, r) for c, r, a in shown if a]
    if answered:
        out["expected_calibration_error_answered"] = expected_calibration_error(
            [c for c, _ in answered], [r for _, r in answered]
        )
    return out


def _orphan_scores(
    rows: list[tuple[bool, float, float, bool]], orphan: float, orphaned: int
) -> dict[str, Any]:
    lost = [r for r in rows if r[0]]
    return {
        "orphan": orphan,
        "orphaned_articles": orphaned,
        "orphaned_questions": len(lost),
        "orphaned_abstained": 100 * sum(not r[3] for r in lost) / max(1, len(lost)),
        "exact_match_abstaining_all": 100
        * sum(r[1] * r[3] if not r[0] else (not r[3]) for r in rows)
        / max(1, len(rows)),
    }
