"""The shipped models' rebuild commands run end to end (scripts/build_*.py); each model's figures are in its card."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "data" / "squad"

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    not (SQUAD / "train-v1.1.json.gz").is_file(), reason="SQuAD v1.1 is not in ../shared/data"
)
def test_the_reader_rebuild_command_trains_calibrates_and_scores_a_reader(tmp_path: Path):
    done = subprocess.run(
        [
            sys.executable,
            "scripts/build_reader.py",
            "--output",
            str(tmp_path / "reader"),
            "--dry-run",
            "--device",
            "cpu",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    training = json.loads((tmp_path / "reader" / "training.json").read_text())
    assert training["steps"] == 2 and "calibration" in training and "threshold" in json.dumps(training)
    assert (tmp_path / "reader" / "model.safetensors").is_file()
    scores = json.loads(done.stdout.strip().splitlines()[-1])
    assert (
        set(scores) == {"rebuilt", "shipped"} and scores["shipped"]["f1"] > 60
    )  # the shipped reader, 64 questions
    # run again: finished stages are not trained again, and an existing output is refused, not overwritten
    again = subprocess.run(
        [
            sys.executable,
            "scripts/build_reader.py",
            "--output",
            str(tmp_path / "reader"),
            "--dry-run",
            "--device",
            "cpu",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert again.returncode == 2 and "exists" in again.stderr and "train-reader" not in again.stdout
