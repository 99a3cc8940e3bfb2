"""The news desk's view of a search (qa.desk): grouping by article, snippets, sorting, facets; pure logic on
hand-made hits."""

from __future__ import annotations

import pytest

from qa.articles import Article
from qa.desk import facets, group_by_article, mark_stories, snippet
from qa.errors import InputError
from qa.passages import Hit, Passage


def hit(article_id: str, date: str | None, source: str | None, text: str, score: float) -> Hit:
    article = Article(article_id, f"Title {article_id}", "", date, source)
    return Hit(Passage(f"{article_id}-{score}", article_id, text, 0, len(text)), article, score)


HITS = [
    hit("a", "2025-03-02", "Wire", "The harbour in Kiel reopened on Monday after the storm.", 0.9),
    hit("b", "2025-03-05", "Gazette", "Kiel's harbour master said the ferries run again.", 0.8),
    hit("a", "2025-03-02", "Wire", "Repairs to the harbour wall will take a month.", 0.7),
    hit("c", None, None, "A storm hit the coast.", 0.6),
]


def test_passages_are_grouped_by_article_in_the_order_of_their_best():
    groups = group_by_article(HITS, "When did the harbour in Kiel reopen?")
    assert [g["article_id"] for g in groups] == ["a", "b", "c"]
    assert [p["score"] for p in groups[0]["passages"]] == [0.9, 0.7]
    assert groups[0]["passages"][0]["snippet"] == (
        "The <mark>harbour</mark> in <mark>Kiel</mark> reopened on Monday after the storm."
    )


def test_sorting_by_date_puts_the_newest_first_and_undated_last():
    assert [g["article_id"] for g in group_by_article(HITS, "harbour", "date")] == ["b", "a", "c"]
    with pytest.raises(InputError, match="sort must be one of relevance, date"):
        group_by_article(HITS, "harbour", "alphabet")


def test_facets_count_articles_by_source_and_day_and_say_what_has_neither():
    counted = facets(group_by_article(HITS, "harbour"))
    assert counted["sources"] == [{"source": "Gazette", "articles": 1}, {"source": "Wire", "articles": 1}]
    assert counted["days"] == [{"day": "2025-03-02", "articles": 1}, {"day": "2025-03-05", "articles": 1}]
    assert counted["undated"] == 1 and counted["no_source"] == 1
    assert facets([]) == {"sources": [], "days": [], "stories": 0, "undated": 0, "no_source": 0}  # none found


def test_a_snippet_is_escaped_cut_around_the_first_match_and_marks_only_the_querys_words():
    text = "word " * 200 + "<b>Kiel</b> harbour reopened. " + "more " * 200
    shown = snippet(text, {"kiel"})
    assert "<mark>Kiel</mark>" in shown and "&lt;b&gt;" in shown and "<b>" not in shown
    assert shown.startswith("…") and shown.endswith("…") and len(shown) < 400
    assert snippet("Nothing here.", {"kiel"}) == "Nothing here."


def test_articles_that_share_a_story_band_are_one_story_led_by_the_best_placed():
    groups = group_by_article(
        [*HITS, hit("d", "2025-03-06", "Herald", "Ferries to Kiel are back.", 0.5)], "harbour Kiel"
    )
    # b shares a band with a; d shares another band with b (so, through b, with a); c tells its own story
    mark_stories(
        groups, {"a": frozenset({1}), "b": frozenset({1, 7}), "d": frozenset({7}), "c": frozenset({3})}
    )
    assert {g["article_id"]: g["story"] for g in groups} == {"a": "a", "b": "a", "c": "c", "d": "a"}
    assert groups[0]["same_story"] == ["b", "d"] and groups[2]["same_story"] == []
    assert facets(groups)["stories"] == 2


def test_an_article_without_bands_is_a_story_of_its_own():
    groups = group_by_article(HITS, "harbour")
    mark_stories(groups, {})
    assert [g["story"] for g in groups] == ["a", "b", "c"] and facets(groups)["stories"] == 3


def test_the_page_shows_a_story_once_with_its_other_articles_named_under_it():
    from ui.desk_page import render_results

    groups = group_by_article(HITS, "harbour")
    mark_stories(groups, {"a": frozenset({1}), "b": frozenset({1})})
    shown = render_results({"articles": groups, "facets": facets(groups), "sort": "relevance"})
    assert shown.count("class='result'") == 2 and "3 articles (2 stories)" in shown
    assert "Same story: <span data-id='b'>Title b (2025-03-05 · Gazette)</span>" in shown


def test_a_drag_across_the_date_histogram_covers_the_days_whose_bars_it_spans():
    from ui.desk_page import days_brushed

    day = 86_400
    oct_14 = 20_375 * day  # 2025-10-14, midnight UTC, where its bar stands
    assert days_brushed(oct_14 + 0.3 * day, oct_14 + 1.7 * day) == ("2025-10-15", "2025-10-15")
    assert days_brushed(oct_14 - 0.1 * day, oct_14 + 3.1 * day) == ("2025-10-14", "2025-10-17")
    assert days_brushed(oct_14 + 2.9 * day, oct_14 - 0.2 * day) == ("2025-10-14", "2025-10-17")  # either way
    assert days_brushed(oct_14 + 0.4 * day, oct_14 + 0.6 * day) == (
        "2025-10-15",
        "2025-10-15",
    )  # between bars
