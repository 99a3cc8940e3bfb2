"""Retrieval and reading end to end on the seed corpus, with the shipped reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import RUBIO_SENTENCE, SEED_QUESTION, SEEDS, snapshot

from qa.articles import Article
from qa.engine import Engine
from qa.errors import InputError
from qa.retrieval import Filters

pytestmark = pytest.mark.slow


def test_hybrid_retrieval_ranks_the_rubio_passage_first(engine: Engine):
    hits = engine.search(SEED_QUESTION, retrieval="hybrid")
    assert RUBIO_SENTENCE in hits[0].passage.text
    assert hits[0].dense_rank is not None and hits[0].bm25_rank is not None


def test_the_seed_question_is_answered_and_cited(engine: Engine):
    result = engine.ask(SEED_QUESTION)
    assert result.answered
    best = result.best
    assert "Marco Rubio" in best.text
    assert 0.0 < best.confidence <= 1.0
    c = best.citation
    article = engine.index.articles([c.article_id])[c.article_id]
    assert article.text[c.start : c.end] == best.text
    assert c.sentence == RUBIO_SENTENCE == article.text[c.sentence_start : c.sentence_end]
    assert c.passage == article.text[c.passage_start : c.passage_start + len(c.passage)]
    assert result.seconds["retrieval"] > 0 and result.seconds["reading"] > 0


def test_answers_are_merged_across_passages(index_copy: Path):
    from qa.config import Config

    engine = Engine.open(index_copy, Config(decided_at=None))  # every passage read, not only a sure first one
    # Two outlets' own reports of one fact (not copies, which would be folded into one story). The answer is
    # one word in both, so that how much of a longer span the reader shows (qa.reading.pool_overlapping, whose
    # choice between "US Secretary of State Marco Rubio" and "Marco Rubio" in the seed varies with the CPU's
    # int8 arithmetic) does not decide whether they meet.
    engine.add_articles(
        [
            Article.from_text(
                "The harbour authority said the new ferry terminal will open in Kiel on 3 May, after two "
                "years of building.",
                title="Ferry terminal opens in May",
                id="port",
                source="Port News",
            ),
            Article.from_text(
                "Kiel will get the region's new ferry terminal, the harbour authority told reporters on "
                "Tuesday; it opens in May.",
                title="Harbour plans",
                id="wire",
                source="Wire",
            ),
        ]
    )
    stored = engine.index.articles(["port", "wire"])
    assert stored["port"].copy_of is None and stored["wire"].copy_of is None
    result = engine.ask("Which city gets the new ferry terminal?", top_k=6)
    best = result.best
    assert best.text == "Kiel"
    assert {e.article_id for e in best.evidence} == {"port", "wire"}
    assert best.answerability == max(e.answerability for e in best.evidence) == best.citation.answerability
    assert len({a.text.lower() for a in result.answers}) == len(result.answers)


def test_reading_stops_at_a_sure_first_passage_unless_the_question_asks_for_the_present(engine: Engine):
    from qa.config import Config
    from qa.reading import answerability

    first = engine.reader.read_pairs([SEED_QUESTION], [engine.search(SEED_QUESTION)[0].passage.text])[0]
    sure_of_first = answerability(first.spans[0].score, first.no_answer, "ratio")
    calls: list[int] = []
    # Sure enough by a setting just under the first passage's answerability, and not by one just over it.
    stopping = engine.with_config(Config(decided_at=sure_of_first - 0.5))
    reading_on = engine.with_config(Config(decided_at=sure_of_first + 0.5))
    reader = stopping.reader
    reading_on.asker._reader = reader  # the same reader, so that its reads are counted
    reader.read_pairs, read = (
        (lambda q, t, top_n=3: calls.append(len(t)) or read(q, t, top_n)),
        reader.read_pairs,
    )
    try:
        sure = stopping.ask(SEED_QUESTION)
        assert (
            calls == [1] and len(sure.passages) == 4
        )  # the first passage decided it; the rest were not read
        assert sure.best.text.endswith("Marco Rubio") and sure.best.citation.sentence == RUBIO_SENTENCE
        calls.clear()
        assert reading_on.ask(SEED_QUESTION).best.text.endswith("Marco Rubio") and calls == [1, 3]
        calls.clear()
        stopping.ask(
            "Who is the current special envoy?"
        )  # asks for the present: a newer article may say otherwise
        assert calls == [4]
        calls.clear()
        everything = engine.with_config(Config(decided_at=None)).ask(SEED_QUESTION)
        assert everything.best.text == sure.best.text and len(everything.answers) > len(sure.answers)
    finally:
        del reader.read_pairs


def test_the_seed_answer_is_one_answer_with_one_confidence(engine: Engine):
    result = engine.ask(SEED_QUESTION)
    assert "Marco Rubio" in result.best.text
    # the confidences shown are the ranker's P(right) of the pooled answers, and the best clears its threshold
    from qa.answer_ranking import answer_features

    ranks = {h.passage.id: r for r, h in enumerate(result.passages)}
    raw = engine.asker.assembly.ranker.probabilities(answer_features(result.question, result.answers, ranks))
    calibrated = engine.asker.assembly.ranker.calibrations.get("dated")  # the seed article is dated
    shown = [calibrated(p) for p in raw] if calibrated else list(raw)
    assert sorted(a.confidence for a in result.answers) == pytest.approx(sorted(shown))
    assert result.answered and engine.asker.assembly.ranker.gives(result.best)
    forms = [a.text for a in result.answers if "Rubio" in a.text or "Secretary" in a.text]
    assert len(forms) == 1 and forms[0].endswith("Marco Rubio"), forms  # one form of it among the candidates
    scores = [a.confidence for a in result.answers]
    assert scores == sorted(scores, reverse=True)  # confidence follows the rank


def test_always_answer_gives_the_best_guess_marked_as_such(engine: Engine):
    question = "What is the boiling point of liquid nitrogen?"
    assert not engine.ask(question).answered
    guess = engine.ask(question, always_answer=True)
    assert guess.answered and not guess.confident and guess.best is not None
    assert engine.ask(SEED_QUESTION, always_answer=True).confident


def test_filters_restrict_the_articles_searched(index_copy: Path):
    engine = Engine.open(index_copy)
    engine.add_articles(
        [
            Article.from_text(
                "Marco Rubio visited Lisbon in 2019 to open a consulate.",
                title="Old visit",
                id="old",
                date="2019-05-01",
                source="Archive",
            )
        ]
    )
    hits = engine.search("Where did Marco Rubio open a consulate?", filters=Filters(sources=["Archive"]))
    assert [h.passage.article_id for h in hits] == ["old"]
    hits = engine.search("Where did Marco Rubio open a consulate?", filters=Filters(date_to="2018-12-31"))
    assert hits == []
    hits = engine.search("Where did Marco Rubio open a consulate?", filters=Filters(date_from="2025-01-01"))
    assert {h.passage.article_id for h in hits} == {
        "trump-putin-budapest-summit"
    }  # the seed, dated 2025-10-17
    for mode in ("dense", "bm25", "hybrid"):
        hits = engine.search(
            "Marco Rubio", retrieval=mode, filters=Filters(date_from="2019-05-01", date_to="2019-05")
        )
        assert [h.passage.article_id for h in hits] == ["old"], mode


def test_filters_run_inside_an_approximate_vector_index_too(tmp_path: Path):
    from conftest import SEEDS

    from qa.config import Config

    engine = Engine.build([SEEDS], tmp_path / "ivf", Config(approximate=True))
    engine.add_articles(
        [
            Article.from_text(
                "Marco Rubio visited Lisbon in 2019 to open a consulate.",
                title="Old visit",
                id="old",
                date="2019-05-01",
                source="Archive",
            )
        ]
    )
    hits = engine.search("Marco Rubio", retrieval="dense", top_k=5, filters=Filters(sources=["Archive"]))
    assert [h.passage.article_id for h in hits] == ["old"]


def test_a_question_the_articles_do_not_answer_gets_dont_know(engine: Engine):
    result = engine.ask("What is the boiling point of liquid nitrogen?")
    assert not result.answered
    assert result.best is None and result.passages


def test_the_engine_abstains_by_its_readers_own_threshold(seed_index: Path, tmp_path: Path):
    import json
    import shutil

    from qa.config import SHIPPED_READER, Config

    strict = tmp_path / "strict-reader"
    shutil.copytree(SHIPPED_READER, strict)
    card = json.loads((strict / "training.json").read_text())
    (strict / "training.json").write_text(
        json.dumps({**card, "no_answer_threshold": 50.0})
    )  # log-odds no answer reaches
    assert not Engine.open(seed_index, Config(reader_model=str(strict))).ask(SEED_QUESTION).answered
    from qa.assembly import RankerOff

    with pytest.warns(RankerOff, match="no_answer_threshold set by hand"):  # never silently
        by_hand = Engine.open(seed_index, Config(reader_model=str(strict), no_answer_threshold=0.0))
    assert by_hand.ask(SEED_QUESTION).answered


def test_top_k_out_of_range_is_refused(engine: Engine):
    for k in (0, -1, 101):
        with pytest.raises(InputError, match="top-k must be between 1 and 100"):
            engine.ask(SEED_QUESTION, top_k=k)


@pytest.mark.parametrize(
    "question, message",
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 20_000, "characters long"),
        ("?!? ...", "no words"),
    ],
)
def test_bad_questions_get_one_clear_sentence_and_change_nothing(
    seed_index: Path, engine: Engine, question, message
):
    before = snapshot(seed_index)
    with pytest.raises(InputError, match=message) as info:
        engine.ask(question)
    assert "\n" not in str(info.value)
    assert snapshot(seed_index) == before


def test_removing_an_unknown_id_is_refused_and_changes_nothing(index_copy: Path):
    before = snapshot(index_copy)
    with pytest.raises(InputError, match="No article with id, url or title 'nope'"):
        Engine.open(index_copy).remove(["nope"])
    assert snapshot(index_copy) == before


def test_ask_many_gives_what_asking_one_at_a_time_gives(engine: Engine):
    questions = [
        SEED_QUESTION,
        "In which city will Trump meet Putin?",
        "What is the boiling point of liquid nitrogen?",
    ]
    together = engine.ask_many(questions)
    for question, batched in zip(questions, together):
        alone = engine.ask(question)
        assert (batched.answered, [a.text for a in batched.answers]) == (
            alone.answered,
            [a.text for a in alone.answers],
        )
        assert [round(a.confidence, 4) for a in batched.answers] == [
            round(a.confidence, 4) for a in alone.answers
        ]
        assert [h.passage.id for h in batched.passages] == [h.passage.id for h in alone.passages]
    with pytest.raises(InputError, match="Question 2: The question is empty"):
        engine.ask_many([SEED_QUESTION, "  "])


def syndicated_copies(seed: Article) -> list[Article]:
    """The seed story as three outlets republished it: a new headline, a shortened last paragraph, a byline."""
    paragraphs = seed.text.split("\n")
    shortened = "\n".join(paragraphs[:-1] + [paragraphs[-1][: len(paragraphs[-1]) // 2]])
    return [
        Article.from_text(
            seed.text, title="Trump and Putin to meet in Budapest", id="copy-headline", source="Daily A"
        ),
        Article.from_text(shortened, title=seed.title, id="copy-short", source="Daily B"),
        Article.from_text(
            "By Jane Doe, Budapest correspondent\n" + seed.text,
            title=seed.title,
            id="copy-byline",
            source="Daily C",
        ),
    ]


def test_syndicated_copies_are_one_story_searched_once_and_counted(index_copy: Path):
    engine = Engine.open(index_copy)
    seed = engine.articles()[0]
    other = Article.from_text(
        "Budapest's mayor said the city was ready to host talks of any kind, and that the Chain "
        "Bridge would be closed for the day.",
        title="Mayor ready",
        id="mayor",
        source="Daily A",
    )
    engine.add_articles([*syndicated_copies(seed), other])
    reopened = Engine.open(index_copy)  # the grouping is stored with the articles
    stories = reopened.stories()
    assert list(stories) == [seed.id] and {a.id for a in stories[seed.id]} == {
        seed.id,
        "copy-headline",
        "copy-short",
        "copy-byline",
    }
    assert reopened.index.articles(["mayor"])["mayor"].copy_of is None
    hits = reopened.search(SEED_QUESTION, top_k=5)
    assert (
        len({h.passage.article_id for h in hits} & {seed.id, "copy-headline", "copy-short", "copy-byline"})
        == 1
    )
    best = reopened.ask(SEED_QUESTION).best
    assert "Marco Rubio" in best.text and best.carried_by == 4  # the seed (no source) and three outlets
    assert "carried by 4 sources" in reopened.ask(SEED_QUESTION).describe()


def test_copies_are_found_by_the_stored_band_keys_also_in_an_index_written_before_them(index_copy: Path):
    import sqlite3

    seed = Engine.open(index_copy).articles()[0]
    headline, short, byline = syndicated_copies(seed)
    db = sqlite3.connect(index_copy / "index.sqlite")  # as an index written before band keys were kept
    db.execute("DELETE FROM story_bands")
    db.execute("DELETE FROM settings WHERE key='story_bands'")
    db.commit()
    db.close()
    Engine.open(index_copy).add_articles([headline])  # a new process: nothing in memory but the store
    Engine.open(index_copy).add_articles([short])
    engine = Engine.open(index_copy)
    assert {a.id: a.copy_of for a in engine.stories()[seed.id]} == {
        seed.id: None,
        "copy-headline": seed.id,
        "copy-short": seed.id,
    }
    engine.remove([seed.id])  # the story's first article goes, with its band keys
    db = sqlite3.connect(index_copy / "index.sqlite")
    assert db.execute("SELECT count(*) FROM story_bands WHERE article_id=?", (seed.id,)).fetchone() == (0,)
    assert {r[0] for r in db.execute("SELECT article_id FROM story_bands")} == {"copy-headline", "copy-short"}
    db.close()
    Engine.open(index_copy).add_articles([byline])  # still a copy of the story its remaining articles tell
    assert Engine.open(index_copy).index.articles(["copy-byline"])["copy-byline"].copy_of == seed.id


EVOLVING = (
    Path(__file__).resolve().parent / "data" / "evolving-story.jsonl"
)  # a fictional story the project wrote


def test_an_evolving_story_shows_its_other_answers_newest_first_with_their_dates(tmp_path: Path):
    engine = Engine.build([EVOLVING], tmp_path / "index")
    # Three names compete, so the ranker is unsure of each (and may withhold them): the best guess is shown.
    result = engine.ask("Who is the current harbour master of Northport?", always_answer=True)
    assert [a.confidence for a in result.answers] == sorted(
        (a.confidence for a in result.answers), reverse=True
    )
    shown = [(result.best.text, result.best.citation.date)] + [
        (a.text, a.citation.date) for a in result.timeline
    ]
    assert {("Mia Sand", "2025-02-20"), ("Lars Holm", "2024-06-02"), ("Anna Berg", "2024-01-10")} <= set(
        shown
    )
    dates = [a.citation.date for a in result.timeline]
    assert dates == sorted(dates, reverse=True)  # the others, newest first
    timeline = "; ".join(f"{a.text} \u2014 {a.citation.date}" for a in result.timeline[:4])
    assert f"Other answers, newest first: {timeline}" in result.describe()
    assert [t["text"] for t in result.to_dict()["timeline"]] == [a.text for a in result.timeline]
    # Without words for the present, recency counts for nothing by default; the setting can turn it on or off.
    from qa.answers import recency_for

    assert recency_for("Who was sworn in as harbour master?", None) == 0.0
    assert (
        recency_for("Who is the harbour master now?", None) > 0 and recency_for("Who is it now?", 0.0) == 0.0
    )


@pytest.mark.xfail(
    strict=True,
    reason="known since the answer ranker was refitted for the passage ranker (2026-12-04): it gives Mia Sand "
    "under half of Lars Holm's probability, so the newest-plausible rule (qa.answer_ranking.newest_first) does not "
    "put her first; the news fit half (27 questions of the present, as many right either way: scripts/fit_ranker.py "
    "prints them) cannot settle the rule",
)
def test_the_latest_answer_wins_when_the_question_asks_for_the_present(tmp_path: Path):
    engine = Engine.build([EVOLVING], tmp_path / "index")
    result = engine.ask("Who is the current harbour master of Northport?", always_answer=True)
    assert result.best.text == "Mia Sand" and result.best.citation.date == "2025-02-20"


def test_an_index_records_its_encoder_and_adds_keep_to_it(tmp_path: Path, seed_index: Path):
    from qa.config import Config

    assert Engine.open(seed_index).stats().encoder == "onnx-int8"  # the default
    fp32 = Engine.build([SEEDS], tmp_path / "fp32", Config(encoder_int8=False))
    assert fp32.stats().encoder == "sentence-transformers-fp32"
    reopened = Engine.open(tmp_path / "fp32")  # default config: questions in int8, passages as the index's
    assert reopened.embedder.precision == "fp32" and reopened.asker.query_encoder.precision == "int8"
    answer = reopened.ask(SEED_QUESTION).best
    assert answer.text.endswith("Marco Rubio") and answer.citation.sentence == RUBIO_SENTENCE
    extra = tmp_path / "extra.txt"
    extra.write_text("The harbour ferry to Vlieland sails at dawn on Sundays.\n", encoding="utf-8")
    reopened.add([extra])
    passage, vector = reopened.index.passages_of(reopened.resolve("extra")[0])[0]
    from sentence_transformers import SentenceTransformer

    from qa.embeddings import resolve_model

    want = SentenceTransformer(resolve_model("all-MiniLM-L6-v2"), device="cpu").encode(
        [passage.text], normalize_embeddings=True
    )
    assert np.allclose(vector, want[0], atol=1e-5)  # added in fp32, like the rest of that index
    with pytest.raises(InputError, match="onnx-int8"):
        reopened.index.add([], [], np.zeros((0, 384), np.float32), encoder="onnx-int8")


def test_questions_from_many_threads_are_answered_in_shared_batches(engine: Engine):
    import threading

    from qa.batching import MicroBatcher

    batcher = MicroBatcher(engine)
    asked = [(SEED_QUESTION, 5), ("Who is Moscow's special envoy?", 5), (SEED_QUESTION, 3)] * 6
    start = threading.Barrier(len(asked) + 1)
    answers: dict[int, str] = {}
    read: dict[int, int] = {}  # passages each result shows, checked in the test's own thread
    errors: list[str] = []

    def ask(n: int, question: str, top_k: int) -> None:
        start.wait()
        result = batcher.ask(question, top_k=top_k)
        answers[n] = result.best.text
        read[n] = len(result.passages)

    def refused() -> None:
        start.wait()
        try:
            batcher.ask("   ")
        except InputError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=ask, args=(n, q, k)) for n, (q, k) in enumerate(asked)]
    threads.append(threading.Thread(target=refused))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert batcher.largest > 1  # questions that waited together were answered together
    assert all(1 <= read[n] <= k for n, (_, k) in enumerate(asked)), read
    assert [answers[n] for n in range(len(asked))] == [engine.ask(q, top_k=k).best.text for q, k in asked]
    assert len(errors) == 1 and "empty" in errors[0]  # a bad question fails alone, in its caller's thread


def test_articles_listed_by_filters_follow_the_searches_rules(tmp_path: Path):
    from qa.retrieval import Filters

    engine = Engine.build([EVOLVING], tmp_path / "index")

    def listed(**filters) -> list[str]:
        return sorted(a.id for a in engine.articles(text=False, filters=Filters(**filters)))

    assert listed(sources=["coast daily"]) == [
        "northport-2024-06",
        "northport-bakery",
    ]  # without regard to case
    assert listed(date_from="2025") == ["northport-2025-02", "northport-bakery"]
    assert listed(date_to="2024-06") == ["northport-2024-01", "northport-2024-06"]  # all of June
    assert listed(as_of="2025-02-19") == ["northport-2024-01", "northport-2024-06"]
    assert listed(sources=["Nobody"]) == []
    assert all(a.text == "" for a in engine.articles(text=False, filters=Filters(date_from="2024")))
    assert len(engine.articles(filters=None)) == 4
