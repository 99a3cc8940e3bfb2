"""The answer's expected type and the time a question and a sentence speak of (qa.answer_types,
qa.dates): pure logic on hand-made questions and sentences, with GeoNames' real lists."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from qa.answer_types import candidate_types, expected_type, type_fit
from qa.dates import outside, question_window, sentence_windows


def day(text: str) -> int:
    return datetime.date.fromisoformat(text).toordinal()


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Which country became the third in Asia to legalise same-sex marriage?", "country"),
        ("Which U.S. state was struck by 32 tornadoes?", "us_state"),
        ("A midair collision occurred this week near which city?", "city"),
        ("Which airline operated the flight whose door panel blew out?", "organisation"),
        ("Which member of President Trump's Cabinet said it?", "person"),
        ("Who won the Super Bowl MVP?", "person"),
        ("How many people died in the fire?", "number"),
        ("In what year did the bridge open?", "year"),
        ("Where did the incident take place?", "place"),
        ("What is the official deadline for most Americans to file their taxes?", None),
        ("What genre of music does the band play?", None),
    ],
)
def test_the_expected_type_comes_from_the_question(question: str, kind: str | None):
    assert expected_type(question) == kind


def test_candidates_are_typed_from_real_lists_and_their_shape():
    assert {"country", "place"} <= candidate_types("Thailand")
    assert {"country", "us_state"} <= candidate_types("Georgia")  # both, as the lists say
    assert "us_state" in candidate_types("Mississippi") and "city" in candidate_types("Las Vegas")
    assert "country" in candidate_types("the U.S.")
    assert candidate_types("Marco Rubio") == {"person"}
    assert candidate_types("Alaska Airlines") == {"organisation"}
    assert {"number", "date"} <= candidate_types("Feb. 24") and "year" in candidate_types("2024")
    assert "number" in candidate_types("1,200") and candidate_types("a new tariff") == set()


def test_type_fit_says_match_or_plain_mismatch_only_where_the_type_is_known():
    assert type_fit("country", "Thailand") == (1.0, 0.0)
    assert type_fit("country", "Molotov cocktails") == (0.0, 1.0)  # a closed list: not in it is a mismatch
    assert type_fit("person", "Marco Rubio") == (1.0, 0.0)
    assert type_fit("person", "1,200") == (0.0, 1.0)
    assert type_fit("person", "a new tariff") == (0.0, 0.0)  # untyped: not plainly another type
    assert type_fit(None, "Thailand") == (0.0, 0.0)


def test_a_questions_time_words_become_a_window_of_days_from_the_day_asked():
    assert question_window("Which state held a primary this week?", "2024-02-09") == (
        day("2024-02-01"),
        day("2024-02-09"),
    )
    assert question_window("Which holiday is celebrated this month?", "2024-02-09") == (
        day("2024-02-01"),
        day("2024-02-29"),
    )
    assert question_window("What happened yesterday?", "2024-03-01") == (day("2024-02-28"), day("2024-02-29"))
    assert question_window("Who won the 1998 final?", "2024-02-09") is None
    assert question_window("Who won this week?", None) is None


def test_a_sentences_times_are_read_against_its_articles_date():
    assert sentence_windows("Holi falls on March 25 this year.", "2024-02-07") == [(day("2024-03-25"),) * 2]
    assert sentence_windows("The primary is next month.", "2024-01-20") == [
        (day("2024-02-01"), day("2024-02-29"))
    ]
    assert sentence_windows("The vote in December was close.", "2025-01-03") == [
        (day("2024-12-01"), day("2024-12-31"))
    ]
    assert sentence_windows("Officials may decide later.", "2024-02-07") == []  # "may" alone is the verb
    assert sentence_windows("It opens on Feb. 24.", None) == []


def test_outside_marks_a_sentence_about_another_time_than_the_question_asks():
    february = question_window("Which holiday is celebrated this month?", "2024-02-09")
    assert outside(february, sentence_windows("Holi falls on March 25.", "2024-02-07")) == (0.0, 1.0)
    assert outside(february, sentence_windows("Lunar New Year fell on Feb. 10.", "2024-02-07")) == (1.0, 0.0)
    assert outside(february, []) == (0.0, 0.0)  # the sentence names no time: nothing to say
    assert outside(None, sentence_windows("Holi falls on March 25.", "2024-02-07")) == (0.0, 0.0)


def test_answer_features_read_type_and_time_into_their_columns():
    from qa.answer_ranking import FEATURES, answer_features
    from qa.answers import Answer, Evidence

    def answer(text: str, sentence: str) -> Answer:
        e = Evidence(
            "a", "t", "2024-02-07", None, None, "p", sentence, 0, 0, 1, sentence, 0, 1, 0.5, 0.1, 1.0
        )
        return Answer(text, 0.5, [e], 1.0)

    rows = answer_features(
        "Which country celebrates a holiday this month?",
        [
            answer("India", "India celebrates Holi on March 25."),
            answer("a parade", "A parade was held on Feb. 4."),
        ],
        {},
        "2024-02-09",
    )
    column = {name: rows[:, i] for i, name in enumerate(FEATURES)}
    assert np.array_equal(column["type_match"], [1.0, 0.0]) and np.array_equal(
        column["type_other"], [0.0, 1.0]
    )
    assert np.array_equal(column["time_outside"], [1.0, 0.0]) and np.array_equal(
        column["time_inside"], [0.0, 1.0]
    )
    assert column["sentence_overlap"][0] > 0  # "celebrates", "holiday"? at least "celebrates"


def test_how_a_question_was_read_is_one_line_for_verbose():
    from qa.dates import how_read

    line = how_read("Which country hosts the summit this month?", "2024-02-09", "country")
    assert (
        line
        == "Read as: wants a country; its time words name 2024-02-01 to 2024-02-29 (asked as of 2024-02-09)."
    )
    assert how_read("What was said?", "2024-02-09", None) == (
        "Read as: its words name no answer type; no time words to read against 2024-02-09."
    )


def test_without_a_day_asked_time_words_are_read_against_the_newest_article_found():
    from qa.articles import Article
    from qa.assembly import newest_day
    from qa.dates import how_read
    from qa.passages import Passage
    from qa.retrieval import Hit

    def hit(date: str | None) -> Hit:
        article = Article(f"a{date}", "t", "Some text.", date)
        return Hit(Passage(f"p{date}", article.id, "Some text.", 0, 10), article, 1.0)

    assert newest_day([hit("2025-10-17"), hit(None), hit("2025-10-02")]) == "2025-10-17"
    assert newest_day([hit(None)]) is None
    assert how_read("Who won this week?", None, "person") == (
        "Read as: wants a person; no dated article to read its time words against."
    )
