"""The `qa` command as a user runs it: exit codes, one-line errors, the --json schema."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, RUBIO_SENTENCE, SEED_QUESTION, SEEDS, snapshot


def qa(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "qa", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_fresh_checkout_builds_the_index_and_answers(tmp_path: Path):
    shutil.copytree(SEEDS, tmp_path / "seeds")
    proc = qa("ask", SEED_QUESTION, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Marco Rubio" in proc.stdout.splitlines()[0]
    assert RUBIO_SENTENCE in proc.stdout
    assert (tmp_path / "index" / "CURRENT").is_file()


def test_ask_json_schema(index_copy: Path):
    proc = qa("ask", SEED_QUESTION, "--json", "--top-k", "3", "--index-dir", str(index_copy))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"question", "answered", "confident", "answer", "candidates", "passages", "seconds"}
    assert out["answered"] is True and len(out["passages"]) == 3
    answer = out["answer"]
    for key in ("text", "score", "answerability", "article_id", "title", "date", "source", "url", "passage", "passage_start", "start", "end",
                "sentence", "sentence_start", "sentence_end", "evidence"):
        assert key in answer, key
    assert "Marco Rubio" in answer["text"] and answer["sentence"] == RUBIO_SENTENCE
    assert 0 < answer["score"] <= 1
    assert set(out["seconds"]) == {"retrieval", "reading", "total"}


def test_dont_know_is_exit_status_zero_and_shows_the_closest_passages(index_copy: Path):
    question = "What is the boiling point of liquid nitrogen?"
    proc = qa("ask", question, "--json", "--index-dir", str(index_copy))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["answered"] is False
    proc = qa("ask", question, "--index-dir", str(index_copy))
    assert proc.stdout.startswith("The articles don't say.") and "Closest passages:\n  1. " in proc.stdout
    proc = qa("ask", question, "--always-answer", "--json", "--index-dir", str(index_copy))
    out = json.loads(proc.stdout)
    assert out["answered"] is True and out["confident"] is False and out["answer"]["text"]


@pytest.mark.parametrize("question", ["", "x" * 20_000])
def test_bad_questions_exit_2_with_one_line(index_copy: Path, question: str):
    before = snapshot(index_copy)
    proc = qa("ask", question, "--index-dir", str(index_copy))
    assert proc.returncode == 2
    one_error_line(proc)
    assert snapshot(index_copy) == before


def test_missing_and_damaged_index_exit_1(tmp_path: Path, index_copy: Path):
    proc = qa("ask", SEED_QUESTION, "--index-dir", str(tmp_path / "nowhere"))
    assert proc.returncode == 1 and "There is no index" in one_error_line(proc)
    assert not (tmp_path / "nowhere").exists()

    version = index_copy / (index_copy / "CURRENT").read_text()
    (version / "passages.jsonl").write_text("garbage\n")
    before = snapshot(index_copy)
    proc = qa("ask", SEED_QUESTION, "--index-dir", str(index_copy))
    assert proc.returncode == 1 and "damaged" in one_error_line(proc)
    assert snapshot(index_copy) == before


def test_bad_files_exit_2_and_leave_the_index_alone(tmp_path: Path, index_copy: Path):
    before = snapshot(index_copy)
    (tmp_path / "empty").mkdir()
    proc = qa("index", "add", str(tmp_path / "empty"), "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "holds no" in one_error_line(proc)
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 news\nThe caf\xe9 opened.".encode("latin-1"))
    proc = qa("index", "add", str(tmp_path / "latin1.txt"), "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "not UTF-8" in one_error_line(proc)
    proc = qa("index", "build", str(tmp_path / "empty"), "--index-dir", str(index_copy))
    assert proc.returncode == 2
    assert snapshot(index_copy) == before


def test_index_commands_round_trip(tmp_path: Path, index_copy: Path):
    (tmp_path / "harbour.md").write_text("# Harbour reopens\n\nThe harbour in Kiel reopened on Monday after a storm.\n")
    proc = qa("index", "add", str(tmp_path / "harbour.md"), "--index-dir", str(index_copy), "--quiet")
    assert proc.returncode == 0 and "Added 1" in proc.stdout
    info = json.loads(qa("index", "info", "--json", "--index-dir", str(index_copy)).stdout)
    assert info["stats"]["articles"] == 2 and info["stats"]["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert all(a["passages"] >= 1 for a in info["articles"])
    assert {"harbour", "trump-putin-budapest-summit"} == {a["id"] for a in info["articles"]}
    assert qa("index", "remove", "harbour", "--index-dir", str(index_copy)).returncode == 0
    proc = qa("index", "remove", "harbour", "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "No article with id harbour" in one_error_line(proc)


def test_help_and_usage_errors():
    for args in (["--help"], ["ask", "--help"], ["index", "build", "--help"], ["eval", "--help"], ["train-reader", "--help"], ["serve", "--help"]):
        proc = qa(*args)
        assert proc.returncode == 0 and "usage:" in proc.stdout, args
    assert qa("frobnicate").returncode == 2
    assert qa("ask").returncode == 2


def test_train_reader_warmup_shapes_the_learning_rate(tmp_path: Path):
    tiny = ROOT / "tests" / "data" / "squad-tiny.json"
    common = ["train-reader", "--data", str(tiny), "--max-steps", "2", "--batch-size", "4", "--max-length", "128",
              "--stride", "48", "--device", "cpu", "--learning-rate", "1e-3", "--quiet"]
    proc = qa(*common, "--warmup", "2.5", "--output", str(tmp_path / "out"), "--checkpoint-dir", str(tmp_path / "ck"))
    assert proc.returncode == 0, proc.stderr
    import torch

    state = torch.load(tmp_path / "ck" / "checkpoint.pt", weights_only=False)
    # A warm-up of 2.5 x 2 = 5 steps: after 2 steps the rate has climbed to 3/5 of its peak.
    assert state["config"]["warmup"] == 2.5
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.6e-3)
    proc = qa(*common, "--warmup", "-1", "--output", str(tmp_path / "bad"), "--checkpoint-dir", str(tmp_path / "ck-bad"))
    assert proc.returncode == 2 and "--warmup" in one_error_line(proc)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "ck-bad").exists()


@pytest.mark.parametrize("args", [
    ["ask", "Who?", "--threshold", "nan"], ["ask", "Who?", "--threshold", "inf"], ["ask", "Who?", "--top-k", "0"],
    ["ask", "Who?", "--top-k", "five"], ["serve", "--port", "70000"], ["serve", "--max-upload-mb", "0"],
    ["serve", "--max-upload-mb", "nan"], ["eval", "open", "x.json", "--limit", "-3"],
])
def test_bad_numeric_options_exit_2_with_one_line(args: list[str], tmp_path: Path):
    proc = qa(*args, "--index-dir", str(tmp_path / "index"))
    assert proc.returncode == 2
    assert args[-2] in one_error_line(proc)
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "index").exists()


def test_a_non_finite_threshold_is_refused_by_the_api(seed_index: Path):
    from qa.config import Config
    from qa.engine import Engine
    from qa.errors import InputError

    with pytest.raises(InputError, match="finite"):
        Engine.open(seed_index, Config(no_answer_threshold=float("nan")))
