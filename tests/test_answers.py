"""Pure logic of answering, on hand-made inputs: pooling overlapping spans, one answerability score,
calibrated confidence and the realistic answerability mix."""

from __future__ import annotations

import math

import pytest

from qa.answers import merge, share_confidence
from qa.articles import Article
from qa.calibration import Calibration, expected_calibration_error, fit_calibration, reliability
from qa.passages import Passage
from qa.reading import SHORT_FORM, Reading, Span, pool_overlapping
from qa.retrieval import Hit
from qa.squad import SquadExample, realistic_mix

SENTENCE = "US Secretary of State Marco Rubio will lead the talks in Budapest next week."


def test_overlapping_spans_are_one_answer_shown_in_its_short_form():
    # the short form is just likely enough against the long one to be shown (SHORT_FORM), the middle one not
    short_p = round(SHORT_FORM * 0.48 + 0.005, 4)
    long, short, middle = (0, 33, 0.48), (22, 33, short_p), (3, 33, 0.01)
    pooled = pool_overlapping([long, short, middle, (57, 65, 0.05)])
    assert SENTENCE[22:33] == "Marco Rubio" and SENTENCE[57:65] == "Budapest"
    (s, e, p, peak), other = pooled
    assert (s, e) == (22, 33) and p == pytest.approx(0.49 + short_p) and peak == 0.48
    ((s, e, _, _),) = pool_overlapping([long, (22, 33, round(SHORT_FORM * 0.48 - 0.005, 4))])
    assert (s, e) == (0, 33)  # just below SHORT_FORM: the likeliest span is shown
    assert other[:2] == (57, 65) and other[2] == pytest.approx(0.05)


def test_a_short_form_much_less_likely_than_the_long_one_is_not_shown():
    ((s, e, p, _),) = pool_overlapping([(0, 33, 0.60), (22, 33, 0.30)])
    assert (s, e) == (0, 33) and p == pytest.approx(0.90)


def test_answers_are_ranked_by_their_likeliest_span_not_their_pooled_mass():
    # B's forms add up to more than A, but no single form of B is as likely as A.
    pooled = pool_overlapping([(0, 5, 0.30), (10, 20, 0.25), (12, 20, 0.05), (10, 18, 0.05)])
    assert [x[:2] for x in pooled] == [(0, 5), (10, 20)]
    assert pooled[1][2] == pytest.approx(0.35)


def test_spans_that_only_touch_are_separate_answers():
    assert len(pool_overlapping([(0, 5, 0.5), (5, 9, 0.4)])) == 2


def hit(article: str, text: str, n: int = 0) -> Hit:
    return Hit(
        Passage(f"{article}#{n}", article, text, 0, len(text)), Article.from_text(text, id=article), 1.0
    )


def test_one_answerability_the_best_evidences_log_odds_and_its_calibrated_confidence():
    articles = {a: Article.from_text(SENTENCE, title=a.upper(), id=a) for a in ("a", "b")}
    hits = [hit("a", SENTENCE), hit("b", SENTENCE)]
    rubio = SENTENCE.index("Marco Rubio"), SENTENCE.index("Marco Rubio") + len("Marco Rubio")
    readings = [
        Reading([Span("Marco Rubio", *rubio, 0.6, 0, 0.6)], no_answer=0.3),
        Reading(
            [Span("Marco Rubio", *rubio, 0.8, 1, 0.8), Span("Budapest", 57, 65, 0.1, 1, 0.1)], no_answer=0.05
        ),
    ]
    answers = merge(readings, hits, articles)
    best = answers[0]
    assert best.text == "Marco Rubio" and [e.article_id for e in best.evidence] == ["b", "a"]
    assert best.answerability == pytest.approx(math.log(0.8 / 0.05))  # passage b's, not a pooled score
    assert best.confidence == pytest.approx(1 - 0.4 * 0.2)  # uncalibrated: passages agreeing
    calibrated = share_confidence(
        merge(readings, hits, articles, confidence=Calibration([0.0, 3.0], [0.1, 0.9]))
    )
    best_confidence = 0.1 + 0.8 * math.log(16) / 3  # interpolated between the knots
    assert calibrated[0].confidence == pytest.approx(best_confidence)
    # Budapest's own calibrated value (0.28) would claim more than the best answer leaves (0.16): it gets what is left.
    assert calibrated[1].text == "Budapest" and calibrated[1].confidence == pytest.approx(1 - best_confidence)
    assert sum(a.confidence for a in calibrated) <= 1 + 1e-9


def test_calibration_fits_a_monotone_map_and_scores_its_own_error():
    scores = [-5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6]
    right = [0, 0, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1]
    cal = fit_calibration(scores, right)
    values = [cal(x) for x in range(-8, 9)]
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0
    assert Calibration.from_dict(cal.to_dict()) is not None
    assert Calibration.from_dict({"x": [1, 0], "y": [0.2, 0.1]}) is None  # not ascending
    assert Calibration.from_dict({"x": [0, 1], "y": [0.2, 1.5]}) is None  # not probabilities
    assert Calibration.from_dict(None) is None
    # Half of the answers shown at 0.5 are right, all at 0.95: perfectly calibrated but for 0.05.
    assert expected_calibration_error([0.5, 0.5, 0.95, 0.95], [1, 0, 1, 1]) == pytest.approx(0.025)
    assert [r["count"] for r in reliability([0.05, 0.5, 0.55, 0.99], [0, 1, 0, 1])] == [1, 2, 1]


def example(title: str, n: int, context: str, answer: str | None) -> SquadExample:
    answers = [answer] if answer else []
    return SquadExample(
        f"{title}{n}", title, f"question {n}?", context, answers, [context.find(answer)] if answer else []
    )


def test_the_realistic_mix_pairs_each_answerable_question_with_one_true_unanswerable_twin():
    examples = [
        example("Rome", 0, "Rome is in Italy.", "Italy"),
        example("Rome", 1, "The Tiber flows to the sea.", "the sea"),
        example("Rome", 2, "Rome has seven hills.", None),
        example("Oslo", 3, "Oslo is in Norway.", "Norway"),
        example("Oslo", 4, "Norway's fjords.", "Norway"),
    ]
    mixed, kinds = realistic_mix(examples, seed=1)
    # The SQuAD 2.0 unanswerable is dropped. Every second question's twin comes from its own article where a paragraph
    # lacks the answer (Rome's second question); Oslo's paragraphs all say "Norway", so its twins come from Rome.
    assert (
        kinds
        == ["answerable", "other-article", "answerable", "same-article"] + ["answerable", "other-article"] * 2
    )
    for e, kind in zip(mixed, kinds):
        source = next(x for x in examples if x.question == e.question)
        if kind == "answerable":
            assert e == source
            continue
        assert e.is_impossible and source.answers[0].lower() not in e.context.lower()
        assert e.context != source.context and e.id == f"{source.id}/{kind}"
        assert (e.context in {x.context for x in examples if x.title == source.title}) == (
            kind == "same-article"
        )


def test_answer_spans_never_cross_a_line_break():
    from qa.reading import within_lines

    text = "Season two\n\nThe show is green lit for a second season.\n\u201cAnd now, Bob returns\u201d"
    heading, sentence = (0, 10), (12, 54)
    crossing = (12, text.index("returns") + 7)  # from the sentence into the next paragraph
    spans = [(*heading, 0.2), (*sentence, 0.3), (*crossing, 0.4), (0, 20, 0.1)]
    assert within_lines(text, spans) == [(*heading, 0.2), (*sentence, 0.3)]


def test_a_span_inside_an_opening_dateline_is_no_answer():
    text = "NEW YORK (AP) — The Federal Reserve raised rates on Wednesday, Jerome Powell said."
    articles = {"a": Article.from_text(text, id="a")}
    place = (0, len("NEW YORK")), (text.index("Jerome"), text.index(" said"))
    reading = Reading(
        [Span("NEW YORK", *place[0], 0.5, 0, 0.5), Span("Jerome Powell", *place[1], 0.3, 0, 0.3)],
        no_answer=0.1,
    )
    assert [a.text for a in merge([reading], [hit("a", text)], articles)] == ["Jerome Powell"]


def test_a_span_inside_a_photo_credit_is_no_answer():
    text = "Pope Benedict XVI was laid to rest on Thursday. Alessandra Tarantino/AP"
    articles = {"a": Article.from_text(text, id="a")}
    credit, pope = (text.index("Alessandra"), text.index("/AP")), (0, len("Pope Benedict XVI"))
    reading = Reading(
        [Span("Alessandra Tarantino", *credit, 0.5, 0, 0.5), Span("Pope Benedict XVI", *pope, 0.3, 0, 0.3)],
        no_answer=0.1,
    )
    assert [a.text for a in merge([reading], [hit("a", text)], articles)] == ["Pope Benedict XVI"]
