"""Asking as of a day: nothing published after it is searched, through the API, the CLI and the page's API
(issue 28), on the evolving fictional story in tests/data (three harbour masters in a row)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
from conftest import ROOT
from test_cli import one_error_line, qa

from qa.engine import Engine
from qa.errors import InputError
from qa.retrieval import Filters

pytestmark = pytest.mark.slow

STORY = ROOT / "tests" / "data" / "evolving-story.jsonl"
QUESTION = "Who is the harbour master of Northport?"


@pytest.fixture(scope="module")
def story_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("story") / "index"
    Engine.build([STORY], path)
    return path


def cited_dates(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {h.article.date for h in result.passages} | {e.date for a in result.answers for e in a.evidence}


def test_asked_as_of_a_day_nothing_published_later_is_searched(story_index: Path):
    engine = Engine.open(story_index)
    for as_of, allowed in (("2024-03-01", {"2024-01-10"}), ("2024-12-31", {"2024-01-10", "2024-06-02"})):
        result = engine.ask(QUESTION, as_of=as_of, always_answer=True)
        assert result.asked_as_of == as_of and cited_dates(result) <= allowed, cited_dates(result)
        assert result.to_dict()["asked_as_of"] == as_of and f"Asked as of {as_of}" in result.describe()
    early = engine.ask(QUESTION, as_of=datetime.date(2024, 3, 1))
    assert early.answered and early.best.text == "Anna Berg"
    assert engine.ask(QUESTION, as_of="2023-12-31").passages == []  # nothing published yet
    assert engine.ask(QUESTION).asked_as_of is None


def test_as_of_is_refused_in_one_line_when_it_is_not_a_day(story_index: Path):
    engine = Engine.open(story_index)
    for bad in ("2024-13-01", "soon", "2024-02", 20240101):
        with pytest.raises(InputError):
            engine.ask(QUESTION, as_of=bad)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="not a day"):
        Filters(as_of="2024-02")


def test_excluded_articles_are_never_searched(story_index: Path):
    engine = Engine.open(story_index)
    hits = engine.search(
        QUESTION, top_k=5, filters=Filters(exclude=["northport-2025-02", "northport-2024-06"])
    )
    assert hits and {h.passage.article_id for h in hits} <= {"northport-2024-01", "northport-bakery"}


def test_the_cli_and_the_page_api_ask_as_of_a_day(story_index: Path):
    proc = qa("ask", QUESTION, "--as-of", "2024-03-01", "--json", "--index-dir", str(story_index))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["asked_as_of"] == "2024-03-01" and out["answer"]["text"] == "Anna Berg"
    assert all(p["date"] <= "2024-03-01" for p in out["passages"])
    proc = qa("ask", QUESTION, "--as-of", "2024-02-30", "--index-dir", str(story_index))
    assert proc.returncode == 2 and "date" in one_error_line(proc)

    from qa.config import Config
    from ui.app import PageService

    service = PageService(story_index, Config(), 1)
    answer = service.ask(QUESTION, as_of="1 March 2024", remember=False)
    assert answer["asked_as_of"] == "2024-03-01" and answer["answer"]["text"] == "Anna Berg"


def test_ask_file_answers_the_good_lines_reports_the_malformed_and_reads_as_of(
    tmp_path: Path, story_index: Path
):
    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps({"question": QUESTION, "as_of": "2024-03-01"})
        + "\n{not json\n"
        + json.dumps({"prompt": "no question here"})
        + "\n"
        + json.dumps({"question": QUESTION, "as_of": "2024-12-31"})
        + "\n"
    )
    proc = qa("ask", "--file", str(questions), "--index-dir", str(story_index))
    assert proc.returncode == 1 and "2 line(s)" in one_error_line(proc)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["answer"]["text"] == "Anna Berg" and rows[0]["asked_as_of"] == "2024-03-01"
    assert "not valid JSON" in rows[1]["error"] and '"question"' in rows[2]["error"]
    assert rows[3]["asked_as_of"] == "2024-12-31" and all(
        p["date"] <= "2024-12-31" for p in rows[3]["passages"]
    )


def test_sources_match_without_case_and_an_unknown_one_lists_the_known(story_index: Path):
    engine = Engine.open(story_index)
    hits = engine.search(QUESTION, top_k=5, filters=Filters(sources=["northport GAZETTE"]))
    assert hits and {h.article.source for h in hits} == {"Northport Gazette"}
    with pytest.raises(InputError, match="the sources in the index are: Coast Daily, Northport Gazette"):
        engine.ask(QUESTION, filters=Filters(sources=["Harbour Herald"]))


def test_a_date_filter_says_how_many_undated_articles_it_left_out(tmp_path: Path, story_index: Path):
    import shutil

    from qa.articles import Article

    index = tmp_path / "index"
    shutil.copytree(story_index, index)
    engine = Engine.open(index)
    engine.add_articles([Article("undated", "Harbour note", "The harbour master of Northport is Ola Berg.")])
    result = engine.ask(QUESTION, filters=Filters(date_from="2024-01-01"), always_answer=True)
    assert (
        result.left_out == {"undated": 1}
        and "left out 1 article(s) without a readable date" in result.describe()
    )
    assert (
        engine.ask(QUESTION, as_of="2025-12-31").left_out == {}
    )  # asking as of a day keeps undated articles
