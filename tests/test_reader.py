"""Reader training (resumable) and SQuAD evaluation, on tiny real SQuAD files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SEED_QUESTION, SEEDS

from qa.evaluation import best_threshold, evaluate_reader, threshold_keeping
from qa.reading import Reader
from qa.squad import load_examples, score
from qa.training import (
    TrainConfig,
    antonym_question,
    average_readers,
    make_pairs,
    negate_question,
    swap_question,
    train_reader,
    use_bf16,
)

pytestmark = pytest.mark.slow
TINY = (
    Path(__file__).resolve().parent / "data" / "squad-tiny.json"
)  # 56 SQuAD v1.1 train questions, CC BY-SA 4.0


def test_training_changes_the_weights_and_resumes(tmp_path: Path):
    config = TrainConfig(
        data=str(TINY),
        output=str(tmp_path / "out"),
        checkpoint_dir=str(tmp_path / "ck"),
        max_steps=2,
        batch_size=4,
        max_length=128,
        stride=48,
        device="cpu",
        save_every=1,
        learning_rate=1e-3,
    )
    result = train_reader(config, progress=False)
    assert result.steps == 2 and result.finished
    checkpoint = torch.load(tmp_path / "ck" / "checkpoint.pt", weights_only=False)
    assert checkpoint["step"] == 2

    from transformers import AutoModelForQuestionAnswering

    from qa.training import default_base_model

    base = AutoModelForQuestionAnswering.from_pretrained(default_base_model())
    trained = AutoModelForQuestionAnswering.from_pretrained(tmp_path / "out")
    w0 = base.bert.encoder.layer[0].attention.self.query.weight
    w1 = trained.bert.encoder.layer[0].attention.self.query.weight.float()
    assert not torch.allclose(w0, w1, atol=1e-4)
    assert (tmp_path / "out" / "model.safetensors").stat().st_size < 50_000_000  # fp16

    # Started again with a higher step limit, it goes on from step 2 rather than from scratch.
    again = train_reader(TrainConfig(**{**config.__dict__, "max_steps": 3}), progress=False)
    assert again.steps == 3
    assert torch.load(tmp_path / "ck" / "checkpoint.pt", weights_only=False)["step"] == 3
    assert again.seconds >= result.seconds  # the clock carries on too


def test_a_run_the_time_budget_shortened_resumes_on_its_shortened_schedule(tmp_path: Path):
    config = TrainConfig(
        data=str(TINY),
        output=str(tmp_path / "out"),
        checkpoint_dir=str(tmp_path / "ck"),
        max_steps=1,
        batch_size=4,
        max_length=128,
        stride=48,
        device="cpu",
        save_every=1,
        learning_rate=1e-3,
    )
    train_reader(config, progress=False)
    # As if --max-minutes had fitted the run to 3 steps before it was killed after step 1;
    # the fitter itself only acts after 400 steps, too many for a test.
    path = tmp_path / "ck" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    torch.save({**state, "total": 3, "fitted_to_time": True}, path)
    resumed = train_reader(
        TrainConfig(**{**config.__dict__, "max_steps": 50, "max_minutes": 60.0}), progress=False
    )
    assert resumed.steps == 3 and resumed.finished
    state = torch.load(path, weights_only=False)
    assert state["total"] == 3 and state["fitted_to_time"]
    assert (
        state["optimizer"]["param_groups"][0]["lr"] == 0.0
    )  # decayed to zero at the fitted end, not at step 50


def test_bf16_training_on_a_cpu_is_asked_for_and_really_computes_in_bfloat16(tmp_path: Path):
    from safetensors.torch import load_file

    assert (
        not use_bf16(None, "cpu")
        and use_bf16(None, "cuda")
        and use_bf16(True, "cpu")
        and not use_bf16(False, "cuda:0")
    )
    weights = {}
    for bf16 in (False, True):
        config = TrainConfig(
            data=str(TINY),
            output=str(tmp_path / f"out-{bf16}"),
            checkpoint_dir=str(tmp_path / f"ck-{bf16}"),
            max_steps=1,
            batch_size=4,
            max_length=128,
            stride=48,
            device="cpu",
            bf16=bf16,
            learning_rate=1e-3,
        )
        assert train_reader(config, progress=False).steps == 1
        assert json.loads((tmp_path / f"out-{bf16}" / "training.json").read_text())["config"]["bf16"] is bf16
        weights[bf16] = load_file(tmp_path / f"out-{bf16}" / "model.safetensors")
    # Same data, seed and step: only the precision of the products differs, and it shows in the weights.
    assert any(not torch.equal(weights[False][k], weights[True][k]) for k in weights[False])


def test_unanswerable_pairs_are_made_from_squad_itself():
    examples = load_examples(TINY)
    pairs = make_pairs(examples, negatives=1.5, seed=1)
    negatives = [p for p in pairs if p[2] < 0]
    assert len(negatives) > 20
    answers: dict[str, list[str]] = {}
    for e in examples:  # a question text can recur in another paragraph
        answers.setdefault(e.question, []).extend(e.answers)
    for question, context, _, _ in negatives:
        for a in answers.get(question, []):
            assert a.lower() not in context.lower()  # the answer really is absent
    for question, context, start, end in pairs:
        if start >= 0:
            assert any(context[start:end] == a for a in answers[question])


def test_swapped_questions_ask_about_something_the_paragraph_lacks():
    import random

    q = swap_question(
        "Who visited Paris in 1999?",
        "The mayor visited Paris in 1999 with her staff.",
        ["Berlin"],
        ["1887"],
        random.Random(0),
    )
    assert q in ("Who visited Berlin in 1999?", "Who visited Paris in 1887?")


def test_negated_and_antonym_questions_stay_questions_the_paragraph_does_not_answer():
    import random

    assert (
        negate_question("What did Chopin play at the funeral?") == "What didn't Chopin play at the funeral?"
    )
    assert negate_question("Was the treaty signed?") == "Wasn't the treaty signed?"
    assert negate_question("Who never won?") is None and negate_question("Who founded Rome?") is None
    spelled = {
        negate_question(q, random.Random(seed))
        for seed in range(8)
        for q in (
            "What did Chopin play at the funeral?",
            "How many did the Broncos win?",
            "Who was the fifth president?",
        )
    }
    assert {
        "What did Chopin not play at the funeral?",
        "How many did the Broncos not win?",
        "Who was not the fifth president?",
        "What didn't Chopin play at the funeral?",
    } <= spelled
    assert swap_question(
        "Who was the fourth president?",
        "Hutchins, the fifth president, came in 1929.",
        [],
        [],
        random.Random(0),
    ) not in (None, "Who was the fifth president?")
    assert swap_question("Who sits on Fridays?", "It sits on Tuesdays.", [], [], random.Random(2)).endswith(
        "days?"
    )
    assert (
        antonym_question("What is the largest city?", "Lagos is the largest city.")
        == "What is the smallest city?"
    )
    assert (
        antonym_question("Which came First?", "It came first, not last.") is None
    )  # the paragraph speaks of both
    kinds = make_pairs(load_examples(TINY), negatives=5.0, seed=1)
    asked = {q for q, _, _, _ in kinds}
    assert any("n't" in q for q in asked) and any(" smallest " in q or " last " in q for q in asked)


def test_official_squad_scores_of_hand_checked_answers():
    assert score("the Marco Rubio.", ["Marco Rubio"]) == (1.0, 1.0)
    em, f1 = score("US Secretary of State Marco Rubio", ["Marco Rubio"])
    assert em == 0.0 and f1 == pytest.approx(0.5)  # 2 shared of 6 predicted, 2 of 2 gold
    assert score("", []) == (1.0, 1.0) and score("Rubio", []) == (0.0, 0.0)


def test_best_threshold_by_hand():
    scores = np.array([0.1, 0.4, 0.8, 0.9])
    f1 = np.array([0.0, 1.0, 1.0, 0.5])
    impossible = np.array([True, False, False, False])
    t, best = best_threshold(scores, f1, impossible)
    assert 0.1 < t < 0.4 and best == pytest.approx((1 + 1 + 1 + 0.5) / 4)


def test_threshold_keeping_a_has_ans_floor_by_hand():
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.9])
    f1 = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    impossible = np.array([True, False, True, False, False])
    # Answerable F1 stays 1.0 while only the unanswerable 0.1 abstains; abstaining 0.2 too drops it to 2/3.
    assert 0.1 < threshold_keeping(scores, f1, impossible, 1.0) < 0.2
    assert 0.3 < threshold_keeping(scores, f1, impossible, 0.6) < 0.6  # 0.2 and 0.3 may go: 2/3 >= 0.6
    assert threshold_keeping(scores, f1, impossible, 0.0) > 0.9  # no floor: abstain on everything


def test_answerability_rules_by_hand():
    import math

    from qa.reading import answerability

    assert answerability(0.5, 0.05, "span") == 0.5
    assert answerability(0.5, 0.05, "null") == pytest.approx(0.95)
    assert answerability(0.5, 0.05, "ratio") == pytest.approx(math.log(10))
    assert answerability(0.0, 0.9, "ratio") < -20  # no span at all is as unanswerable as it gets, and finite


def seed_squad2_file(folder: Path) -> Path:
    """Three hand-checked SQuAD 2.0 questions on the seed article's first paragraph, one unanswerable."""
    text = (SEEDS / "trump-putin-budapest-summit.txt").read_text()
    context = text.split("\n\n")[0]
    data = {
        "version": "v2.0",
        "data": [
            {
                "title": "Seed",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Who will lead the talks?",
                                "answers": [
                                    {"text": "Marco Rubio", "answer_start": context.index("Marco Rubio")}
                                ],
                            },
                            {
                                "id": "q2",
                                "question": "Which city will host the summit?",
                                "answers": [{"text": "Budapest", "answer_start": context.index("Budapest")}],
                            },
                            {
                                "id": "q3",
                                "question": "What is the boiling point of nitrogen?",
                                "answers": [],
                                "is_impossible": True,
                            },
                        ],
                    }
                ],
            }
        ],
    }
    path = folder / "seed-v2.json"
    path.write_text(json.dumps(data))
    return path


def test_reader_evaluation_on_a_hand_checked_file(tmp_path: Path):
    examples = load_examples(seed_squad2_file(tmp_path))
    reader = Reader(Path(__file__).resolve().parent.parent / "qa" / "models" / "reader")
    readings = reader.read_pairs([e.question for e in examples], [e.context for e in examples], top_n=1)
    predictions = [r.best.text for r in readings]
    assert "Marco Rubio" in predictions[0] and "Budapest" in predictions[1]
    result = evaluate_reader(reader, examples, threshold=0.0, progress=False, abstain_on="span")
    expected_f1 = [score(predictions[0], ["Marco Rubio"])[1], score(predictions[1], ["Budapest"])[1], 0.0]
    assert result["count"] == 3
    assert result["f1"] == pytest.approx(100 * sum(expected_f1) / 3)
    assert result["has_ans_count"] == 2 and result["no_ans_count"] == 1
    # With the rule and threshold the engine uses, the reader abstains on the question the text cannot answer.
    from qa.config import Config

    rule, threshold = Config().no_answer_rule()
    shipped = evaluate_reader(reader, examples, threshold=threshold, progress=False, abstain_on=rule)
    assert shipped["no_ans_accuracy"] == 100.0 and shipped["abstain_on"] == rule


def test_open_evaluation_over_a_tiny_corpus(tmp_path: Path):
    from qa.config import Config
    from qa.evaluation import evaluate_open

    result = evaluate_open(TINY, Config(), limit=12, index_dir=tmp_path / "index", progress=False)
    assert result["count"] == 12 and result["paragraphs"] == 12
    # Floors under what the shipped models reach on these 12 questions (recall@1 0.58, @5 0.75, EM 58, F1 64),
    # far above chance among 12 paragraphs (recall@1 0.08, @5 0.42).
    assert result["recall@1"] >= 0.5 and result["recall@5"] >= 0.7
    assert result["exact_match"] >= 50 and result["f1"] >= result["exact_match"]


def test_eval_command_prints_the_official_keys():
    import subprocess
    import sys

    from conftest import ROOT

    proc = subprocess.run(
        [sys.executable, "-m", "qa", "eval", "reader", str(TINY), "--limit", "5", "--json", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # gold paragraphs: the shipped reader scores F1 53 on these five; a broken reader or scorer falls below 40
    assert out["count"] == 5 and {"exact_match", "f1"} <= set(out) and out["f1"] >= 40
    from qa.config import Config

    assert out["abstain_on"] == Config().no_answer_rule()[0]  # scored with the rule the engine uses


def test_int8_reader_agrees_with_fp32_and_is_built_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    model = Path(__file__).resolve().parent.parent / "qa" / "models" / "reader"
    examples = load_examples(TINY)[:24]
    questions, contexts = [e.question for e in examples], [e.context for e in examples]
    fp32 = [r.best.text for r in Reader(model).read_pairs(questions, contexts, top_n=1)]
    int8 = [r.best.text for r in Reader(model, int8=True).read_pairs(questions, contexts, top_n=1)]
    agree = sum(score(a, [b])[1] for a, b in zip(int8, fp32)) / len(fp32)
    assert agree > 0.8  # quantization moves a few span edges, not the answers
    built = list((tmp_path / "cache").glob("reader-*-int8.onnx"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    seed = Reader(model, int8=True).read(
        "Who leads next week's talks?", [(SEEDS / "trump-putin-budapest-summit.txt").read_text()[:1500]]
    )
    assert "Marco Rubio" in seed[0].best.text
    assert built[0].stat().st_mtime_ns == stamp  # the second reader reused the cached graph


def test_each_reader_brings_its_own_no_answer_rule(tmp_path: Path):
    from qa.config import SHIPPED_READER, Config

    shipped = json.loads((SHIPPED_READER / "training.json").read_text())
    assert Config().no_answer_rule() == (shipped["abstain_on"], shipped["no_answer_threshold"])
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    (tuned / "training.json").write_text(json.dumps({"abstain_on": "null", "no_answer_threshold": 0.7}))
    assert Config(reader_model=str(tuned)).no_answer_rule() == ("null", 0.7)
    assert Config(reader_model=str(tuned), no_answer_threshold=0.2).no_answer_rule() == ("null", 0.2)
    # A threshold tuned for one rule means nothing for another: even odds instead.
    assert Config(reader_model=str(tuned), abstain_on="ratio").no_answer_rule() == ("ratio", 0.0)
    assert Config(reader_model=str(tmp_path / "no-card")).no_answer_rule() == ("ratio", 0.0)
    assert Config(reader_model="some-org/hub-reader", abstain_on="span").no_answer_rule() == ("span", 0.5)


def test_eval_saves_the_tuned_threshold_into_the_readers_card(tmp_path: Path):
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    from qa.config import SHIPPED_READER, Config

    reader = tmp_path / "reader"
    shutil.copytree(SHIPPED_READER, reader)
    before = json.loads((reader / "training.json").read_text())

    def qa_eval(file: Path, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "qa",
                "eval",
                "reader",
                str(file),
                "--reader-model",
                str(reader),
                "--save-threshold",
                "--json",
                "--quiet",
                *extra,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )

    refused = qa_eval(TINY)  # SQuAD v1.1: nothing to tune, and the card stays as it was
    assert (
        refused.returncode != 0
        and "no unanswerable questions" in refused.stderr
        and "Traceback" not in refused.stderr
    )
    assert json.loads((reader / "training.json").read_text()) == before

    proc = qa_eval(seed_squad2_file(tmp_path), "--abstain-on", "null")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    card = json.loads((reader / "training.json").read_text())
    assert card["no_answer_threshold"] == round(out["floor_threshold"], 4) and card["abstain_on"] == "null"
    assert card["steps"] == before["steps"]  # the rest of the card is kept
    assert Config(reader_model=str(reader)).no_answer_rule() == ("null", card["no_answer_threshold"])


def test_averaging_readers_takes_the_mean_of_their_weights(tmp_path: Path):
    import shutil
    import subprocess
    import sys

    from conftest import ROOT
    from safetensors.torch import load_file, save_file

    from qa.config import SHIPPED_READER

    # A reader averaged with itself is itself, and still answers the seed question.
    same = tmp_path / "same"
    average_readers([SHIPPED_READER, SHIPPED_READER], same)
    shipped = load_file(str(SHIPPED_READER / "model.safetensors"))
    assert all(torch.equal(t, shipped[k]) for k, t in load_file(str(same / "model.safetensors")).items())
    reading = Reader(str(same), device="cpu").read(
        "Who leads next week's talks?", [(SEEDS / "trump-putin-budapest-summit.txt").read_text()]
    )[0]
    assert "Marco Rubio" in reading.best.text
    assert json.loads((same / "training.json").read_text())["averaged_from"] == [str(SHIPPED_READER)] * 2

    def average(*folders: Path, output: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "scripts/average_readers.py", *map(str, folders), "--output", str(output)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    # With a copy whose weights are all zero, every weight is halved.
    zero = tmp_path / "zero"
    shutil.copytree(SHIPPED_READER, zero)
    save_file(
        {k: torch.zeros_like(t) for k, t in shipped.items()},
        str(zero / "model.safetensors"),
        metadata={"format": "pt"},
    )
    proc = average(SHIPPED_READER, zero, output=tmp_path / "half")
    assert proc.returncode == 0, proc.stderr
    averaged = load_file(str(tmp_path / "half" / "model.safetensors"))
    assert averaged.keys() == shipped.keys()
    assert all(
        averaged[k].dtype == t.dtype and torch.allclose(averaged[k].float(), t.float() / 2, atol=1e-3)
        for k, t in shipped.items()
    )

    # Readers of different architectures are refused in one sentence, and a folder that is not a reader too.
    key = "bert.encoder.layer.0.attention.self.query.weight"
    save_file({key: shipped[key]}, str(zero / "model.safetensors"), metadata={"format": "pt"})
    refused = average(SHIPPED_READER, zero, output=tmp_path / "x")
    assert (
        refused.returncode == 2 and "different layers" in refused.stderr and "Traceback" not in refused.stderr
    )
    assert not (tmp_path / "x" / "model.safetensors").exists()
    missing = average(SHIPPED_READER, tmp_path / "nope", output=tmp_path / "y")
    assert missing.returncode == 2 and "not a reader folder" in missing.stderr


def test_realistic_mix_fits_a_calibration_the_engine_then_shows(tmp_path: Path, seed_index: Path):
    """`qa eval reader --mix realistic --save-calibration` on a real file and reader, then the engine uses it."""
    import shutil
    import subprocess
    import sys

    from qa.calibration import Calibration
    from qa.config import SHIPPED_READER, Config
    from qa.engine import Engine

    reader = tmp_path / "reader"
    shutil.copytree(SHIPPED_READER, reader)
    card = json.loads((reader / "training.json").read_text())
    card.pop("calibration", None)
    (reader / "training.json").write_text(json.dumps(card))
    run = [
        sys.executable,
        "-m",
        "qa",
        "eval",
        "reader",
        str(TINY),
        "--mix",
        "realistic",
        "--reader-model",
        str(reader),
        "--json",
        "--quiet",
    ]
    proc = subprocess.run([*run, "--save-calibration"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["has_ans_count"] == out["no_ans_count"] == 56  # one unanswerable twin each
    assert out["no_ans_accuracy_other_article"] >= 90 and "no_ans_accuracy_same_article" in out
    assert out["f1_half_other_article"] > 70
    saved = json.loads((reader / "training.json").read_text())
    assert saved["no_answer_threshold"] == round(out["best_threshold"], 4) and saved["abstain_on"] == "ratio"
    calibration = Calibration.from_dict(saved["calibration"])
    assert calibration is not None and calibration(100.0) > calibration(-100.0)

    proc = subprocess.run(
        [*run, "--diagram", str(tmp_path / "reliability.png")], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    # fitted on this very file, so calibrated on it: a broken fit or a score that ignores it shows here
    assert json.loads(proc.stdout)["expected_calibration_error"] <= 0.05
    assert (tmp_path / "reliability.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    result = Engine.open(seed_index, Config(reader_model=str(reader))).ask(SEED_QUESTION)
    assert result.best.confidence == pytest.approx(calibration(result.best.answerability))


def test_open_evaluation_with_orphaned_articles_reports_abstention(tmp_path: Path):
    """`qa eval open --orphan 0.5` on a real two-article file: one article leaves the corpus, its questions
    have nothing to find, and the engine should say so for them."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "qa", "eval", "open", str(TINY), "--orphan", "0.5", "--json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["orphaned_articles"] == 1 and out["paragraphs"] == 6
    assert out["orphaned_questions"] in (36, 20) and out["count"] == 56
    assert out["orphaned_abstained"] >= 50  # questions about the missing article are mostly refused
    assert out["exact_match_abstaining"] <= out["exact_match"] and out["recall@20"] > 0.5


def test_windows_are_exactly_those_of_the_transformers_tokenizer_the_reader_was_trained_with():
    """Reading cuts windows with `tokenizers` alone; they must equal what transformers' fast tokenizer makes."""
    from transformers import AutoTokenizer

    from qa.reading import Windows

    model = Path(__file__).resolve().parent.parent / "qa" / "models" / "reader"
    examples = load_examples(TINY)
    long_text = " ".join(e.context for e in examples[:6])  # several windows, overlapping by the stride
    questions = [e.question for e in examples[:10]] + ["Who leads next week's talks?"]
    texts = [e.context for e in examples[:10]] + [long_text]
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    want = tokenizer(
        questions,
        texts,
        truncation="only_second",
        max_length=256,
        stride=96,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    got = Windows(tokenizer, 256, 96)(questions, texts)
    assert sum(1 for i, _ in got if i == len(texts) - 1) >= 3
    assert [i for i, _ in got] == list(want["overflow_to_sample_mapping"])
    for w, (_, window) in enumerate(got):
        assert window.ids == want["input_ids"][w]
        assert window.type_ids == want["token_type_ids"][w]
        assert [tuple(o) for o in window.offsets] == [tuple(o) for o in want["offset_mapping"][w]]
        assert window.sequence_ids == want.sequence_ids(w)


def test_int8_encoder_agrees_with_sentence_transformers_and_is_built_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from sentence_transformers import SentenceTransformer

    from qa.articles import collect_articles
    from qa.embeddings import Embedder, resolve_model
    from qa.passages import split_passages

    monkeypatch.setenv("QA_CACHE_DIR", str(tmp_path / "cache"))
    texts = [p.text for a in collect_articles([SEEDS]).articles for p in split_passages(a, 120, 1)]
    texts += [SEED_QUESTION, "When will Trump and Putin meet?"]
    int8 = Embedder("all-MiniLM-L6-v2", precision="int8")
    assert int8.precision == "int8" and int8.encoder == "onnx-int8"
    got = int8.encode(texts)
    want = SentenceTransformer(resolve_model("all-MiniLM-L6-v2"), device="cpu").encode(
        texts, normalize_embeddings=True
    )
    assert got.shape == want.shape and np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    assert (got * want).sum(axis=1).min() >= 0.99
    built = list((tmp_path / "cache").glob("encoder-*-int8.onnx"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime_ns
    again = Embedder("all-MiniLM-L6-v2", precision="int8").encode(texts[:1])
    assert np.allclose(again[0], got[0], atol=1e-6) and built[0].stat().st_mtime_ns == stamp
    assert Embedder("all-MiniLM-L6-v2", precision="fp32").encoder == "sentence-transformers-fp32"
