"""Shared fixtures: the real packaged embedding model, real indexes on disk, the shipped reader."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The int8 graphs are exported into a cache: a temporary one, never the user's ~/.cache (subprocesses inherit it).
os.environ.setdefault("QA_CACHE_DIR", tempfile.mkdtemp(prefix="qa-test-cache-"))

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_QUESTION = "Who leads next week's talks?"
RUBIO_SENTENCE = "US Secretary of State Marco Rubio will lead the talks."


HEAVY_FIXTURES = {"seed_index", "index_copy", "engine"}  # each builds or opens a real index with the models


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for a real index is slow wherever it lives: the fast tier stays model-free."""
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of seeds/, built once; copy it before changing it."""
    from qa.engine import Engine

    path = tmp_path_factory.mktemp("seed") / "index"
    Engine.build([SEEDS], path)
    return path


@pytest.fixture
def index_copy(seed_index: Path, tmp_path: Path) -> Path:
    path = tmp_path / "index"
    shutil.copytree(seed_index, path)
    return path


@pytest.fixture(scope="session")
def engine(seed_index: Path):
    from qa.engine import Engine

    return Engine.open(seed_index)


def snapshot(index_dir: Path) -> dict[str, bytes]:
    """Every file of an index, to prove an operation changed nothing.

    Left out: the lock, and SQLite's write-ahead log and its shared-memory index, which
    readers create and remove (every write checkpoints the log into index.sqlite).
    """
    return {
        str(p.relative_to(index_dir)): p.read_bytes()
        for p in sorted(index_dir.rglob("*"))
        if p.is_file() and p.name != ".lock" and not p.name.endswith(("-wal", "-shm"))
    }
