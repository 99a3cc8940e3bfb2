"""The docs' code runs: every ```python block of the README and docs/guide.md, as written, in a folder that
holds what the blocks name (the seed article as seeds/ and my-articles/, a later.jsonl)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, SEEDS

pytestmark = pytest.mark.slow
DOCS = [ROOT / "README.md", ROOT / "docs" / "guide.md"]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_the_docs_have_python_blocks():
    assert all(python_blocks(path) for path in DOCS)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_python_block_of_the_docs_runs(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    shutil.copytree(SEEDS, tmp_path / "seeds")
    shutil.copytree(SEEDS, tmp_path / "my-articles")
    later = {"id": "some-article-id", "title": "Later", "text": "The ferry to Kiel runs again from Monday."}
    (tmp_path / "later.jsonl").write_text(json.dumps(later) + "\n")
    monkeypatch.chdir(tmp_path)
    for block in python_blocks(doc):
        exec(compile(block, f"{doc.name} block", "exec"), {"__name__": "docs"})  # noqa: S102 - our own docs
    made = {"README.md": "my-index", "guide.md": "index"}[doc.name]
    assert (tmp_path / made / "index.sqlite").is_file()  # the index the blocks built, where they said
