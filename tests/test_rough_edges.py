"""Rough edges a new user hit (issue 41), each reproduced before its fix; the CLI in-process (qa.cli.main)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.articles import read_text_file, title_of_name
from qa.cli import main

pytestmark = pytest.mark.slow


def test_ask_help_is_true_to_the_learned_ranker(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main(["ask", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "instead of the learned answer ranker" in text
        and "by default the ranker's confidence decides" in text
    )


@pytest.mark.parametrize(
    "stem, title",
    [
        ("trump-putin-budapest-summit", "Trump putin budapest summit"),
        ("Trump-Putin-Budapest-summit", "Trump Putin Budapest summit"),
        ("NATO_summit  notes", "NATO summit notes"),
    ],
)
def test_a_title_from_a_file_name_keeps_its_letters(stem: str, title: str):
    assert title_of_name(stem) == title


def test_the_seed_article_has_a_title_of_its_own():
    seed = Path(__file__).resolve().parent.parent / "seeds" / "trump-putin-budapest-summit.txt"
    assert read_text_file(seed).title == "Trump plans to meet Putin in Budapest"


def test_watch_once_fails_like_index_add(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "good.txt").write_text("Ferry news\n\nThe ferry to Kiel runs again since Tuesday.")
    (drop / "bad.txt").write_bytes(b"\xff\xfe not UTF-8 \xff")
    (drop / "broken.jsonl").write_text("{broken\n")
    (drop / "scan.pdf").write_bytes(b"%PDF-1.4")
    code = main(["watch", "--once", str(drop), "--index-dir", str(tmp_path / "index")])
    err = capsys.readouterr().err + caplog.text  # its log lines, and the error line
    assert code == 1 and "2 file(s) or feed(s)" in err, err
    assert "bad.txt: failed" in err and "broken.jsonl: failed" in err and "scan.pdf: skipped" in err


def test_remove_names_an_unknown_article_in_quotes(seed_index: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["index", "remove", "no such article", "--index-dir", str(seed_index)])
    assert code == 2 and "'no such article'" in capsys.readouterr().err


def test_the_library_is_told_in_words():
    from qa.articles import Article
    from ui.app import library_in_words

    articles = [
        Article("a", "A", "x", "2024-01-02", "CNN"),
        Article("b", "B", "x", "2024-02-28T10:00:00+00:00", "cnn "),
        Article("c", "C", "x", None, "USA Today"),
    ]
    assert library_in_words(articles) == "3 articles from 2 sources, 2 Jan 2024 – 28 Feb 2024 (1 undated)."
    assert library_in_words(articles[:1]) == "1 article from 1 source, 2 Jan 2024."
    assert library_in_words([]).startswith("The library is empty")


def test_a_jsonl_id_is_kept_as_given_and_the_same_record_stored_under_its_older_slug_moves_to_it(
    tmp_path: Path,
):
    import dataclasses
    import json

    from qa.articles import load_articles, slug
    from qa.engine import Engine

    given = "https://www.usatoday.com/story/news/2025/10/17/harbour story/"
    feed = tmp_path / "news.jsonl"
    feed.write_text(
        json.dumps({"id": given, "title": "Harbour reopens", "date": "2025-10-17", "text": "The harbour of Kiel "
                    "reopened on Monday after the storm, the port authority said."}) + "\n"
    )  # fmt: skip
    (article,) = load_articles([feed])
    assert article.id == given  # stored and shown as given: spaces, slashes and all
    engine = Engine.create(tmp_path / "index")
    engine.add_articles([dataclasses.replace(article, id=slug(given))])  # as an index made before 2026-12-07
    report = engine.add([feed])
    assert [a.id for a in engine.articles(text=False)] == [given] and report.old_ids == [slug(given)]
    assert "older form of their id" in report.describe() and report.added == 1
    assert engine.add([feed]).unchanged == 1  # once moved, adding the file again changes nothing
    answer = engine.ask("When did the harbour of Kiel reopen?", always_answer=True).best
    assert answer is not None and answer.citation.article_id == given
    too_long = tmp_path / "long.jsonl"
    too_long.write_text(json.dumps({"id": "x" * 1001, "text": "Some text."}) + "\n")
    with pytest.raises(Exception, match="has an id of 1,001 characters; keep ids under 1000"):
        load_articles([too_long])
