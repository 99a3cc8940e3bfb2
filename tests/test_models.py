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


def build_reader(output: Path) -> subprocess.CompletedProcess[str]:
    """scripts/build_reader.py on its dry-run schedule (2 steps a stage, 64 questions) on this CPU."""
    command = [sys.executable, "scripts/build_reader.py", "--output", str(output), "--dry-run"]
    return subprocess.run(
        [*command, "--device", "cpu"], cwd=ROOT, capture_output=True, text=True, timeout=900
    )


@pytest.mark.skipif(not (SQUAD / "train-v1.1.json.gz").is_file(), reason="no SQuAD v1.1 in ../shared")
def test_the_reader_rebuild_command_trains_calibrates_and_scores_a_reader(tmp_path: Path):
    done = build_reader(tmp_path / "reader")
    assert done.returncode == 0, done.stderr[-2000:]
    training = json.loads((tmp_path / "reader" / "training.json").read_text())
    assert training["steps"] == 2 and "calibration" in training
    assert training["no_answer_threshold"] is not None
    assert (tmp_path / "reader" / "model.safetensors").is_file()
    scores = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(scores) == {"rebuilt", "shipped"}
    assert scores["shipped"]["f1"] > 60  # the shipped reader, scored on the same 64 questions
    # run again: an existing output is refused, not overwritten, and nothing is trained
    again = build_reader(tmp_path / "reader")
    assert again.returncode == 2 and "exists" in again.stderr and "train-reader" not in again.stdout
