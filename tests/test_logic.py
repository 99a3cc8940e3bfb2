"""Fast unit tests of the pure logic, on hand-made inputs and without models, so that a failure names the
function that broke: span decoding, fusion, story folding, recency and timeline, duplicate detection,
calibration fitting and the training time budget."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qa.answers import Answer, Evidence, prefer_recent, recency_for, timeline
from qa.articles import Article
from qa.boilerplate import in_apparatus, inline_credits, is_boilerplate, opening_datelines
from qa.calibration import Calibration, expected_calibration_error, fit_calibration
from qa.duplicates import BANDS, Stories, band_keys, signature
from qa.fusion import fuse
from qa.passages import Passage, split_passages
from qa.reading import decode_window
from qa.retrieval import Hit, Retriever
from qa.training import cpu_has_native_bf16, steps_within_budget

# ----- span decoding -------------------------------------------------------------------------------


def logits(size: int, peaks: dict[int, float]) -> np.ndarray:
    out = np.zeros(size, dtype=np.float32)
    for at, value in peaks.items():
        out[at] = value
    return out


def test_decode_window_finds_the_peak_span_and_the_no_answer_probability():
    context = np.array(
        [False, False, True, True, True, True, True, False]
    )  # [CLS] question | 5 tokens | [SEP]
    start, end = logits(8, {3: 8.0}), logits(8, {5: 8.0})
    spans, null = decode_window(start, end, context, max_answer_tokens=30, top_n=3)
    assert spans[0][:2] == (3, 5)
    probabilities = [p for _, _, p in spans]
    assert probabilities == sorted(probabilities, reverse=True) and 0.9 < probabilities[0] <= 1.0
    # [CLS] holds almost nothing: logit 0 (like 4 other tokens) against one of 8, on both ends
    assert null == pytest.approx((1 / (5 + math.exp(8))) ** 2, rel=1e-4)


def test_decode_window_keeps_spans_inside_the_context_in_order_and_short_enough():
    context = np.array([False, False, True, True, True, True, True, True, False])
    start = logits(9, {0: 20.0, 1: 30.0, 7: 5.0, 2: 4.0})  # the question token 1 and [CLS] are never starts
    end = logits(9, {8: 30.0, 2: 6.0, 6: 5.0, 7: 1.0})
    spans, _ = decode_window(start, end, context, max_answer_tokens=3, top_n=20)
    assert spans and all(2 <= s <= e <= 7 and e - s < 3 for s, e, _ in spans)
    assert (7, 2, spans[0][2]) not in spans  # an end before its start is no span
    assert spans[0][:2] == (2, 2)


def test_decode_window_with_no_context_has_only_no_answer():
    spans, null = decode_window(logits(4, {0: 2.0}), logits(4, {0: 2.0}), np.zeros(4, bool), 30, 5)
    assert spans == [] and null == pytest.approx(1.0)


# ----- fusion and folding ----------------------------------------------------------------------------


def test_fuse_ranks_by_reciprocal_rank_and_keeps_each_sides_rank():
    dense = [(1, 0.9), (2, 0.8), (3, 0.7)]
    sparse = [(3, 12.0), (4, 9.0)]
    fused = fuse(dense, sparse, rrf_k=60)
    assert [i for i, *_ in fused] == [3, 1, 2, 4]  # 3 is found by both; 1 is first of dense
    assert fused[0] == (3, pytest.approx(1 / 63 + 1 / 61), 2, 0)
    assert fused[-1][2:] == (None, 1)


def test_fuse_breaks_equal_ranks_by_the_surer_side():
    # A is first in dense by a wide margin, B first in BM25 by a narrow one: equal RRF, A wins.
    dense = [(1, 0.9), (2, 0.3)]
    sparse = [(2, 10.0), (1, 9.9)]
    assert [i for i, *_ in fuse(dense, sparse, rrf_k=60)] == [1, 2]
    assert [i for i, *_ in fuse([(1, 0.9), (2, 0.89)], [(2, 10.0), (1, 2.0)], rrf_k=60)] == [2, 1]


def test_one_passage_per_story_in_rank_order():
    def hit(article: str, copy_of: str | None, n: int) -> Hit:
        passage = Passage(f"{article}:{n}", article, "text", 0, 4)
        return Hit(passage, Article(article, article, "text", copy_of=copy_of), 1.0 / (n + 1))

    hits = [hit("wire", None, 0), hit("reprint", "wire", 1), hit("other", None, 2), hit("wire", None, 3)]
    kept = Retriever(None, None)._one_per_story(hits, top_k=5)  # type: ignore[arg-type]
    assert [h.passage.id for h in kept] == ["wire:0", "other:2", "wire:3"]
    assert [h.passage.id for h in Retriever(None, None)._one_per_story(hits, 1)] == ["wire:0"]  # type: ignore[arg-type]


# ----- recency and timeline -------------------------------------------------------------------------


def answer(text: str, answerability: float, date: str | None) -> Answer:
    evidence = Evidence(
        "a-" + text,
        "t",
        date,
        None,
        None,
        "p",
        "passage",
        0,
        0,
        len(text),
        text,
        0,
        len(text),
        0.5,
        0.1,
        answerability,
    )
    return Answer(text, 0.5, [evidence], answerability)


def test_prefer_recent_moves_only_plausible_answers_and_only_when_asked():
    older, newer, weak = (
        answer("Ana", 3.0, "2025-01-01"),
        answer("Ben", 2.0, "2025-03-02"),
        answer("Cy", -9, "2025-06-01"),
    )
    answers = [older, newer, weak]
    assert prefer_recent(answers, 0.0, threshold=0.0) == answers
    assert [a.text for a in prefer_recent(answers, 2.0, threshold=0.0)] == [
        "Ben",
        "Ana",
        "Cy",
    ]  # 60 days: -4 points
    assert [a.text for a in prefer_recent(answers, 0.1, threshold=0.0)] == [
        "Ana",
        "Ben",
        "Cy",
    ]  # -0.2: not enough
    undated = answer("Dee", 3.5, None)  # counts as old as the oldest dated answer: 4 points down, like Ana
    assert [a.text for a in prefer_recent([undated, older, newer], 2.0, 0.0)] == ["Ben", "Dee", "Ana"]


def test_recency_for_the_present_only_by_default():
    assert recency_for("Who is the current prime minister?", None) == 2.0
    assert recency_for("Who won the 1998 final?", None) == 0.0
    assert recency_for("Who won the 1998 final?", 0.5) == 0.5


def test_timeline_lists_other_dated_plausible_answers_newest_first():
    best = answer("Ana", 3.0, "2025-01-01")
    others = [
        answer("Ben", 1.0, "2025-02-01"),
        answer("ana", 2.0, "2025-03-01"),
        answer("Cy", 0.5, "2025-04-01"),
        answer("Dee", -5.0, "2025-05-01"),
        answer("Eve", 1.0, None),
    ]
    one_story = {f"a-{name}": frozenset({1}) for name in ("Ana", "Ben", "ana", "Cy", "Dee", "Eve", "Zed")}
    assert [a.text for a in timeline([best, *others], 0.0, one_story)] == ["Cy", "Ben"]
    assert timeline([], 0.0) == []
    same_day = answer(
        "Zed", 2.5, "2025-01-01"
    )  # a competing span of the best answer's own day: no change of story
    assert [a.text for a in timeline([best, same_day, *others], 0.0, one_story)] == ["Cy", "Ben"]
    assert timeline([answer("Ana", 3.0, None), *others], 0.0, one_story) == []  # undated: no day to compare


def told(text: str, date: str, sentence: str, article: str) -> Answer:
    a = answer(text, 1.0, date)
    a.evidence[0].sentence, a.evidence[0].article_id = sentence, article
    return a


def test_timeline_holds_only_answers_of_the_same_type_from_the_same_story():
    question = "Who is the current harbour master of Northport?"
    best = told("Mia Sand", "2025-02-20", "Mia Sand became Northport's harbour master on Monday.", "c")
    earlier = told("Lars Holm", "2024-06-02", "Northport appointed Lars Holm as its new harbour master.", "b")
    elsewhere = told("Travis Kelce", "2024-03-01", "Travis Kelce caught two passes on Sunday.", "x")
    a_thing = told(
        "the ferry berths", "2024-01-10", "The harbour master of Northport oversees the ferry berths.", "a"
    )
    found = [best, earlier, elsewhere, a_thing]
    assert [a.text for a in timeline(found, 0.0, {}, question)] == ["Lars Holm"]
    # a republished copy (a shared story band key) is the same story whatever its words
    stories = {"c": frozenset({7}), "x": frozenset({7, 9})}
    assert [a.text for a in timeline(found, 0.0, stories, question)] == ["Lars Holm", "Travis Kelce"]
    assert timeline(found, 0.0, {}, "Who?") == []  # no words of the question to tell the story by


# ----- duplicate detection ----------------------------------------------------------------------------

STORY = (
    "The city council of Tallinn voted on Tuesday to build a new tram line from the harbour to the airport, "
    "a project estimated at 90 million euros that will take four years. The mayor said the first trams would "
    "run in 2029 and that tickets would cost the same as on the existing lines. Opponents argued the money "
    "should go to buses in the suburbs, where most commuters live, and promised to fight the plan in court."
)


def test_copies_of_one_story_are_grouped_and_other_stories_on_the_topic_kept_apart():
    stories = Stories()
    original = Article("orig", "Tram", STORY)
    stories.add(original)
    reprint = Article(
        "reprint",
        "Tallinn tram approved",
        "By a staff writer. " + STORY.replace("Tuesday", "Tuesday evening"),
    )
    assert stories.original_of(reprint) == "orig"
    reprint.copy_of = "orig"
    stories.add(reprint)
    same_topic = Article(
        "other",
        "Tram delays",
        "Tallinn's existing tram lines were delayed on Friday by a power failure near the harbour, the city "
        "transport company said. Commuters to the airport waited up to an hour, and the company promised "
        "refunds for monthly tickets. The new line the council approved this week is not affected, it said.",
    )
    assert stories.original_of(same_topic) is None
    # A follow-up that repeats three of the story's four sentences but reports a new event (estimated Jaccard
    # 0.43) is a story of its own.
    follow_up = Article(
        "follow-up",
        "Tram challenged",
        STORY.split(" Opponents argued")[0]
        + " On Thursday a group of suburban residents filed a complaint in the "
        "administrative court, asking it to halt the tender until buses are reviewed.",
    )
    assert stories.original_of(follow_up) is None
    assert stories.original_of(Article("copy2", "t", STORY)) == "orig"  # a copy of the copy is the same story


def test_band_keys_are_stable_and_shared_only_by_close_texts():
    keys = band_keys(signature(STORY))
    assert len(keys) == BANDS == len(set(keys)) and keys == band_keys(signature(STORY))
    assert all(-(2**63) <= k < 2**63 for k in keys)  # fits SQLite's INTEGER
    assert set(keys) & set(band_keys(signature(STORY.replace("Tuesday", "Tuesday evening"))))
    assert not set(keys) & set(band_keys(signature("An unrelated report about the weather in Oslo today.")))


# ----- calibration -------------------------------------------------------------------------------------


def test_fit_calibration_is_monotone_and_matches_the_rate_of_right_answers():
    scores = [-3.0] * 10 + [0.0] * 10 + [3.0] * 10
    right = [False] * 9 + [True] + [False] * 5 + [True] * 5 + [True] * 9 + [False]
    calibration = fit_calibration(scores, right, "hand-made")
    assert calibration(-3.0) == pytest.approx(0.1) and calibration(0.0) == pytest.approx(0.5)
    assert calibration(3.0) == pytest.approx(0.9) and calibration(100.0) == pytest.approx(0.9)
    assert Calibration.from_dict(calibration.to_dict()) == calibration
    assert expected_calibration_error([calibration(s) for s in scores], right) == pytest.approx(0.0, abs=1e-9)
    assert expected_calibration_error([0.9] * 10, [True] * 5 + [False] * 5) == pytest.approx(0.4)


def test_a_malformed_stored_calibration_is_refused():
    for data in (
        {"x": [1, 0], "y": [0.1, 0.2]},
        {"x": [0, 1], "y": [0.1, 1.5]},
        {"x": [], "y": []},
        None,
        {"x": [0]},
    ):
        assert Calibration.from_dict(data) is None


# ----- the training time budget ----------------------------------------------------------------------


def test_steps_within_budget_shortens_only_what_does_not_fit():
    assert steps_within_budget(400, steps_per_second=2.0, seconds_left=1000.0, total=10_000) == 400 + 1700
    assert steps_within_budget(400, 2.0, 1000.0, total=2000) is None  # fits already
    assert steps_within_budget(400, 2.0, -5.0, total=10_000) == 401  # out of time: stop at the next step
    assert steps_within_budget(400, 0.0, 1000.0, total=10_000) is None


def test_native_bfloat16_is_read_from_the_cpus_flags_line():
    epyc = (
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
    )
    sapphire = "flags\t\t: fpu avx512f amx_tile amx_bf16 amx_int8\n"
    older = "flags\t\t: fpu sse2 avx2 avx512f avx512_vnni\nbugs\t\t: avx512_bf16_in_a_bug_name\n"
    assert cpu_has_native_bf16(epyc) and cpu_has_native_bf16(sapphire)
    assert not cpu_has_native_bf16(older) and not cpu_has_native_bf16("")


# ----- boilerplate ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Washington CNN —",
        "New York CNN Business —",
        "CNN —",
        "— Bart Jansen",
        "– Ella Lee, David Jackson",
        "By Amy Bloom",
        "Contributing: Maureen Groppe, USA TODAY",
        "Oli Scarff/Pool/Reuters",
        "Kyrie Irving during the game on Saturday. Elsa/Getty Images",
        "Get CNN Health's weekly newsletter Sign up here to get The Results Are In every Tuesday.",
        "1. How relevant is this ad to you?",
        "Sign up for the USA TODAY Israel-Hamas War newsletter to receive weekday updates about the conflict.",
        "___",
        "♦",
        "'We' includes The Week and other Future Publishing Limited brands as detailed here.",
        "More:If abortion is banned in Ohio, seekers would have to drive 157 to 269 miles| Opinion",
        "READ MORE:The Thomas Fire is huge, but it's not California's largest wildfire",
        "Read more:",
        "Related: Senate passes the spending bill after a long night",
        "What people are saying about Kamala Harris: 'A vibe I'm feeling'",
        "Opinion in your inbox:Sign up for the Conversation newsletter",
        "Contributing: Marco della Cava, Brendan Morrow, KiMi Robinson and Jay Stahl of USA TODAY and The Associated Press",
        "Hey, it's Spencer, filling in for Laura today.",
        "Thanks for reading, see you tomorrow.",
    ],
)
def test_boilerplate_lines_are_recognised(line: str):
    assert is_boilerplate(line)


@pytest.mark.parametrize(
    "line",
    [
        "Musk has previously suggested that he wants to increase Twitter's subscription revenue to rely less on ads.",
        "Those who want the US to become a Christian nation face a huge obstacle: most Americans don't subscribe.",
        "The photographer who took the picture, a freelancer, said the agency never paid her.",
        "Joey Chestnut devoured 63 hot dogs in ten minutes.",
        "Rishi Sunak became prime minister on Tuesday.",
        "Washington",
        "The talks will be held in Budapest — the date is not set.",
        "More than 40 people died in the fire on Tuesday, officials said.",
        "Latest: Fire crews contained 40% of the blaze by Friday.",
        "What kids are saying these days moves faster than ever thanks to social media.",
        "Hey, that is not what the senator said, the spokesperson replied.",
    ],
)
def test_news_lines_are_not_boilerplate(line: str):
    assert not is_boilerplate(line)


@pytest.mark.parametrize(
    ("text", "dateline"),
    [
        ("NEW YORK (AP) — Stocks fell.", "NEW YORK (AP) — "),
        ("Lviv, Ukraine (CNN) — Shelling resumed.", "Lviv, Ukraine (CNN) — "),
        ("ZHANGJIAKOU, China – Snow fell.", "ZHANGJIAKOU, China – "),
        ("Earlier news.\nWASHINGTON — The Senate voted.", "WASHINGTON — "),
        ("London CNN Business — Rates rose.", "London CNN Business — "),
        ("Biden — who won in 2020 — spoke.", None),
        ("Best Motion Picture — Oppenheimer", None),
        ("1985 — She was born in Ohio.", None),
        ("The talks will be held in Budapest — the date is not set.", None),
    ],
)
def test_opening_datelines_are_found_and_news_dashes_are_not(text: str, dateline: str | None):
    found = [text[s:e] for s, e in opening_datelines(text)]
    assert found == ([dateline] if dateline else [])


@pytest.mark.parametrize(
    ("text", "credit"),
    [
        ("The funeral will be on January 5. Alessandra Tarantino/AP\n\nNews of", "Alessandra Tarantino/AP"),
        ("He waves in 2006. Jens Meyer/AP Benedict visits Istanbul.", "Jens Meyer/AP"),
        ("Phelan M. Ebenhack/AP", "Phelan M. Ebenhack/AP"),
        ("The view on Friday. Yui Mok/Pool/AFP/Getty Images The crowd", "Yui Mok/Pool/AFP/Getty Images"),
        ("Luke Sharrett/Bloomberg via Getty Images St. Louis", "Luke Sharrett/Bloomberg via Getty Images"),
        (
            "a strike. Minnesota Historical Society/Corbis/Getty Images",
            "Minnesota Historical Society/Corbis/Getty Images",
        ),
        ("AC/DC played the 9/11 memorial and/or the Harris/Walz rally.", None),
        ("He told CNN/ORC pollsters and Sunak/APT.", None),
    ],
)
def test_inline_photo_credits_are_found_and_other_slashes_are_not(text: str, credit: str | None):
    assert [text[s:e] for s, e in inline_credits(text)] == ([credit] if credit else [])


def test_in_apparatus_covers_boilerplate_lines_and_datelines_only():
    text = "NEW YORK (AP) — Stocks fell on Monday.\nSign up for our Markets newsletter here."
    assert in_apparatus(text, 0, 8) and in_apparatus(text, text.index("Markets"), text.index(" newsletter"))
    assert not in_apparatus(text, text.index("Stocks"), text.index(" fell"))
    captioned = "Markets fell on Monday. Seth Wenig/AP"
    assert in_apparatus(captioned, captioned.index("Seth"), len(captioned) - 3)


def test_passages_leave_out_boilerplate_lines_and_keep_true_offsets():
    text = (
        "London CNN —\nThe Bank of England raised rates to 5.25 percent on Thursday. Markets fell.\n"
        "Sign up for our Markets newsletter to get the news first.\nThe pound rose against the dollar.\n— Jo Smith"
    )
    article = Article("a", "Rates", text)
    passages = split_passages(article)
    assert [p.text for p in passages] == [
        "The Bank of England raised rates to 5.25 percent on Thursday. Markets fell.",
        "The pound rose against the dollar.",
    ]
    assert all(text[p.start : p.end] == p.text for p in passages)
    assert split_passages(Article("ad", "Ad", "1. How relevant is this ad to you?\nCNN —")) == []


# ----- filters over in-memory facts ------------------------------------------------------------------


def facts_of(articles: list[tuple[str, str | None, str | None]], passages: list[tuple[int, str]]):
    """PassageFacts read from a real SQLite database holding these (id, iso date, source) and (row id, article)."""
    import sqlite3

    from qa.filtering import PassageFacts

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE articles(id TEXT PRIMARY KEY, iso_date TEXT, source TEXT)")
    db.execute("CREATE TABLE passages(rowid INTEGER PRIMARY KEY, article_id TEXT)")
    db.executemany("INSERT INTO articles VALUES (?, ?, ?)", articles)
    db.executemany("INSERT INTO passages VALUES (?, ?)", passages)
    return PassageFacts.read(db)


FACTS = (
    [
        ("a", "2024-01-10", "Wire"),
        ("b", "2024-06-02T09:00:00", "Daily"),
        ("c", None, None),
        ("d", "2024-06", "wire"),
    ],
    [(1, "a"), (2, "a"), (5, "b"), (7, "c"), (9, "d"), (12, "b")],
)


@pytest.mark.parametrize(
    "filters, rowids",
    [
        ({}, [1, 2, 5, 7, 9, 12]),
        ({"as_of": "2024-06-01"}, [1, 2, 7, 9]),  # undated kept; a month-only date compares as its text
        ({"as_of": "2024-06-02"}, [1, 2, 5, 7, 9, 12]),  # the whole day, whatever its time
        ({"date_from": "2024-02-01"}, [5, 9, 12]),  # undated left out by a date bound
        ({"date_to": "2024-06"}, [1, 2, 5, 9, 12]),  # a month's bound takes in all of the month
        ({"date_to": "2024-06-01"}, [1, 2, 9]),
        ({"sources": ["WIRE"]}, [1, 2, 9]),  # sources match without case
        ({"sources": ["nobody"]}, []),
        ({"exclude": ["b", "c"]}, [1, 2, 9]),
        ({"sources": ["daily", "wire"], "as_of": "2024-05-31"}, [1, 2]),
    ],
)
def test_passage_facts_keep_what_each_filter_keeps(filters: dict, rowids: list[int]):
    from qa.filtering import Filters

    kept = facts_of(*FACTS).kept(Filters(**filters))
    assert kept.rowids.tolist() == rowids
    assert [r for r in range(15) if kept.keeps(r)] == rowids
    assert kept.share == pytest.approx(len(rowids) / 6)


def test_the_faiss_selector_of_kept_passages_selects_exactly_them():
    from qa.filtering import Filters

    kept = facts_of(*FACTS).kept(Filters(as_of="2024-06-01"))
    selector = kept.faiss_selector()
    assert [r for r in range(13) if selector.is_member(r)] == [1, 2, 7, 9]


# ----- the answer ranker -----------------------------------------------------------------------------


def ranker_features(question: str, answers: list[Answer]) -> dict[str, list[float]]:
    from qa.answer_ranking import FEATURES, answer_features

    table = answer_features(question, answers, {"p": 2})
    return {name: table[:, n].tolist() for n, name in enumerate(FEATURES)}


def test_answer_features_measure_age_against_the_newest_candidate_and_only_for_questions_of_the_present():
    old, new, undated = (
        answer("Liz Truss", 3.0, "2022-09-06"),
        answer("Rishi Sunak", 1.0, "2022-10-25"),
        answer("Boris", 0.0, None),
    )
    plain = ranker_features("Who became prime minister?", [old, new, undated])
    assert plain["older_days"] == pytest.approx([math.log1p(49), 0.0, 0.0])
    assert plain["older_present"] == [0.0, 0.0, 0.0] and plain["undated"] == [0.0, 0.0, 1.0]
    present = ranker_features("Who is the current prime minister?", [old, new, undated])
    assert present["older_present"] == pytest.approx([math.log1p(49), 0.0, 0.0])
    this_week = ranker_features("Who became prime minister this week?", [old, new])
    assert this_week["older_relative"] == pytest.approx([math.log1p(49), 0.0])
    assert plain["margin"] == [0.0, -2.0, -3.0] and plain["retrieval_rank"] == [1 / 3] * 3


def test_answer_features_do_not_depend_on_the_order_the_candidates_come_in():
    a, b = answer("Ana", 1.0, "2025-01-01"), answer("Ben", 2.0, "2025-01-05")
    forward, backward = ranker_features("Who?", [a, b]), ranker_features("Who?", [b, a])
    assert forward["position"] == [0.5, 1.0] and backward["position"] == [1.0, 0.5]


def test_answer_features_see_an_answer_that_repeats_the_question():
    features = ranker_features("Which team does Damar Hamlin play for?", [answer("Damar Hamlin", 5.0, None)])
    assert features["in_question"] == [1.0] and features["words"] == pytest.approx([math.log(2)])


def test_the_ranker_orders_by_its_probability_and_a_fitted_one_learns_the_sign_of_a_signal(tmp_path):
    from qa.answer_ranking import FEATURES, AnswerRanker, fit_ranker

    weights = np.zeros(len(FEATURES))
    weights[FEATURES.index("older_present")] = -3.0
    ranker = AnswerRanker(weights, 0.0, 0.5, {})
    old, new = answer("Queen Elizabeth II", 4.0, "2022-01-01"), answer("King Charles III", 1.0, "2022-09-20")
    ranked = ranker.rank("Who is the current monarch?", [old, new], {})
    assert [a.text for a in ranked] == ["King Charles III", "Queen Elizabeth II"]
    assert ranked[0].confidence == pytest.approx(0.5) and ranked[1].confidence < 0.01
    rng = np.random.default_rng(3)
    features = rng.normal(size=(400, len(FEATURES)))
    right = features[:, 0] + 0.3 * rng.normal(size=400) > 0
    fitted, _ = fit_ranker(features, right)
    assert fitted[0] > 1.0 and np.all(np.abs(fitted[1:]) < fitted[0] / 3)
    ranker.save(tmp_path / "ranker.json")
    assert AnswerRanker.load(tmp_path / "ranker.json").weights.tolist() == pytest.approx(weights.tolist())


def test_a_malformed_ranker_file_is_refused_in_one_line(tmp_path):
    from qa.answer_ranking import AnswerRanker
    from qa.errors import IndexUnusable

    path = tmp_path / "ranker.json"
    path.write_text(
        '{"features": ["answerability", "shoe_size"], "weights": [1.0, 2.0], "bias": 0, "threshold": 0.5}'
    )
    with pytest.raises(IndexUnusable, match="cannot be read"):
        AnswerRanker.load(path)


def test_answer_features_see_whether_the_answer_has_the_shape_the_question_asks_for():
    many = ranker_features(
        "How many hot dogs did Joey Chestnut eat?", [answer("63", 1.0, None), answer("15th", 2.0, None)]
    )
    assert many["number_given"] == [1.0, 1.0] and many["number_missing"] == [0.0, 0.0]
    missing = ranker_features("How many hot dogs did he eat?", [answer("Joey Chestnut", 1.0, None)])
    assert missing["number_missing"] == [1.0] and missing["name_given"] == [0.0]
    who = ranker_features(
        "Who won the contest?", [answer("Joey Chestnut", 1.0, None), answer("the crowd", 0.5, None)]
    )
    assert who["name_given"] == [1.0, 0.0] and who["capitalised"] == [1.0, 0.0]


def test_the_shipped_ranker_serves_only_the_shipped_reader_and_gives_way_to_rules_set_by_hand(tmp_path):
    from qa.assembly import uses_ranker
    from qa.config import SHIPPED_RANKER, Config

    assert uses_ranker(Config())
    assert not uses_ranker(Config(reader_model=str(tmp_path / "my-reader")))  # it brings its own calibration
    assert uses_ranker(
        Config(reader_model=str(tmp_path / "my-reader"), answer_ranker=str(tmp_path / "mine.json"))
    )
    assert not uses_ranker(Config(answer_ranker=None)) and not uses_ranker(Config(answer_ranker=""))
    for by_hand in ({"no_answer_threshold": 1.0}, {"recency": 2.0}, {"abstain_on": "span"}):
        assert not uses_ranker(Config(**by_hand)), by_hand
    assert Config().answer_ranker == str(SHIPPED_RANKER)


def test_the_ranker_calibrates_by_the_first_answers_regime_without_changing_the_order():
    from qa.answer_ranking import FEATURES, AnswerRanker
    from qa.calibration import Calibration

    weights = np.zeros(len(FEATURES))
    weights[FEATURES.index("answerability")] = 1.0
    ranker = AnswerRanker(weights, 0.0, 0.5, {})
    ranker.calibrations = {
        "dated": Calibration([0.0, 1.0], [0.0, 0.5]),
        "undated": Calibration([0.0, 1.0], [0.2, 1.0]),
    }
    dated = ranker.rank("Who?", [answer("Ana", 0.0, "2025-01-01"), answer("Ben", 2.0, "2025-01-02")], {})
    assert [a.text for a in dated] == ["Ben", "Ana"]
    assert [a.confidence for a in dated] == pytest.approx([0.5 / (1 + math.exp(-2.0)), 0.25])
    undated = ranker.rank("Who?", [answer("Cy", 0.0, None)], {})
    assert undated[0].confidence == pytest.approx(0.6)
    ranker.thresholds = {"dated": 0.3, "undated": 0.7}  # each regime's own threshold, else the overall one
    assert ranker.gives(dated[0]) and not ranker.gives(dated[1]) and not ranker.gives(undated[0])
    ranker.thresholds = {}
    assert ranker.gives(undated[0]) and not ranker.gives(dated[0])


# ----- the passage ranker (qa.passage_ranking) ---------------------------------------------------------------------


def news_hit(
    article_id: str, title: str, date: str | None, text: str, start: int, dense: int | None, bm25: int | None
):
    from qa.passages import Passage

    passage = Passage(f"{article_id}:{start}", article_id, text, start, start + len(text))
    return Hit(passage, Article(article_id, title, text, date=date), 0.0, dense, bm25)


def test_passage_features_read_title_age_lead_and_article_support():
    import datetime

    from qa.passage_ranking import PASSAGE_FEATURES, passage_features

    hits = [
        news_hit("a", "Kiel harbour reopens", "2025-03-03", "The harbour reopened on Monday.", 0, 0, None),
        news_hit("b", "Weather", "2024-03-01", "Storms hit the coast.", 120, None, 0),
        news_hit("a", "Kiel harbour reopens", "2025-03-03", "Ships came back.", 40, 1, 1),
        news_hit("c", "Undated", None, "Harbour news.", 0, 2, 2),
    ]
    x = passage_features("Which harbour in Kiel reopened this week?", datetime.date(2025, 3, 5), hits)
    f = {name: x[:, i] for i, name in enumerate(PASSAGE_FEATURES)}
    assert x.shape == (4, len(PASSAGE_FEATURES))
    assert list(f["fused"]) == [1.0, 0.5, 1 / 3, 0.25]
    assert list(f["dense"]) == [1.0, 0.0, 0.5, 1 / 3] and list(f["bm25"]) == [0.0, 1.0, 0.5, 1 / 3]
    # the question's content words: harbour, kiel, reopened; the title holds the first two
    assert f["title_share"][0] == f["title_share"][2] == pytest.approx(2 / 3) and f["title_share"][1] == 0.0
    assert f["age"][0] == pytest.approx(math.log1p(2)) and f["age"][1] == pytest.approx(math.log1p(369))
    assert list(f["age_timely"]) == list(f["age"])  # "this week": the age counts twice
    assert list(f["week"]) == [1.0, 0.0, 1.0, 0.0] and list(f["undated"]) == [0.0, 0.0, 0.0, 1.0]
    assert list(f["lead"]) == [1.0, 0.0, 0.0, 1.0]
    assert f["article_hits"][0] == f["article_hits"][2] == pytest.approx(math.log1p(2))
    assert f["article_best"][2] == 1.0  # its article's best passage is first
    plain = passage_features("Which harbour in Kiel reopened?", datetime.date(2025, 3, 5), hits)
    assert not plain[:, PASSAGE_FEATURES.index("age_timely")].any()


def test_the_passage_ranker_orders_by_its_scores_and_refuses_a_malformed_file(tmp_path):
    import datetime

    import numpy as np

    from qa.errors import IndexUnusable
    from qa.passage_ranking import PASSAGE_FEATURES, PassageRanker

    n = len(PASSAGE_FEATURES)
    weights = np.zeros(n)
    weights[PASSAGE_FEATURES.index("title_share")] = 1.0  # the title alone decides
    ranker = PassageRanker(weights, 0.0, np.zeros(n), np.ones(n), {})
    hits = [
        news_hit("b", "Weather", "2025-03-01", "Storms.", 0, 0, 0),
        news_hit("a", "Kiel harbour reopens", "2025-03-03", "Ships came back.", 0, 1, 1),
        news_hit("c", "Weather again", "2025-03-02", "Rain.", 0, 2, 2),
    ]
    ordered = ranker.order("Which harbour in Kiel reopened?", datetime.date(2025, 3, 5), hits)
    assert [h.article.id for h in ordered] == ["a", "b", "c"]  # ties keep the search's order
    ranker.save(tmp_path / "ranker.json")
    again = PassageRanker.load(tmp_path / "ranker.json")
    assert np.array_equal(again.weights, weights)
    (tmp_path / "bad.json").write_text(
        '{"features": ["fused"], "weights": [1], "bias": 0, "mean": [0], "scale": [1]}'
    )
    with pytest.raises(IndexUnusable, match="cannot be used"):
        PassageRanker.load(tmp_path / "bad.json")


def test_normalize_answer_is_squads_normalisation():
    from qa.text import normalize_answer

    assert normalize_answer("The  Eiffel-Tower, in Paris!") == "eiffeltower in paris"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("Théâtre — “Le Monde”") == "théâtre — “le monde”"  # only ASCII punctuation goes
    assert normalize_answer("  ") == "" and normalize_answer("then another") == "then another"
    every_mark = "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum())  # string.punctuation
    assert normalize_answer(f"x{every_mark}y’s") == "xy’s"


def test_normalized_words_are_normalize_answers_words_with_the_articles_kept():
    from qa.text import normalize_answer, normalized_words

    text = "The Eiffel-Tower’s top, a view!"
    assert normalized_words(text) == {"the", "eiffeltower’s", "top", "a", "view"}
    assert normalized_words(text) - {"a", "an", "the"} == set(normalize_answer(text).split())


def test_kept_spans_are_the_runs_of_kept_live_rows_and_give_up_when_there_are_many():
    from qa.filtering import SPANS_MAX, kept_spans

    live = np.array([1, 2, 3, 5, 6, 9, 12])
    assert kept_spans(live, np.array([1, 1, 0, 1, 1, 1, 0], bool)) == [(1, 2), (5, 9)]
    assert kept_spans(live, np.zeros(7, bool)) == []
    assert kept_spans(live, np.ones(7, bool)) == [(1, 12)]
    many = np.arange(4 * SPANS_MAX)
    assert kept_spans(many, many % 2 == 0) is None  # every other row: too many runs for ranges
