"""Scoring the reader alone (gold paragraphs) and the whole engine (open retrieval).

Scores are percentages with the official SQuAD normalisation, so they sit next
to published numbers.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.config import AbstainRule, reader_card
from qa.errors import InputError
from qa.files import write_atomic
from qa.reading import Reader, answerability
from qa.squad import SquadExample, load_examples, load_paragraphs, score

if TYPE_CHECKING:
    from qa.config import Config
    from qa.retrieval import Hit


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="q", disable=not enabled)


def best_threshold(scores: np.ndarray, f1_if_answered: np.ndarray, impossible: np.ndarray) -> tuple[float, float]:
    """The answer-score threshold that maximises F1 when lower scores abstain, and that F1 (0-1)."""
    order = np.argsort(scores)
    null_f1 = impossible[order].astype(float)
    ans_f1 = f1_if_answered[order]
    # Abstaining on the first k (lowest-scored) questions, for k = 0..n.
    totals = np.concatenate([[0.0], np.cumsum(null_f1)]) + np.concatenate([np.cumsum(ans_f1[::-1])[::-1], [0.0]])
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


def threshold_keeping(scores: np.ndarray, f1_if_answered: np.ndarray, impossible: np.ndarray, has_ans_f1: float) -> float:
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
    """Write a SQuAD 2.0 result's HasAns-floor threshold into the reader's training card, so the engine uses it.

    The card is replaced atomically; everything else in it is kept.
    """
    import json

    if "floor_threshold" not in result:
        raise InputError("--save-threshold needs a file with unanswerable questions (SQuAD 2.0 format).")
    folder = Path(reader_dir)
    if not folder.is_dir():
        raise InputError(f"--save-threshold needs a reader in a local folder; '{reader_dir}' is not one.")
    card_path = folder / "training.json"
    card = reader_card(str(folder))
    if card_path.exists() and not card:
        raise InputError(f"{card_path} is not a JSON object; fix or remove it, then run again.")
    card.update(
        abstain_on=result["abstain_on"],
        no_answer_threshold=round(float(result["floor_threshold"]), 4),
        no_answer_threshold_from=(
            f"floor_threshold of `qa eval reader {result.get('file', '?')}` ({result['count']} questions, rule "
            f"'{result['abstain_on']}'): the highest threshold keeping HasAns F1 at {result['floor_has_ans_f1']:g} "
            f"(there NoAns accuracy {result['floor_no_ans_accuracy']:.1f}, F1 {result['floor_f1']:.1f})"
        ),
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
) -> dict[str, Any]:
    """EM/F1 of the reader on each question's own paragraph.

    With `threshold`, questions whose answerability (by `abstain_on`, see
    `qa.reading.answerability`) is below it get "no answer". SQuAD 2.0 files also
    get HasAns/NoAns scores, the best-F1 threshold and the highest threshold that
    keeps HasAns F1 at `has_ans_floor` (the rule the shipped threshold follows).
    """
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
    score_arr = np.array(scores)
    impossible = np.array([e.is_impossible for e in examples])
    answered = [score(t, e.answers) for t, e in zip(texts, examples)]
    f1_answered = np.array([f for _, f in answered])
    em_answered = np.array([m for m, _ in answered])
    abstain = score_arr < threshold if threshold is not None else np.zeros(len(examples), dtype=bool)
    em = np.where(abstain, impossible, em_answered)
    f1 = np.where(abstain, impossible, f1_answered)
    result: dict[str, Any] = {
        "count": len(examples),
        "exact_match": 100 * float(em.mean()) if len(examples) else 0.0,
        "f1": 100 * float(f1.mean()) if len(examples) else 0.0,
        "threshold": threshold,
        "abstain_on": abstain_on,
    }
    if impossible.any():
        has = ~impossible
        t_best, f1_best = best_threshold(score_arr, f1_answered, impossible)
        best_abstain = score_arr < t_best
        result.update(
            has_ans_count=int(has.sum()),
            has_ans_exact_match=100 * float(em[has].mean()) if has.any() else 0.0,
            has_ans_f1=100 * float(f1[has].mean()) if has.any() else 0.0,
            no_ans_count=int(impossible.sum()),
            no_ans_accuracy=100 * float(abstain[impossible].mean()),
            best_threshold=t_best,
            best_f1=100 * f1_best,
            best_has_ans_f1=100 * float(np.where(best_abstain, 0.0, f1_answered)[has].mean()) if has.any() else 0.0,
            best_no_ans_accuracy=100 * float(best_abstain[impossible].mean()),
        )
        t_floor = threshold_keeping(score_arr, f1_answered, impossible, has_ans_floor / 100)
        floor_abstain = score_arr < t_floor
        result.update(
            floor_has_ans_f1=has_ans_floor,
            floor_threshold=t_floor,
            floor_f1=100 * float(np.where(floor_abstain, impossible, f1_answered).mean()),
            floor_no_ans_accuracy=100 * float(floor_abstain[impossible].mean()),
        )
    return result


def answer_hits(hits: list["Hit"], answers: list[str]) -> list[bool]:
    """For each retrieved passage, whether it contains a gold answer (the open-QA notion of a hit)."""
    return [any(a.lower() in hit.passage.text.lower() for a in answers) for hit in hits]


def evaluate_open(
    squad_file: str | Path,
    config: "Config",
    limit: int | None = None,
    ks: tuple[int, ...] = (1, 5, 20),
    index_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The whole engine over all of the file's paragraphs: retrieval recall@k and final EM/F1.

    Each paragraph becomes one article, so a retrieval hit is a passage that
    contains a gold answer. The index is built in `index_dir` (a temporary
    folder when None).
    """
    from qa.articles import Article
    from qa.engine import Engine

    examples = [e for e in load_examples(squad_file, limit=limit) if not e.is_impossible]
    articles = [Article.from_text(context, title=title) for title, context in load_paragraphs(squad_file)]
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.create(Path(index_dir or tmp), config, progress=progress)
        engine.add_articles(articles)
        questions = [e.question for e in examples]
        depth = max(max(ks), config.top_k)
        hits_per_question = engine.retriever.batch_search(questions, top_k=depth, mode=config.retrieval)
        recall = {k: 0 for k in ks}
        bar = _progress(len(examples), "answering", progress)
        ems, f1s = [], []
        for example, hits in zip(examples, hits_per_question):
            found = answer_hits(hits, example.answers)
            for k in ks:
                recall[k] += any(found[:k])
            answers = engine.read(example.question, hits[: config.top_k])
            prediction = answers[0].text if answers else ""
            em, f1 = score(prediction, example.answers)
            ems.append(em)
            f1s.append(f1)
            bar.update(1)
        bar.close()
    n = max(1, len(examples))
    return {
        "count": len(examples),
        "paragraphs": len(articles),
        "exact_match": 100 * sum(ems) / n,
        "f1": 100 * sum(f1s) / n,
        **{f"recall@{k}": recall[k] / n for k in ks},
        "retrieval": config.retrieval,
        "top_k": config.top_k,
    }
