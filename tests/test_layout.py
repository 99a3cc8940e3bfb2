"""The project's folders as a user meets them: index/'s scripts run as documented, and the seed article at the
top level is what a new default index is built from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from qa.config import SEEDS_DIR
from qa.engine import Engine

pytestmark = pytest.mark.slow

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Harbour Gazette</title>
<item><title>New ferry line</title><link>https://example.org/ferry</link><guid>ferry-1</guid>
<pubDate>Tue, 03 Mar 2026 09:00:00 GMT</pubDate>
<description>&lt;p&gt;The city opened a ferry line from Kiel to Oslo on Tuesday, run by Nordlys.&lt;/p&gt;</description>
</item></channel></rss>
"""


def run_script(name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    qa = Path(sys.executable).parent / "qa"  # the console script of this environment's install
    return subprocess.run(
        ["sh", str(ROOT / "index" / name), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "QA": str(qa), "PYTHONPATH": str(ROOT), **(env or {})},
    )


def test_the_seed_article_lives_in_the_top_level_seeds_folder():
    assert SEEDS_DIR == ROOT / "seeds" and sorted(p.name for p in SEEDS_DIR.iterdir()) == [
        "trump-putin-budapest-summit.txt"
    ]


def test_rebuild_script_builds_an_index_beside_the_index_folders_own_scripts(tmp_path: Path):
    home = tmp_path / "index"  # a copy of the project's own index/ folder: its README and scripts
    home.mkdir()
    for name in ("README.md", "rebuild.sh", "refresh-feeds.sh"):
        shutil.copy(ROOT / "index" / name, home / name)
    proc = run_script("rebuild.sh", str(SEEDS_DIR), str(home))
    assert proc.returncode == 0, proc.stderr
    best = Engine.open(home).ask("Who leads next week's talks?").best
    assert best is not None and "Marco Rubio" in best.text
    for name in ("README.md", "rebuild.sh", "refresh-feeds.sh"):  # the scripts are left as they were
        assert (home / name).read_bytes() == (ROOT / "index" / name).read_bytes()
    usage = run_script("rebuild.sh")
    assert usage.returncode == 2 and usage.stderr.startswith("usage: index/rebuild.sh FOLDER")


def test_refresh_script_adds_a_feeds_new_entries_once_and_stops(tmp_path: Path):
    feed = tmp_path / "gazette.xml"
    feed.write_text(FEED, encoding="utf-8")
    env = {"QA_INDEX_DIR": str(tmp_path / "archive")}
    first = run_script("refresh-feeds.sh", str(feed), env=env)
    assert first.returncode == 0, first.stderr
    assert "1 added" in first.stderr and "Brought the index up to date" in first.stderr
    answer = Engine.open(tmp_path / "archive").ask("Who runs the new ferry line?", always_answer=True)
    assert answer.answers and answer.answers[0].text == "Nordlys"
    again = run_script("refresh-feeds.sh", str(feed), env=env)  # nothing new: nothing added
    assert again.returncode == 0 and "added" not in again.stderr, again.stderr
