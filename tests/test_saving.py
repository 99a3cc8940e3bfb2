"""Nothing is ever lost: user files beside an index, killed writers, two writers at once, readers during
commits, full and read-only disks, damaged files, and indexes written in the older format."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SEED_QUESTION, SEEDS, snapshot
from test_cli import one_error_line, qa

from qa.articles import Article
from qa.engine import Engine
from qa.errors import InputError, SaveFailed
from qa.layout import OWN_FILES

pytestmark = pytest.mark.slow

# Folders a user might keep where an index lives; the format-1 code once deleted every `v[0-9]*` folder.
USER_FOLDERS = {
    "v2-drafts/draft.txt": b"my draft\n",
    "v1.0-release/notes/readme.md": b"# release notes\n",
    "v3 photos/holiday.jpg": bytes(range(256)) * 4,
    "segments-notes/monday.txt": b"call the printer\n",
}

NEW = Article.from_text(
    "The chess olympiad in Chennai was won by the team from Uzbekistan, who beat Armenia in the last round.",
    title="Chess olympiad",
    id="chess",
    date="2024-08-01",
    source="Sports Desk",
)


def plant_user_folders(folder: Path) -> dict[str, bytes]:
    for name, data in USER_FOLDERS.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return user_files(folder)


def user_files(folder: Path) -> dict[str, bytes]:
    tops = {name.split("/")[0] for name in USER_FOLDERS}
    return {k: v for k, v in snapshot(folder).items() if k.split("/")[0] in tops}


def numbered(n: int, tag: str) -> Article:
    """An article with a word found nowhere else, so that BM25 must find exactly it."""
    return Article.from_text(
        f"Dispatch {tag} {n}: the harbour office logged ship zq{tag}{n}x arriving with grain.",
        title=f"Dispatch {tag} {n}",
        id=f"{tag}-{n}",
    )


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
    engine = Engine.open(documents)
    engine.add_articles([NEW])
    engine.remove(["chess"])
    engine.optimize()
    for n in range(9):  # enough adds for a merge, whose replaced files go on the next write
        engine.add_articles([numbered(n, "m")])
    Engine.build([SEEDS], documents)  # an index now: rebuilding it needs no --force
    assert user_files(documents) == mine
    ours = {p.name for p in documents.iterdir()} - {name.split("/")[0] for name in USER_FOLDERS}
    assert ours <= OWN_FILES
    assert Engine.open(documents).check() == []


KILLED_WRITER = """
import random, sys
import numpy as np
from pathlib import Path
from qa.articles import Article
from qa.store import Store
from qa.passages import split_passages

folder, vectors = Path(sys.argv[1]), np.load(sys.argv[2])
index = Store.open(folder, approximate_above=20)
rng = random.Random(int(sys.argv[3]))
print("ready", flush=True)
n = 0
while True:  # adds, updates, removes and merges until killed
    n += 1
    articles = [Article.from_text(f"Bulletin {n}-{k}: the ferry zk{n}q{k} sailed at dawn.", id=f"k{n}-{k}")
                for k in range(rng.randint(1, 30))]
    passages = [p for a in articles for p in split_passages(a)]
    index.add(articles, passages, vectors[np.arange(len(passages)) % len(vectors)])
    if rng.random() < 0.3:
        index.remove([f"k{n}-0"])
    if rng.random() < 0.1:
        index.optimize()
"""


def test_kill_9_at_any_moment_of_a_write_leaves_a_sound_index(index_copy: Path, tmp_path: Path):
    engine = Engine.open(index_copy)
    vectors = tmp_path / "vectors.npy"
    np.save(vectors, engine.embedder.encode([f"the ferry sailed at dawn, bulletin {n}" for n in range(8)]))
    mine = plant_user_folders(index_copy)
    rng = random.Random(5)
    for trial in range(20):
        writer = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(index_copy), str(vectors), str(trial)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()
        time.sleep(rng.uniform(0.05, 1.5))
        writer.kill()
        writer.wait()
        index = Engine.open(index_copy)
        assert index.check() == [], f"trial {trial}"
        stats = index.stats()
        assert (
            sum(s.vectors - s.removed for s in stats.segments)
            == stats.passages
            == sum(index.passage_counts().values())
        )
    assert user_files(index_copy) == mine
    # Every committed article is still found by both retrievers, and the answer cites the seed's sentence.
    engine = Engine.open(index_copy)
    last = max(
        (a for a in engine.articles(text=False) if a.id.startswith("k")),
        key=lambda a: int(a.id[1:].split("-")[0]),
    )
    word = re.search(r"zk\d+q\d+", engine.index.articles([last.id])[last.id].text).group()
    assert engine.search(word, top_k=1, retrieval="bm25")[0].passage.article_id == last.id
    best = engine.ask(SEED_QUESTION, always_answer=True).best  # its citation, whatever the tier
    assert "Marco Rubio" in best.text and best.citation.article_id == "trump-putin-budapest-summit"


WRITER = """
import sys
from qa.articles import Article
from qa.engine import Engine

engine = Engine.open(sys.argv[1])
tag = sys.argv[2]
articles = [Article.from_text(f"Dispatch {tag} {n}: the harbour office logged ship zq{tag}{n}x arriving with grain.",
                              title=f"Dispatch {tag} {n}", id=f"{tag}-{n}") for n in range(200)]
for start in range(0, 200, 20):  # ten commits each
    engine.add_articles(articles[start : start + 20])
"""

ASKER = """
import json, sys
from pathlib import Path
from qa.engine import Engine
from qa.errors import QAError

engine = Engine.open(sys.argv[1])
stop = Path(sys.argv[2])
asked, failures, seen = 0, [], 0
while not stop.exists():
    try:
        result = engine.ask("Who will lead the talks?")
        assert "Marco Rubio" in result.best.text, result.best.text
        seen = max(seen, engine.stats().articles)
        asked += 1
    except (QAError, AssertionError) as exc:
        failures.append(str(exc))
print(json.dumps({"asked": asked, "failures": failures, "seen": seen}))
"""


def test_two_writers_at_once_keep_all_their_articles_while_a_reader_asks(index_copy: Path, tmp_path: Path):
    stop = tmp_path / "stop"
    asker = subprocess.Popen(
        [sys.executable, "-c", ASKER, str(index_copy), str(stop)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(index_copy), tag],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=600)
        assert writer.returncode == 0, err[-2000:]
    stop.touch()
    out, err = asker.communicate(timeout=120)
    report = json.loads(out.strip().splitlines()[-1])
    assert report["failures"] == [], report["failures"][:3]
    assert report["asked"] > 5, err[-2000:]
    assert report["seen"] > 1  # the running reader saw the writers' commits without reopening

    engine = Engine.open(index_copy)
    assert engine.stats().articles == 401 and engine.check() == []
    for tag in ("a", "b"):
        for n in range(200):
            hits = engine.search(f"ship zq{tag}{n}x", top_k=1, retrieval="bm25")
            assert hits and hits[0].passage.article_id == f"{tag}-{n}"
    dense = engine.search("Dispatch b 7: the harbour office logged ship", top_k=50, retrieval="dense")
    assert "b-7" in {h.passage.article_id for h in dense}


def test_two_adds_of_the_same_folder_at_once_report_what_the_commit_found(index_copy: Path, tmp_path: Path):
    folder = tmp_path / "reports"
    folder.mkdir()
    for n in range(40):
        (folder / f"report-{n}.txt").write_text(
            f"Report {n}\n\nThe harbour office logged ship zq{n}x arriving on day {n}. " * 3, encoding="utf-8"
        )
    adds = [  # both read the index before either commits (the embedding is done outside the writer's lock)
        subprocess.Popen(
            [sys.executable, "-m", "qa", "index", "add", str(folder), "--index-dir", str(index_copy)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    said = []
    for add in adds:
        out, err = add.communicate(timeout=600)
        assert add.returncode == 0, err[-2000:]
        said.append(re.search(r"Added (\d+), updated (\d+), unchanged (\d+)", out + err).groups())
    # 40 articles were added once, whichever add committed first; the other found them there, unchanged
    assert sorted(said) == [("0", "0", "40"), ("40", "0", "0")], said
    assert Engine.open(index_copy).stats().articles == 41


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 2 MB tmpfs, so that a save really runs out of space (needs root, as in CI; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path, leave: int) -> Path:
    """Fill the file system until only about `leave` bytes are free."""
    filler = disk / "filler.bin"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_a_save_on_a_full_disk_fails_in_one_line_and_works_once_space_is_back(
    small_disk: Path, seed_index: Path
):
    index_dir = small_disk / "index"
    shutil.copytree(seed_index, index_dir)
    engine = Engine.open(index_dir)
    (small_disk / "chess.txt").write_text(NEW.text)
    filler = fill(small_disk, leave=8 * 1024)
    for _ in range(2):  # a retry on a still-full disk fails the same clean way
        with pytest.raises(SaveFailed, match="the disk is full. The previous index is unchanged"):
            engine.add_articles([NEW])
    assert not engine.index.find("id", "chess")
    assert "Marco Rubio" in engine.ask(SEED_QUESTION).best.text

    proc = qa("index", "add", str(small_disk / "chess.txt"), "--index-dir", str(index_dir), "--quiet")
    assert proc.returncode == 1
    line = one_error_line(proc)
    assert "disk is full" in line and "OSError" not in line and "Errno" not in line

    filler.unlink()
    engine.add_articles([NEW])
    reopened = Engine.open(index_dir)
    assert reopened.index.find("id", "chess") and reopened.check() == []


def test_a_save_to_a_read_only_folder_fails_in_one_line_and_keeps_the_index(
    small_disk: Path, seed_index: Path
):
    index_dir = small_disk / "index"
    shutil.copytree(seed_index, index_dir)
    (small_disk / "chess.txt").write_text(NEW.text)
    before = snapshot(index_dir)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        for args in (
            ["index", "add", str(small_disk / "chess.txt")],
            ["index", "remove", "trump-putin-budapest-summit"],
        ):
            proc = qa(*args, "--index-dir", str(index_dir), "--quiet")
            assert proc.returncode == 1 and "read-only" in one_error_line(proc), proc.stderr
        assert snapshot(index_dir) == before
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    proc = qa("index", "add", str(small_disk / "chess.txt"), "--index-dir", str(index_dir), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert Engine.open(index_dir).index.find("id", "chess")


def damage(path: Path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "altered":
        data = bytearray(path.read_bytes())
        for at in range(len(data) // 3, min(len(data), len(data) // 3 + 64)):
            data[at] ^= 0xFF
        path.write_bytes(bytes(data))
    else:
        path.unlink()


@pytest.mark.parametrize("how", ["truncated", "altered", "deleted"])
def test_each_damaged_file_gives_one_line_and_check_names_it(index_copy: Path, how: str, tmp_path: Path):
    text = sorted(
        (p for p in (index_copy / "text").iterdir() if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_size,
    )
    # the database, the vector segment, and the BM25 index's catalog and largest file
    files = [
        index_copy / "index.sqlite",
        *(index_copy / "segments").iterdir(),
        index_copy / "text" / "meta.json",
        text[-1],
    ]
    for path in files:
        broken = tmp_path / f"{how}-{path.name}"
        shutil.copytree(index_copy, broken)
        damage(broken / path.relative_to(index_copy), how)
        for args in (["ask", SEED_QUESTION], ["index", "check"]):
            proc = qa(*args, "--index-dir", str(broken))
            assert "Traceback" not in proc.stderr, (path.name, args, proc.stderr[-1500:])
            assert proc.returncode in (0, 1), (path.name, args, proc.returncode, proc.stderr[-500:])
            if proc.returncode and args[-1] != "check":
                one_error_line(proc)
        # check names what matters: vector files and the database (altered bytes may fall in unused pages)
        if path.parent.name == "segments" or (path.name == "index.sqlite" and how != "altered"):
            assert proc.returncode == 1 and ("problem" in proc.stderr or "damaged" in proc.stderr), (
                path.name,
                proc.stderr,
            )


def test_rebuild_restores_a_lost_segment_and_a_lost_bm25_index(index_copy: Path):
    engine = Engine.open(index_copy)
    engine.add_articles([NEW])
    (segment,) = [p for p in (index_copy / "segments").iterdir() if p.name.endswith("000002.faiss")]
    segment.unlink()
    shutil.rmtree(index_copy / "text")
    proc = qa("index", "check", "--index-dir", str(index_copy))
    assert proc.returncode == 1 and "seg-000002.faiss is missing" in proc.stderr
    proc = qa("index", "rebuild", "--index-dir", str(index_copy), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "re-embedded 1 passage(s) of 1 damaged segment(s)" in proc.stdout
    engine = Engine.open(index_copy)
    assert engine.check() == []
    for mode in ("dense", "bm25"):
        assert (
            engine.search("Who won the chess olympiad in Chennai?", top_k=1, retrieval=mode)[
                0
            ].passage.article_id
            == "chess"
        )


def test_an_index_in_format_1_is_refused_in_one_line_then_upgraded(tmp_path: Path):
    old = tmp_path / "old"
    shutil.copytree(ROOT / "tests" / "data" / "index-v1", old)
    (old / "my notes").mkdir()
    (old / "my notes" / "keep.txt").write_text("mine")
    proc = qa("ask", SEED_QUESTION, "--index-dir", str(old))
    assert proc.returncode == 1 and "qa index upgrade" in one_error_line(proc)
    before = [
        json.loads(line)["id"] for line in (old / "v000001" / "articles.jsonl").read_text().splitlines()
    ]
    proc = qa("index", "upgrade", "--index-dir", str(old), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert {p.name for p in old.iterdir()} <= OWN_FILES | {"my notes"} and (
        old / "my notes" / "keep.txt"
    ).read_text() == "mine"
    engine = Engine.open(old)
    assert [a.id for a in engine.articles(text=False)] == before and engine.check() == []
    best = engine.ask(SEED_QUESTION).best
    assert "Marco Rubio" in best.text and best.citation.article_id == "trump-putin-budapest-summit"
    proc = qa("index", "upgrade", "--index-dir", str(old), "--quiet")  # again: nothing left to do
    assert proc.returncode == 0, proc.stderr
