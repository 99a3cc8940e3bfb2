"""The `qa` command as a user runs it: exit codes, one-line errors, the --json schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, RUBIO_SENTENCE, SEED_QUESTION, snapshot

pytestmark = pytest.mark.slow


def qa(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "qa", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The one `error:` line of a failed command; an unexpected exception (a bug) is never accepted as one."""
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "internal error" not in lines[0] and proc.returncode != 70, proc.stderr
    return lines[0]


def test_the_first_ask_from_anywhere_builds_the_default_index_in_the_users_data_folder(tmp_path: Path):
    elsewhere = tmp_path / "somewhere"
    elsewhere.mkdir()
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "QA_INDEX_DIR": ""}
    proc = qa("ask", SEED_QUESTION, cwd=elsewhere, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "Marco Rubio" in proc.stdout.splitlines()[0]
    assert RUBIO_SENTENCE in proc.stdout
    assert (tmp_path / "data" / "qa-news" / "index" / "index.sqlite").is_file()
    assert list(elsewhere.iterdir()) == []  # nothing written where it was run
    proc = qa("ask", SEED_QUESTION, "--json", cwd=tmp_path, env=env)  # found again from another folder
    assert proc.returncode == 0 and json.loads(proc.stdout)["answered"]

    # A folder named by $QA_INDEX_DIR is never seeded: a typo there fails as one in --index-dir does.
    proc = qa("ask", SEED_QUESTION, cwd=elsewhere, env={"QA_INDEX_DIR": str(tmp_path / "mine")})
    assert proc.returncode == 2 and "$QA_INDEX_DIR" in one_error_line(proc)
    assert not (tmp_path / "mine").exists()


def test_ask_json_schema(index_copy: Path):
    proc = qa("ask", SEED_QUESTION, "--json", "--top-k", "3", "--index-dir", str(index_copy))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {
        "question",
        "tier",
        "answered",
        "confident",
        "answer",
        "likely",
        "asked_as_of",
        "left_out",
        "article_date",
        "as_of",
        "timeline",
        "candidates",
        "passages",
        "seconds",
    }
    assert out["answered"] is True and len(out["passages"]) == 3
    answer = out["answer"]
    for key in (
        "text",
        "confidence",
        "score",
        "answerability",
        "article_id",
        "title",
        "date",
        "source",
        "url",
        "passage",
        "passage_start",
        "start",
        "end",
        "sentence",
        "sentence_start",
        "sentence_end",
        "evidence",
    ):
        assert key in answer, key
    assert "Marco Rubio" in answer["text"] and answer["sentence"] == RUBIO_SENTENCE
    assert 0 < answer["confidence"] == answer["score"] <= 1
    assert set(out["seconds"]) == {"load", "retrieval", "reading", "total"}  # model loading is not retrieval
    assert out["seconds"]["load"] > out["seconds"]["retrieval"]


def test_dont_know_is_exit_status_zero_and_shows_the_closest_passages(index_copy: Path):
    question = "What is the boiling point of liquid nitrogen?"
    proc = qa("ask", question, "--json", "--index-dir", str(index_copy))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["answered"] is False
    proc = qa("ask", question, "--index-dir", str(index_copy))
    assert proc.stdout.startswith("The articles don't say.") and "Closest passages:\n  1. " in proc.stdout
    proc = qa("ask", question, "--always-answer", "--json", "--index-dir", str(index_copy))
    out = json.loads(proc.stdout)
    assert out["answered"] is True and out["confident"] is False and out["answer"]["text"]


@pytest.mark.parametrize("question", ["", "x" * 20_000])
def test_bad_questions_exit_2_with_one_line(index_copy: Path, question: str):
    before = snapshot(index_copy)
    proc = qa("ask", question, "--index-dir", str(index_copy))
    assert proc.returncode == 2
    one_error_line(proc)
    assert snapshot(index_copy) == before


def test_a_missing_index_exits_2_and_a_damaged_one_1(tmp_path: Path, index_copy: Path):
    proc = qa("ask", SEED_QUESTION, "--index-dir", str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "There is no index" in one_error_line(proc)
    assert not (tmp_path / "nowhere").exists()
    proc = qa("index", "info", "--index-dir", str(tmp_path / "nowhere"))  # a wrong path is bad input
    assert proc.returncode == 2 and "There is no index" in one_error_line(proc)
    proc = qa("index", "info", "--index-dir", str(tmp_path))
    assert proc.returncode == 2 and "is not an index" in one_error_line(proc)

    (index_copy / "index.sqlite").write_bytes(b"garbage" * 1000)
    before = snapshot(index_copy)
    proc = qa("ask", SEED_QUESTION, "--index-dir", str(index_copy))
    assert proc.returncode == 1 and "damaged" in one_error_line(proc)
    assert snapshot(index_copy) == before


def test_bad_files_exit_2_and_leave_the_index_alone(tmp_path: Path, index_copy: Path):
    before = snapshot(index_copy)
    (tmp_path / "empty").mkdir()
    proc = qa("index", "add", str(tmp_path / "empty"), "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "holds no" in one_error_line(proc)
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 news\nThe caf\xe9 opened.".encode("latin-1"))
    proc = qa("index", "add", str(tmp_path / "latin1.txt"), "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "not UTF-8" in one_error_line(proc)
    proc = qa("index", "build", str(tmp_path / "empty"), "--index-dir", str(index_copy))
    assert proc.returncode == 2
    assert snapshot(index_copy) == before


def test_index_commands_round_trip(tmp_path: Path, index_copy: Path):
    (tmp_path / "harbour.md").write_text(
        "# Harbour reopens\n\nThe harbour in Kiel reopened on Monday after a storm.\n"
    )
    proc = qa("index", "add", str(tmp_path / "harbour.md"), "--index-dir", str(index_copy), "--quiet")
    assert proc.returncode == 0 and "Added 1" in proc.stdout
    info = json.loads(qa("index", "info", "--json", "--index-dir", str(index_copy)).stdout)
    assert (
        info["stats"]["articles"] == 2
        and info["stats"]["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    )
    assert all(a["passages"] >= 1 for a in info["articles"])
    assert {"harbour", "trump-putin-budapest-summit"} == {a["id"] for a in info["articles"]}
    assert qa("index", "remove", "harbour", "--index-dir", str(index_copy)).returncode == 0
    proc = qa("index", "remove", "harbour", "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "No article with id, url or title 'harbour'" in one_error_line(proc)


def test_help_and_usage_errors():
    for args in (
        ["--help"],
        ["ask", "--help"],
        ["index", "build", "--help"],
        ["eval", "--help"],
        ["train-reader", "--help"],
        ["serve", "--help"],
    ):
        proc = qa(*args)
        assert proc.returncode == 0 and "usage:" in proc.stdout, args
    assert qa("frobnicate").returncode == 2
    assert qa("ask").returncode == 2


def test_train_reader_warmup_shapes_the_learning_rate(tmp_path: Path):
    tiny = ROOT / "tests" / "data" / "squad-tiny.json"
    common = [
        "train-reader",
        "--data",
        str(tiny),
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--max-length",
        "128",
        "--stride",
        "48",
        "--device",
        "cpu",
        "--learning-rate",
        "1e-3",
        "--quiet",
    ]
    proc = qa(
        *common,
        "--warmup",
        "2.5",
        "--output",
        str(tmp_path / "out"),
        "--checkpoint-dir",
        str(tmp_path / "ck"),
    )
    assert proc.returncode == 0, proc.stderr
    import torch

    state = torch.load(tmp_path / "ck" / "checkpoint.pt", weights_only=False)
    # A warm-up of 2.5 x 2 = 5 steps: after 2 steps the rate has climbed to 3/5 of its peak.
    assert state["config"]["warmup"] == 2.5
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.6e-3)
    proc = qa(
        *common,
        "--warmup",
        "-1",
        "--output",
        str(tmp_path / "bad"),
        "--checkpoint-dir",
        str(tmp_path / "ck-bad"),
    )
    assert proc.returncode == 2 and "--warmup" in one_error_line(proc)
    assert not (tmp_path / "bad").exists() and not (tmp_path / "ck-bad").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "Who?", "--threshold", "nan"],
        ["ask", "Who?", "--threshold", "inf"],
        ["ask", "Who?", "--top-k", "0"],
        ["ask", "Who?", "--top-k", "five"],
        ["serve", "--port", "70000"],
        ["serve", "--max-upload-mb", "0"],
        ["serve", "--max-upload-mb", "nan"],
        ["eval", "open", "x.json", "--limit", "-3"],
    ],
)
def test_bad_numeric_options_exit_2_with_one_line(args: list[str], tmp_path: Path):
    proc = qa(*args, "--index-dir", str(tmp_path / "index"))
    assert proc.returncode == 2
    assert args[-2] in one_error_line(proc)
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert not (tmp_path / "index").exists()


def test_a_non_finite_threshold_is_refused_by_the_api(seed_index: Path):
    from qa.config import Config
    from qa.engine import Engine
    from qa.errors import InputError

    with pytest.raises(InputError, match="finite"):
        Engine.open(seed_index, Config(no_answer_threshold=float("nan")))


def test_articles_are_removed_by_the_id_the_readme_promises_by_url_and_by_title(
    tmp_path: Path, index_copy: Path
):
    url = "https://news.example.org/2022/03/01/harbour-reopens"
    records = [
        {
            "text": "The harbour in Kiel reopened on Monday after a storm.",
            "title": "Harbour reopens",
            "url": url,
        },
        {
            "text": "The bridge in Novi Sad reopened on Tuesday.",
            "title": "Bridge reopens",
            "url": url + "-bridge",
        },
        {"text": "A ferry line to Oslo starts in May.", "title": "Ferry to Oslo", "id": "ferry"},
    ]
    feed = tmp_path / "news.jsonl"
    feed.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert qa("index", "add", str(feed), "--index-dir", str(index_copy), "--quiet").returncode == 0
    info = json.loads(qa("index", "info", "--json", "--index-dir", str(index_copy)).stdout)
    assert {a["id"] for a in info["articles"]} >= {url, url + "-bridge", "ferry"}  # a record's id is its url
    assert url in qa("index", "info", "--index-dir", str(index_copy)).stdout
    for key in (url, "Bridge reopens", "ferry"):  # by url (= id), by exact title, by id
        proc = qa("index", "remove", key, "--index-dir", str(index_copy), "--quiet")
        assert proc.returncode == 0 and "Removed 1" in proc.stdout, proc.stderr
    info = json.loads(qa("index", "info", "--json", "--index-dir", str(index_copy)).stdout)
    assert [a["id"] for a in info["articles"]] == ["trump-putin-budapest-summit"]


def test_piping_into_a_reader_that_stops_early_is_silent(index_copy: Path):
    # `true` exits without reading, so qa's first write meets a closed pipe.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        f"{sys.executable} -m qa index info --index-dir '{index_copy}' | true; echo \"status ${{PIPESTATUS[0]}}\"",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.stdout.strip() == "status 0" and proc.stderr == "", proc.stderr


def test_a_folder_add_keeps_what_it_can_read_and_reports_each_other_file(tmp_path: Path, index_copy: Path):
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "harbour.md").write_text(
        "# Harbour reopens\n\nThe harbour in Kiel reopened on Monday after a storm.\n"
    )
    (folder / "latin1.txt").write_bytes("Caf\xe9 news\nThe caf\xe9 opened.".encode("latin-1"))
    (folder / "broken.jsonl").write_text("[" * 100_000 + "\n")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")
    before = snapshot(index_copy)
    proc = qa("index", "add", str(folder), "--strict", "--index-dir", str(index_copy), "--quiet")
    assert proc.returncode == 2 and "2 files could not be read" in one_error_line(proc)
    assert snapshot(index_copy) == before  # all or nothing

    proc = qa("index", "add", str(folder), "--index-dir", str(index_copy), "--quiet")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert sum(line.startswith("failed: ") for line in lines) == 2 and any(
        "latin1.txt is not UTF-8" in line for line in lines
    )
    assert any(line.startswith("skipped: ") and "notes.pdf" in line for line in lines)
    assert "Added 1" in proc.stdout and "2 file(s) failed, 1 skipped." in proc.stdout
    info = json.loads(qa("index", "info", "--json", "--index-dir", str(index_copy)).stdout)
    assert "harbour" in {a["id"] for a in info["articles"]}


def test_ask_file_answers_every_question_in_order_one_json_line_each(tmp_path: Path, index_copy: Path):
    questions = tmp_path / "questions.txt"
    questions.write_text(
        f"{SEED_QUESTION}\n\n"
        + json.dumps({"question": "In which city will Trump meet Putin?", "top_k": 3})
        + "\n"
        + "\u8ab0" * 300
        + "\nWho is Moscow's special envoy?\n"
    )
    proc = qa("ask", "--file", str(questions), "--index-dir", str(index_copy), "--verbose")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 3, 4, 5]
    assert "Marco Rubio" in rows[0]["answer"]["text"] and rows[1]["answer"]["text"] == "Budapest"
    assert len(rows[1]["passages"]) == 3 and "too long for the reader" in rows[2]["error"]
    assert rows[3]["answer"]["text"] == "Kirill Dmitriev"
    assert "question(s); load" in proc.stderr
    proc = qa("ask", SEED_QUESTION, "--file", str(questions), "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "not both" in one_error_line(proc)


def test_date_and_source_filters_and_the_articles_date_beside_the_answer(tmp_path: Path, index_copy: Path):
    proc = qa("ask", SEED_QUESTION, "--since", "October 1, 2025", "--index-dir", str(index_copy))
    assert proc.returncode == 0 and "Marco Rubio" in proc.stdout.splitlines()[0]
    assert "(article of 2025-10-17)" in proc.stdout  # "next week" was the week after this date
    proc = qa("ask", SEED_QUESTION, "--until", "2025-09-30", "--index-dir", str(index_copy))
    assert proc.returncode == 0 and proc.stdout.startswith("The articles don't say.")
    proc = qa("ask", SEED_QUESTION, "--source", "Nobody's Wire", "--json", "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "No article comes from Nobody's Wire" in one_error_line(proc)
    proc = qa("ask", SEED_QUESTION, "--since", "someday", "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "--since" in one_error_line(proc)

    (tmp_path / "odd.jsonl").write_text(
        json.dumps(
            {"text": "The fair opened.", "title": "Fair", "id": "fair", "date": "the week after the flood"}
        )
        + "\n"
    )
    assert (
        qa("index", "add", str(tmp_path / "odd.jsonl"), "--index-dir", str(index_copy), "--quiet").returncode
        == 0
    )
    info = qa("index", "info", "--index-dir", str(index_copy)).stdout
    assert (
        "1 article(s) with a date that could not be read (kept as written): fair ('the week after the flood')"
        in info
    )


RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>City Wire</title><link>https://wire.example.org</link><description>News</description>
<item><title>Harbour reopens in Kiel</title><link>https://wire.example.org/harbour</link><guid>wire-harbour-1</guid>
<pubDate>Mon, 03 Mar 2025 09:30:00 +0100</pubDate>
<description>&lt;p&gt;The harbour in Kiel reopened on Monday after the storm, the port authority said.&lt;/p&gt;</description></item>
<item><title>Bridge works finish</title><link>bridge.html</link><guid>wire-bridge-1</guid>
<pubDate>Tue, 04 Mar 2025 10:00:00 +0100</pubDate><description>Short teaser.</description></item>
</channel></rss>
"""
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Sports Desk</title><id>urn:desk</id><updated>2024-08-02T12:00:00Z</updated>
<entry><title>Chess olympiad</title><id>urn:desk:chess</id><updated>2024-08-01T18:00:00Z</updated>
<link href="https://desk.example.org/chess"/><content type="html">&lt;p&gt;The chess olympiad in Chennai was won by the team
from Uzbekistan, who beat Armenia in the last round.&lt;/p&gt;</content></entry></feed>
"""


def test_rss_and_atom_feeds_add_their_entries_with_dates_and_again_only_what_changed(
    tmp_path: Path, index_copy: Path
):
    (tmp_path / "news.xml").write_text(RSS)
    (tmp_path / "bridge.html").write_text(
        "<html><head><title>Bridge works finish</title></head><body><article><p>The Danube "
        "Bridge in Novi Sad was reopened on Tuesday after two years of repairs, the city "
        "said. The works cost 40 million euros.</p></article></body></html>"
    )
    (tmp_path / "desk.atom").write_text(ATOM)
    feeds = [str(tmp_path / "news.xml"), str(tmp_path / "desk.atom")]
    proc = qa("index", "add", *feeds, "--index-dir", str(index_copy), "--quiet")
    assert proc.returncode == 0 and "Added 3" in proc.stdout, proc.stderr
    info = {
        a["id"]: a
        for a in json.loads(qa("index", "info", "--json", "--index-dir", str(index_copy)).stdout)["articles"]
    }
    assert (
        info["wire-harbour-1"]["date"] == "2025-03-03T09:30+01:00"
        and info["wire-harbour-1"]["source"] == "City Wire"
    )
    assert (
        info["urn:desk:chess"]["date"] == "2024-08-01T18:00+00:00"
        and info["urn:desk:chess"]["url"] == "https://desk.example.org/chess"
    )
    proc = qa("ask", "How much did the bridge works cost?", "--index-dir", str(index_copy))
    assert (
        "40 million euros" in proc.stdout.splitlines()[0]
    )  # the full article behind the teaser, read from bridge.html

    proc = qa("index", "add", *feeds, "--index-dir", str(index_copy), "--quiet")
    assert "Added 0, updated 0, unchanged 3" in proc.stdout
    (tmp_path / "news.xml").write_text(RSS.replace("after the storm", "after the winter storm"))
    proc = qa("index", "add", *feeds, "--index-dir", str(index_copy), "--quiet")
    assert "Added 0, updated 1, unchanged 2" in proc.stdout


def test_ask_imports_neither_torch_nor_transformers_and_splits_its_seconds(index_copy: Path):
    """`qa ask` answers with the int8 graphs alone once they are cached (the first ask exports the reader)."""
    assert qa("ask", "--index-dir", str(index_copy), SEED_QUESTION).returncode == 0
    code = (
        "import json, sys; from qa.cli import main; status = main(sys.argv[1:]); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'sentence_transformers'}); "
        "print(json.dumps({'status': status, 'heavy': heavy}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "ask", "--json", "--index-dir", str(index_copy), SEED_QUESTION],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result, modules = proc.stdout.rsplit("\n{", 1)
    result, modules = json.loads(result), json.loads("{" + modules)
    assert modules == {"status": 0, "heavy": []}
    assert result["answer"]["text"].endswith("Marco Rubio")
    assert set(result["seconds"]) == {"load", "retrieval", "reading", "total"}
