"""The package builds without warnings and carries what a non-editable install needs (reader, seed article)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_the_wheel_builds_cleanly_with_the_reader_and_the_seed_article(tmp_path: Path):
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources, and tests never write into the repo.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "index",
            "build",
            "*.egg-info",
            "__pycache__",
            ".pytest_cache",
            "runs",
            "checkpoints",
            "results",
            ".devdata",
            ".whl",
        ),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # What setuptools says about the project's packaging (pip's own notes about its indexes are not ours).
    noise = [line for line in (proc.stdout + proc.stderr).splitlines() if "Warning" in line]
    assert noise == [], noise
    (wheel,) = (tmp_path / "dist").glob("qa_news-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "qa/models/reader/model.safetensors",
        "qa/models/reader/training.json",
        "qa/models/reader/tokenizer.json",
        "qa/models/ranker/ranker.json",
        "qa/seeds/trump-putin-budapest-summit.txt",
        "ui/app.py",
        "ui/service.py",
    } <= names
