"""Graded answers (issue 39): an answer, a likely answer, or the articles don't say — in the Result, its JSON,
the CLI's text, the API's and MCP's view and the page's card. Pure logic on hand-made answers."""

from __future__ import annotations

import numpy as np

from qa.answer_ranking import FEATURES, AnswerRanker
from qa.answers import Answer, Evidence, Result
from qa.tools import answer_view
from ui.app import render_answer

SENTENCE = "The door panel blew out on Alaska Airlines flight 1282 shortly after take-off."


def answer(text: str, confidence: float) -> Answer:
    start = SENTENCE.index(text)
    evidence = Evidence(
        "door", "Door plug", "2024-01-06", "Wire", None, "door:0", SENTENCE, 0, start, start + len(text),
        SENTENCE, 0, len(SENTENCE), 0.4, 0.5, 0.1,
    )  # fmt: skip
    return Answer(text, confidence, [evidence])


def result(confident: bool, likely: bool, always: bool = False) -> Result:
    answers = [answer("Alaska Airlines", 0.22), answer("flight 1282", 0.05)]
    return Result(
        "Which airline's door panel blew out?",
        confident or always,
        answers,
        confident=confident,
        likely=answers[0] if likely else None,
        seconds={"total": 0.1},
    )


def test_the_three_tiers_and_the_guess():
    assert result(True, False).tier == "answer"
    assert result(False, True).tier == "likely" and result(False, True).best is None
    assert result(False, False).tier == "none"
    assert result(False, False, always=True).tier == "guess" and result(False, False, always=True).best


def test_a_likely_answer_reads_as_probably_with_its_sentence():
    text = result(False, True).describe()
    assert text.startswith("Probably Alaska Airlines (22%)") and "don't say it for sure" in text
    assert SENTENCE in text
    data = result(False, True).to_dict()
    assert data["tier"] == "likely" and data["answer"] is None and data["likely"]["text"] == "Alaska Airlines"


def test_the_api_view_names_the_tier_and_keeps_answer_for_confident_answers_only():
    view = answer_view(result(False, True))
    assert view["tier"] == "likely" and view["answer"] is None and view["says"]
    assert view["likely"]["text"] == "Alaska Airlines" and view["likely"]["citation"]["sentence"] == SENTENCE
    assert [o["text"] for o in view["other_answers"]] == ["flight 1282"]
    view = answer_view(result(True, False))
    assert view["tier"] == "answer" and view["answer"] == "Alaska Airlines" and view["likely"] is None


def test_the_page_shows_probably_and_no_candidates_without_a_first_one():
    card, others = render_answer(result(False, True).to_dict())
    assert (
        "Probably <b class='likely-text'>Alaska Airlines</b>" in card
        and "<mark>Alaska Airlines</mark>" in card
    )
    assert "data-tier='likely'" in card and "flight 1282" in others
    card, others = render_answer(result(False, False).to_dict())
    assert "The articles don't say." in card and others == "" and "Answered in" not in card
    assert "Searched in" in card


def test_the_ranker_shows_likely_between_its_two_thresholds():
    ranker = AnswerRanker(np.zeros(len(FEATURES)), 0.0, threshold=0.6, info={}, likely_threshold=0.2)
    assert ranker.gives(answer("Alaska Airlines", 0.6)) and not ranker.gives(answer("Alaska Airlines", 0.59))
    assert ranker.likely(answer("Alaska Airlines", 0.2)) and not ranker.likely(
        answer("Alaska Airlines", 0.19)
    )
    assert not AnswerRanker(np.zeros(len(FEATURES)), 0.0, 0.6, {}).likely(answer("Alaska Airlines", 0.5))
