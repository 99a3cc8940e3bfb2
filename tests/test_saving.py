"""Saving never loses data: the index deletes only what it wrote, survives failed and killed saves,
and readers never see a version vanish under them (issue: never delete what the index did not write)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from qa.articles import Article
from qa.engine import Engine
from qa.errors import InputError, SaveFailed
from qa.index import CATALOG, PassageIndex

from conftest import ROOT, SEED_QUESTION, SEEDS, snapshot
from test_cli import one_error_line, qa

# Folders a user might keep where an index lives; the old code deleted every `v[0-9]*` folder.
USER_FOLDERS = {
    "v2-drafts/draft.txt": b"my draft\n",
    "v1.0-release/notes/readme.md": b"# release notes\n",
    "v3 photos/holiday.jpg": bytes(range(256)) * 4,
    "v2024-notes/monday.txt": b"call the printer\n",
}

NEW = Article.from_text("The chess olympiad in Chennai was won by the team from Uzbekistan, who beat Armenia in the last round.",
                        title="Chess olympiad", id="chess", date="2024-08-01", source="Sports Desk")


def plant_user_folders(folder: Path) -> dict[str, bytes]:
    for name, data in USER_FOLDERS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return user_files(folder)


def user_files(folder: Path) -> dict[str, bytes]:
    tops = {name.split("/")[0] for name in USER_FOLDERS}
    return {k: v for k, v in snapshot(folder).items() if k.split("/")[0] in tops}


def version_folders(folder: Path) -> set[str]:
    """The folders the index's catalog names (and so may delete)."""
    return set(json.loads((folder / CATALOG).read_text())["versions"])


def test_build_refuses_a_folder_of_other_files_and_with_force_never_touches_them(tmp_path: Path):
    documents = tmp_path / "Documents"
    documents.mkdir()
    mine = plant_user_folders(documents)

    with pytest.raises(InputError, match="is not an index and already holds other files"):
        Engine.build([SEEDS], documents)
    proc = qa("index", "build", str(SEEDS), "--index-dir", str(documents), "--quiet")
    assert proc.returncode == 2 and "--force" in one_error_line(proc)
    assert snapshot(documents) == mine  # nothing written at all

    proc = qa("index", "build", str(SEEDS), "--index-dir", str(documents), "--force", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert user_files(documents) == mine
    engine = Engine.open(documents)
    engine.add_articles([NEW])
    assert user_files(documents) == mine
    engine.remove(["chess"])
    assert user_files(documents) == mine
    Engine.build([SEEDS], documents)  # an index now: rebuilding it needs no --force
    assert user_files(documents) == mine
    # Beside the user's folders there is only the index: its pointer, catalog, lock and the folders it names.
    ours = {p.name for p in documents.iterdir()} - {name.split("/")[0] for name in USER_FOLDERS}
    assert ours == {"CURRENT", CATALOG, ".lock"} | version_folders(documents)
    assert len(version_folders(documents)) == 2  # the live version and the one it replaced, kept for readers


KILL_MID_SAVE = """
import os, signal, sys
import numpy as np
import qa.index
from qa.articles import Article
from qa.engine import Engine

real_save = np.save
def dying_save(path, array):
    real_save(path, array)          # the new version folder is half written...
    os.kill(os.getpid(), signal.SIGKILL)  # ...when the process is killed
qa.index.np.save = dying_save
engine = Engine.open(sys.argv[1])
engine.add_articles([Article.from_text("A new article that must never appear.", title="Ghost", id="ghost")])
"""


def test_a_killed_save_leaves_the_old_index_and_the_next_save_clears_only_its_own_debris(index_copy: Path):
    mine = plant_user_folders(index_copy)
    before = snapshot(index_copy)
    proc = subprocess.run([sys.executable, "-c", KILL_MID_SAVE, str(index_copy)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    catalog = json.loads((index_copy / CATALOG).read_text())["versions"]
    assert sorted(catalog.values()) == ["live", "writing"], "the killed save's folder is named in the catalog"
    engine = Engine.open(index_copy)
    assert "ghost" not in engine.index.articles
    assert {k: v for k, v in snapshot(index_copy).items() if k in before and k != CATALOG} == \
        {k: v for k, v in before.items() if k != CATALOG}
    assert "Marco Rubio" in engine.search(SEED_QUESTION, top_k=1)[0].passage.text

    engine.add_articles([NEW])
    catalog = json.loads((index_copy / CATALOG).read_text())["versions"]
    assert sorted(catalog.values()) == ["live", "retired"]  # the debris is gone, the replaced version kept
    assert {p.name for p in index_copy.iterdir() if p.is_dir()} == set(catalog) | {n.split("/")[0] for n in USER_FOLDERS}
    assert user_files(index_copy) == mine
    assert "chess" in Engine.open(index_copy).index.articles


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 2 MB tmpfs, so that a save really runs out of space (needs root, as in CI; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path, leave: int) -> Path:
    """Fill the file system until only about `leave` bytes are free."""
    import shutil

    filler = disk / "filler.bin"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_a_save_on_a_full_disk_fails_in_one_line_cleans_up_and_works_once_space_is_back(small_disk: Path, seed_index: Path):
    import shutil

    index_dir = small_disk / "index"
    shutil.copytree(seed_index, index_dir)
    engine = Engine.open(index_dir)
    filler = fill(small_disk, leave=8 * 1024)
    before = snapshot(index_dir)
    for _ in range(2):  # a retry on a still-full disk fails the same clean way, leaving nothing behind
        with pytest.raises(SaveFailed, match="the disk is full. The previous index is unchanged"):
            engine.add_articles([NEW])
        assert snapshot(index_dir) == before
    # The engine went back to what is on disk and still answers.
    assert "chess" not in engine.index.articles
    assert "Marco Rubio" in engine.ask(SEED_QUESTION).best.text

    proc = qa("index", "add", str(SEEDS / "trump-putin-budapest-summit.txt"), "--index-dir", str(index_dir), "--quiet")
    assert proc.returncode == 0, proc.stderr  # unchanged article: nothing to save, so no failure
    (small_disk / "chess.txt").write_text(NEW.text)
    proc = qa("index", "add", str(small_disk / "chess.txt"), "--index-dir", str(index_dir), "--quiet")
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "disk is full" in line and "OSError" not in line and "Errno" not in line
    assert snapshot(index_dir) == before

    filler.unlink()
    engine.add_articles([NEW])
    assert "chess" in Engine.open(index_dir).index.articles


def test_a_save_to_a_read_only_folder_fails_in_one_line_and_keeps_the_index(small_disk: Path, seed_index: Path):
    import shutil

    index_dir = small_disk / "index"
    shutil.copytree(seed_index, index_dir)
    engine = Engine.open(index_dir)
    before = snapshot(index_dir)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        with pytest.raises(SaveFailed, match="read-only"):
            engine.add_articles([NEW])
        with pytest.raises(SaveFailed, match="read-only"):
            engine.remove(["trump-putin-budapest-summit"])
        assert snapshot(index_dir) == before
        assert "Marco Rubio" in engine.ask(SEED_QUESTION).best.text
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    engine.add_articles([NEW])
    assert "chess" in Engine.open(index_dir).index.articles


READ_LOOP = """
import json, sys, time
from pathlib import Path
from qa.errors import IndexUnusable
from qa.index import PassageIndex

folder, stop = Path(sys.argv[1]), Path(sys.argv[2])
loads, failures = 0, []
while not stop.exists():
    try:
        PassageIndex.load(folder)
        loads += 1
    except IndexUnusable as exc:
        failures.append(str(exc))
print(json.dumps({"loads": loads, "failures": failures}))
"""


def test_readers_never_see_a_version_vanish_during_saves(index_copy: Path, tmp_path: Path):
    stop = tmp_path / f"stop-{uuid.uuid4().hex}"
    reader = subprocess.Popen([sys.executable, "-c", READ_LOOP, str(index_copy), str(stop)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    index = PassageIndex.load(index_copy)
    time.sleep(3)  # let the reader start loading
    for _ in range(60):
        index.save(index_copy)
    stop.touch()
    out, err = reader.communicate(timeout=120)
    result = json.loads(out)
    assert result["failures"] == [], result["failures"][:3]
    assert result["loads"] > 20, err
