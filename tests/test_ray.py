"""Ingesting on Ray: a real local Ray runtime builds the same index as a local build, and a killed job changes nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, RUBIO_SENTENCE, SEED_QUESTION, SEEDS

from qa.articles import Article
from qa.engine import Engine

pytestmark = [pytest.mark.slow, pytest.mark.ray]

ray = pytest.importorskip("ray", reason="the Ray tests need the `ray` extra: pip install -e '.[ray]'")

SQUAD_TINY = ROOT / "tests" / "data" / "squad-tiny.json"


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray runtime with two CPUs for this module's tests (an add joins it rather than starting its own)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def articles_folder(folder: Path) -> Path:
    """SQuAD paragraphs as .txt files, the seed article, a syndicated copy of it, and two files that cannot be read."""
    from qa.squad import load_paragraphs

    folder.mkdir()
    for n, (title, context) in enumerate(load_paragraphs(SQUAD_TINY)):
        (folder / f"squad-{n:03d}.txt").write_text(f"{title} {n}\n\n{context}\n", encoding="utf-8")
    seed = next(SEEDS.glob("*.txt")).read_text(encoding="utf-8")
    (folder / "seed.txt").write_text(seed, encoding="utf-8")
    (folder / "wire-copy.txt").write_text("Wire copy\n\n" + seed.split("\n", 1)[1], encoding="utf-8")
    (folder / "broken.txt").write_bytes(b"\xff\xfe\x00 not text")
    (folder / "empty.html").write_text("<html><body></body></html>", encoding="utf-8")
    return folder


def contents(engine: Engine) -> tuple[dict, dict]:
    """Articles (id → every field and the story it copies) and passages (id → text, offsets, vector)."""
    articles = {a.id: (a.title, a.text, a.date, a.copy_of, a.checksum) for a in engine.articles()}
    passages = {}
    for article_id in articles:
        for passage, vector in engine.index.passages_of(article_id):
            passages[passage.id] = (passage.text, passage.start, passage.end, vector)
    return articles, passages


def test_a_ray_build_equals_a_local_build_and_reports_each_bad_file(local_ray, tmp_path: Path):
    from qa.distributed import RayOptions

    folder = articles_folder(tmp_path / "articles")
    local = Engine.build([folder], tmp_path / "local")
    distributed = Engine.build([folder], tmp_path / "ray", ray=RayOptions(workers=2, batch_size=4))
    assert sorted(str(p) for p, _ in distributed.report.failed) == sorted(
        str(p) for p, _ in local.report.failed
    )
    assert len(distributed.report.failed) == 2 and all(
        "\n" not in why for _, why in distributed.report.failed
    )
    assert distributed.report.added == local.report.added == 14  # 12 SQuAD paragraphs, the seed, its copy

    want, got = contents(local), contents(distributed)
    assert got[0] == want[0]  # same articles, ids, texts and syndicated copies found
    assert any(copy_of for *_, copy_of, _ in got[0].values())
    assert set(got[1]) == set(want[1])
    for pid, (text, start, end, vector) in got[1].items():
        assert (text, start, end) == want[1][pid][:3]
        assert np.allclose(vector, want[1][pid][3], atol=1e-5)
    # 29 passages in batches of 4: the workers wrote 8 segments, which the commit's tier policy then merged.
    assert max(s.number for s in distributed.stats().segments) >= 8
    assert distributed.check() == []
    for question in (SEED_QUESTION, "Who is Moscow's special envoy?"):
        a, b = local.ask(question), distributed.ask(question)
        assert (a.best.text, a.best.citation.sentence) == (b.best.text, b.best.citation.sentence)
    assert distributed.ask(SEED_QUESTION).best.citation.sentence == RUBIO_SENTENCE

    (folder / "late.txt").write_text(
        "Late news\n\nThe ferry to Vlieland now sails at dawn.\n", encoding="utf-8"
    )
    report = distributed.add([folder], ray=RayOptions(batch_size=4))
    assert (report.added, report.updated, report.unchanged, report.passages) == (
        1,
        0,
        14,
        1,
    )  # unchanged skipped
    assert distributed.ask("When does the ferry to Vlieland sail?").best.text == "dawn"


KILLED = """
import sys
from qa.distributed import RayOptions
from qa.engine import Engine
Engine.open(sys.argv[1]).add([sys.argv[2]], ray=RayOptions(workers=1, batch_size=4))
"""


def kill_session(leader: int) -> None:
    """SIGKILL every process of the session `leader` leads (Ray's workers have process groups of their own)."""
    rows = subprocess.run(
        ["ps", "-eo", "pid=,sid="], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    for pid, sid in (row.split() for row in rows if row.strip()):
        if int(sid) == leader:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_ray_job_killed_midway_leaves_the_index_as_it_was(index_copy: Path, tmp_path: Path):
    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(150):
        (folder / f"bulletin-{n:03d}.txt").write_text(
            f"Bulletin {n}\n\nThe harbour office posted notice number {n} about ferry berth {n % 7}.\n"
            f"Crews were told to check the tide tables for week {n}.\n",
            encoding="utf-8",
        )
    before = contents(Engine.open(index_copy))
    driver = subprocess.Popen(
        [sys.executable, "-c", KILLED, str(index_copy), str(folder)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list((index_copy / "segments").glob("job-*.faiss")):
        assert driver.poll() is None, "the Ray add ended before it could be interrupted"
        time.sleep(0.2)
    assert list((index_copy / "segments").glob("job-*.faiss")), "the Ray workers wrote no segment in time"
    kill_session(driver.pid)  # the driver and the Ray runtime it started, workers included
    driver.wait()

    engine = Engine.open(index_copy)
    assert contents(engine)[0] == before[0]  # nothing of the job is in the index
    assert engine.check() == []  # settles the dead job: its files are removed
    assert not list((index_copy / "segments").glob("job-*"))
    assert engine.ask(SEED_QUESTION).best.citation.sentence == RUBIO_SENTENCE
    engine.add_articles([Article.from_text("The ferry to Vlieland now sails at dawn.", title="Late news")])
    assert engine.ask("When does the ferry to Vlieland sail?").best.text == "dawn"


def test_without_ray_installed_the_command_says_how_to_install_it(tmp_path: Path, index_copy: Path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "ray").mkdir()
    (blocker / "ray" / "__init__.py").write_text("raise ImportError('no ray here')\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-m", "qa", "index", "add", "--index-dir", str(index_copy), str(SEEDS), "--ray"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: Ray is not installed; install it with `pip install 'qa-news[ray]'` (in a checkout: `pip install -e '.[ray]'`)."
    ]
    misplaced = subprocess.run(
        [sys.executable, "-m", "qa", "index", "add", "--index-dir", str(index_copy), "--ray", str(SEEDS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert misplaced.returncode == 2 and "put the files before --ray" in misplaced.stderr
