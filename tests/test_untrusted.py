"""An index, a feed or an upload from someone else never reaches beyond its own folder, never stalls
everyone, and every failure says what is really wrong in one line (issue 24).

Each crafted index keeps a canary file beside it: the file an old version deleted or read."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, RUBIO_SENTENCE, SEED_QUESTION, snapshot
from test_cli import one_error_line, qa
from test_saving import NEW, fill, small_disk  # noqa: F401  (small_disk: a real tmpfs, as a fixture)

from qa.articles import MAX_FILE_BYTES, Article, collect_articles
from qa.config import Config
from qa.engine import Engine
from qa.errors import IndexUnusable, InputError, SaveFailed
from qa.passages import CHARS_PER_WORD, split_passages
from qa.retrieval import Filters

pytestmark = pytest.mark.slow

CANARY = b"a file that belongs to someone else\n"


def canary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CANARY)
    return path


def intact(*paths: Path) -> bool:
    return all(p.is_file() and p.read_bytes() == CANARY for p in paths)


def execute(index_dir: Path, sql: str, args: tuple = ()) -> None:
    with sqlite3.connect(index_dir / "index.sqlite") as db:
        db.execute(sql, args)


# ----- a crafted index ---------------------------------------------------------------------------

CRAFTED_ROWS = {  # state, the file name a crafted segment row gives (the canary is tmp_path / "victim.txt")
    "retired, absolute": ("retired", "{victim}"),
    "writing, ../": ("writing", "../../victim.txt"),
    "live, bad checksum": ("live", "{victim}"),
}


@pytest.mark.parametrize("craft", list(CRAFTED_ROWS))
def test_a_crafted_segment_row_never_touches_a_file_outside_the_index(
    index_copy: Path, tmp_path: Path, craft: str
):
    victim = canary(tmp_path / "victim.txt")
    state, name = CRAFTED_ROWS[craft]
    execute(
        index_copy,
        "INSERT INTO segments(number, file, state, kind, vectors, bytes, sha256) "
        "VALUES (9001, ?, ?, 'exact', 0, 10, 'bad')",
        (name.format(victim=victim), state),
    )
    proc = qa("index", "check", "--index-dir", str(index_copy))
    assert intact(victim), proc.stderr
    assert proc.returncode == 1 and "not a file of this index" in proc.stderr, proc.stderr
    if state == "live":  # a search would open it: refused in one line instead
        proc = qa("ask", SEED_QUESTION, "--index-dir", str(index_copy))
        assert proc.returncode == 1 and "not a segment file of this index" in one_error_line(proc)
    proc = qa("index", "rebuild", "--index-dir", str(index_copy), "--quiet")
    assert intact(victim) and proc.returncode == 0, proc.stderr
    engine = Engine.open(index_copy)
    engine.add_articles([NEW])
    assert intact(victim)
    assert engine.check() == []
    assert "Marco Rubio" in engine.ask(SEED_QUESTION).best.text


def test_a_crafted_bm25_file_list_and_job_key_never_touch_files_outside_the_index(
    index_copy: Path, tmp_path: Path
):
    victims = [
        canary(tmp_path / "victim.txt"),
        canary(tmp_path / "victim2.txt"),
        canary(tmp_path / "victim.lock"),
    ]
    managed = index_copy / "text" / ".managed.json"
    managed.write_text(json.dumps(json.loads(managed.read_text()) + ["../../victim.txt", str(victims[1])]))
    (index_copy / "segments" / "job-x").mkdir()
    execute(index_copy, "INSERT INTO settings(key, value) VALUES ('job:x/../../../victim', 'staging')")
    engine = Engine.open(index_copy)
    engine.add_articles([NEW])
    engine.remove(["chess"])
    assert intact(*victims)
    problems = engine.check()
    assert intact(*victims)
    assert len(problems) == 1 and "not one of this index's" in problems[0], problems
    assert "Marco Rubio" in engine.ask(SEED_QUESTION).best.text


def test_an_index_whose_segments_folder_links_elsewhere_is_refused_and_the_other_folder_kept(
    index_copy: Path, tmp_path: Path
):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(index_copy / "segments", elsewhere)
    canary(elsewhere / "job-0123456789ab-000000000001.faiss")  # what a job sweep would delete
    canary(elsewhere / "seg-000077.faiss.0123456789ab.tmp")  # what the temporary-file sweep would delete
    before = snapshot(elsewhere)
    shutil.rmtree(index_copy / "segments")
    (index_copy / "segments").symlink_to(elsewhere)
    for args in (
        ["index", "add", str(ROOT / "tests" / "data" / "evolving-story.jsonl"), "--quiet"],
        ["ask", SEED_QUESTION],
        ["index", "rebuild", "--quiet"],
    ):
        proc = qa(*args, "--index-dir", str(index_copy))
        assert proc.returncode == 1 and "is a link to another folder" in one_error_line(proc), (
            args,
            proc.stderr,
        )
    proc = qa("index", "check", "--index-dir", str(index_copy))
    assert proc.returncode == 1 and "is a link to another folder" in proc.stderr
    assert snapshot(elsewhere) == before


def test_a_bm25_folder_with_a_link_to_outside_is_refused(index_copy: Path, tmp_path: Path):
    victim = canary(tmp_path / "victim.txt")
    (index_copy / "text" / "aaaa.store").symlink_to(victim)
    proc = qa("ask", SEED_QUESTION, "--index-dir", str(index_copy), "--retrieval", "bm25")
    assert proc.returncode == 1 and "text/aaaa.store is a link to another file" in one_error_line(proc)
    assert intact(victim)


def test_an_upgrade_never_reads_a_version_outside_its_folder(tmp_path: Path):
    old = tmp_path / "old"
    shutil.copytree(ROOT / "tests" / "data" / "index-v1", old)
    outside = tmp_path / "outside" / "fake"
    shutil.move(str(old / "v000001"), str(outside))
    (old / "CURRENT").write_text("../outside/fake")
    before = snapshot(outside)
    proc = qa("index", "upgrade", "--index-dir", str(old), "--quiet")
    assert proc.returncode == 1 and "not a version folder of its own" in one_error_line(proc)
    assert snapshot(outside) == before and not (old / "index.sqlite").exists()


# ----- feeds and uploads -------------------------------------------------------------------------


def feed(path: Path, links: list[str]) -> Path:
    items = "".join(
        f"<item><title>Entry {n}</title><link>{link}</link><description>Summary {n} of the "
        f"harbour report.</description><pubDate>Mon, 06 Oct 2025 10:00:00 GMT</pubDate></item>"
        for n, link in enumerate(links)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour Wire</title>{items}'
        "</channel></rss>",
        encoding="utf-8",
    )
    return path


def page(path: Path, word: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<html><head><title>Page</title></head><body><article><h1>Page</h1><p>The secret password "
        f"of the server is {word}, kept in this file since the spring.</p><p>Nobody else knows "
        f"{word}.</p></article></body></html>",
        encoding="utf-8",
    )
    return path


def test_a_feed_reads_local_pages_only_inside_its_own_folder(tmp_path: Path):
    secret = page(tmp_path / "server" / "secret.html", "zyxwvu")
    page(tmp_path / "feeds" / "pages" / "inside.html", "qponml")
    (tmp_path / "feeds" / "linked.html").symlink_to(secret)
    path = feed(
        tmp_path / "feeds" / "wire.rss",
        [
            str(secret),
            "../server/secret.html",
            "linked.html",
            f"file://{secret}",
            "https://example.com/story",
            "pages/inside.html",
        ],
    )
    collected = collect_articles([path])
    texts = [a.text for a in collected.articles]
    assert len(texts) == 6 and not any("zyxwvu" in t for t in texts), texts
    assert "qponml" in texts[-1] and all(t.startswith("Summary") for t in texts[:-1])
    assert collected.articles[4].url == "https://example.com/story"  # a remote link stays a link


def test_a_feed_uploaded_through_the_page_never_reads_a_server_file(tmp_path: Path):
    from ui.app import PageService

    secret = page(tmp_path / "server" / "secret.html", "zyxwvu")
    upload = feed(tmp_path / "uploads" / "wire.rss", [str(secret), "secret.html"])
    shutil.copy(secret, tmp_path / "uploads" / "secret.html")  # even beside the uploaded file
    service = PageService(tmp_path / "index", Config(), 20)
    message = service.add_uploads([str(upload)])["files"][0]["state"]
    assert "2 added" in message, message
    texts = [a.text for a in service.engine.articles()]
    assert len(texts) == 2 and not any("zyxwvu" in t for t in texts), texts


# ----- one article cannot stall everyone -----------------------------------------------------------


def test_text_without_sentence_ends_becomes_bounded_passages_with_true_offsets():
    words = [f"w{n % 997}" for n in range(30_000)]
    article = Article("long", "Long", " ".join(words) + " " + "x" * 5_000 + " tail")
    passages = split_passages(article)
    assert all(len(p.text.split()) <= 120 and len(p.text) <= 120 * CHARS_PER_WORD for p in passages)
    assert all(article.text[p.start : p.end] == p.text for p in passages)
    assert passages[-1].text.endswith("tail") and len(passages) >= 30_000 // 120


def test_a_huge_passage_of_an_older_index_is_read_in_bounded_time(index_copy: Path):
    engine = Engine.open(index_copy)
    text = "the harbour office logged grain ships " * 60_000 + "The harbour master is Ilse Varga."
    article = Article("huge", "Harbour log", text)
    from qa.passages import Passage

    huge = Passage("huge:0", "huge", text, 0, len(text))  # as an index written before passages were capped
    vector = engine.embedder.encode(["the harbour office logged grain ships"])
    engine.index.add([article], [huge], vector, encoder=engine.embedder.encoder)
    engine.ask(SEED_QUESTION)  # models loaded
    start = time.perf_counter()
    result = engine.ask("Which ships did the harbour office log?", retrieval="bm25", top_k=5)
    assert time.perf_counter() - start < 10, "a 2-million-character passage must not be read whole"
    assert result.passages and result.passages[0].passage.article_id == "huge"


def test_files_over_the_limit_are_refused_in_one_line_without_being_read(tmp_path: Path):
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 10)  # sparse: nothing to read but its size
    collected = collect_articles([big])
    assert not collected.articles and "larger than 32 MB" in collected.failed[0][1]


# ----- failures that must not lie -------------------------------------------------------------------


def test_a_read_only_index_answers(small_disk: Path, seed_index: Path):  # noqa: F811
    index_dir = small_disk / "index"
    shutil.copytree(seed_index, index_dir)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        for retrieval in ("hybrid", "bm25"):
            proc = qa("ask", SEED_QUESTION, "--index-dir", str(index_dir), "--retrieval", retrieval)
            assert proc.returncode == 0, proc.stderr
            assert "Marco Rubio" in proc.stdout and RUBIO_SENTENCE in proc.stdout
        proc = qa("index", "check", "--index-dir", str(index_dir))
        assert proc.returncode == 0 and "is sound" in proc.stdout, proc.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)


def test_a_nearly_full_disk_is_reported_as_full_never_as_damage(small_disk: Path, seed_index: Path):  # noqa: F811
    index_dir = small_disk / "index"
    shutil.copytree(seed_index, index_dir)
    filler = fill(small_disk, leave=16 * 1024)
    try:
        for args in (
            ["ask", SEED_QUESTION],
            ["index", "add", str(ROOT / "tests" / "data" / "evolving-story.jsonl")],
        ):
            proc = qa(*args, "--index-dir", str(index_dir), "--quiet" if args[0] == "index" else "--json")
            if proc.returncode:
                line = one_error_line(proc)
                assert "full" in line and "damaged" not in line, line
    finally:
        filler.unlink()
    assert Engine.open(index_dir).check() == []


@pytest.mark.parametrize("suffix", [".term", ".fast"])
def test_a_damaged_bm25_file_gives_one_line_and_check_names_it(index_copy: Path, suffix: str):
    (path,) = [p for p in (index_copy / "text").iterdir() if p.name.endswith(suffix)]
    data = bytearray(path.read_bytes())
    for at in range(len(data) // 3, len(data) // 3 + 64):
        data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    proc = qa("ask", SEED_QUESTION, "--index-dir", str(index_copy), "--retrieval", "bm25")
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    if proc.returncode:
        one_error_line(proc)
    proc = qa("index", "check", "--index-dir", str(index_copy))
    assert proc.returncode == 1 and f"{path.name} is damaged" in proc.stderr, proc.stderr
    proc = qa("index", "rebuild", "--index-dir", str(index_copy), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert Engine.open(index_copy).check() == []


def test_a_segment_file_left_half_written_by_a_killed_writer_is_settled(index_copy: Path):
    stray = index_copy / "segments" / "seg-000002.faiss.0123456789ab.tmp"
    mine = index_copy / "segments" / "notes.tmp"  # not a name the index writes: left alone
    stray.write_bytes(b"\0" * 4096)
    mine.write_bytes(CANARY)
    assert Engine.open(index_copy).check() == []
    assert not stray.exists() and intact(mine)


def test_check_catches_changed_article_and_passage_text(index_copy: Path):
    execute(index_copy, "UPDATE articles SET text = replace(text, 'Marco Rubio', 'Marco Rubia')")
    problems = Engine.open(index_copy).check()
    assert any("1 article(s) changed since they were added" in p for p in problems), problems
    execute(index_copy, "UPDATE articles SET text = replace(text, 'Marco Rubia', 'Marco Rubio')")
    execute(index_copy, "UPDATE passages SET text = replace(text, 'Marco Rubio', 'Marco Rubia')")
    problems = Engine.open(index_copy).check()
    assert any("passage(s) differ from their article's text" in p for p in problems), problems
    assert Engine.open(index_copy).check(quick=True) == problems


def test_a_failed_rebuild_keeps_the_old_bm25_index(index_copy: Path):
    engine = Engine.open(index_copy)
    before = engine.search(SEED_QUESTION, top_k=3, retrieval="bm25")
    (segment,) = (index_copy / "segments").iterdir()
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one vector: the segment still loads, its checksum differs
    segment.write_bytes(bytes(data))  # so the rebuild must re-embed its passages, and that fails

    def failing(texts: list[str]) -> None:
        raise RuntimeError("the encoder broke")

    with pytest.raises(SaveFailed):
        engine.index.rebuild(failing)
    assert not (index_copy / "text.new").exists()
    after = Engine.open(index_copy).search(SEED_QUESTION, top_k=3, retrieval="bm25")
    assert [h.passage.id for h in after] == [h.passage.id for h in before]
    proc = qa("index", "rebuild", "--index-dir", str(index_copy), "--quiet")
    assert proc.returncode == 0 and "re-embedded 4 passage(s)" in proc.stdout, proc.stderr
    assert not (index_copy / "text.new").exists() and Engine.open(index_copy).check() == []


def test_a_writer_never_waits_on_another_programs_open_read(index_copy: Path):
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; db = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "db.execute('BEGIN'); db.execute('SELECT count(*) FROM articles').fetchone(); print('in', flush=True); "
            "time.sleep(120)",
            str(index_copy / "index.sqlite"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "in"
        engine = Engine.open(index_copy)
        start = time.perf_counter()
        engine.add_articles([NEW])
        assert time.perf_counter() - start < 20
    finally:
        reader.kill()
        reader.wait()
    assert Engine.open(index_copy).index.find("id", "chess") and Engine.open(index_copy).check() == []


def test_asking_an_index_whose_folder_was_deleted_says_so(index_copy: Path):
    engine = Engine.open(index_copy)
    assert engine.ask(SEED_QUESTION).answered
    shutil.rmtree(index_copy)
    for _ in range(2):
        with pytest.raises(IndexUnusable, match="is gone"):
            engine.ask(SEED_QUESTION)


# ----- one-line messages with the real cause -------------------------------------------------------


def test_wrong_types_through_the_api_are_refused_in_one_line(index_copy: Path):
    with pytest.raises(InputError, match="must be a path"):
        Engine.open(None)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="config must be a qa.Config"):
        Engine.open(index_copy, config=123)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="as text"):
        Engine.open(index_copy).remove([123])  # type: ignore[list-item]
    with pytest.raises(InputError, match="Config\\(top_k='5'\\)"):
        Config(top_k="5")  # type: ignore[arg-type]


def test_a_source_given_as_text_filters_by_that_source(index_copy: Path):
    engine = Engine.open(index_copy)
    engine.add_articles([NEW])
    hits = engine.search("Who won the chess olympiad?", top_k=3, filters=Filters(sources="Sports Desk"))  # type: ignore[arg-type]
    assert hits and {h.passage.article_id for h in hits} == {"chess"}


@pytest.mark.parametrize("date", ["9999-99-99", "2025-13-01", "2025-02-30", "2022-13-45"])
def test_impossible_dates_are_refused_by_the_cli_the_api_and_the_page(index_copy: Path, date: str):
    from qa.tools import filters_from

    proc = qa("ask", SEED_QUESTION, "--since", date, "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "date" in one_error_line(proc)
    with pytest.raises(InputError):
        Filters(date_from=date)
    with pytest.raises(InputError):
        filters_from("", date, "")


def test_serve_on_an_address_of_no_machine_fails_at_once(index_copy: Path):
    start = time.perf_counter()
    proc = qa("serve", "--host", "256.256.256.256", "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "Cannot listen on '256.256.256.256'" in one_error_line(proc)
    assert time.perf_counter() - start < 15


def test_train_reader_on_a_file_that_is_not_squad_says_so(tmp_path: Path):
    for text in ("root:x:0:0:root:/root:/bin/bash\n", '{"version": "1.1"}', '{"data": [{"title": "x"}]}'):
        data = tmp_path / "data.json"
        data.write_text(text)
        proc = qa(
            "train-reader",
            "--data",
            str(data),
            "--output",
            str(tmp_path / "out"),
            "--checkpoint-dir",
            str(tmp_path / "ck"),
            "--quiet",
        )
        assert proc.returncode == 2 and "is not a SQuAD-format file" in one_error_line(proc)


def test_ray_at_an_address_where_nothing_answers_fails_within_seconds(index_copy: Path):
    pytest.importorskip("ray")
    start = time.perf_counter()
    proc = qa(
        "index",
        "add",
        str(ROOT / "tests" / "data" / "evolving-story.jsonl"),
        "--index-dir",
        str(index_copy),
        "--ray",
        "127.0.0.1:1",
        "--quiet",
    )
    assert proc.returncode == 2 and "Nothing answers at the Ray address" in one_error_line(proc)
    assert time.perf_counter() - start < 60


def test_an_unexpected_exception_is_marked_as_internal_with_its_traceback_kept(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    from qa import cli

    def broken(args: object) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli, "cmd_index_info", broken)
    assert cli.main(["index", "info", "--index-dir", "/nonexistent"]) == 70
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: internal error") and "ZeroDivisionError: a bug" in line
    trace = Path(line.rsplit(" ", 1)[-1])
    assert "Traceback" in trace.read_text() and "broken" in trace.read_text()
    trace.unlink()


# ----- ids that never collide silently --------------------------------------------------------------


def test_two_different_files_of_one_name_in_separate_adds_both_stay(tmp_path: Path, index_copy: Path):
    first = tmp_path / "monday" / "report.txt"
    second = tmp_path / "tuesday" / "report.txt"
    for path, text in (
        (first, "The ferry to Brindisi was cancelled on Monday because of the storm."),
        (second, "The council approved the new tram line to the airport on Tuesday."),
    ):
        path.parent.mkdir()
        path.write_text(text)
    engine = Engine.open(index_copy)
    assert engine.add([first]).added == 1
    report = engine.add([second])
    assert report.added == 1 and report.updated == 0
    texts = {a.id: a.text for a in engine.articles()}
    assert texts["report"].startswith("The ferry") and any(
        t.startswith("The council") for t in texts.values()
    )
    assert engine.add([first]).unchanged == 1 and engine.add([second]).unchanged == 1
    first.write_text("The ferry to Brindisi sailed again on Wednesday.")
    assert engine.add([first]).updated == 1
    assert len(engine.articles()) == 3
