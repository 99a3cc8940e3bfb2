"""What one huge passage costs a question: an index holding a 2.3-million-character passage (as an index written
before passages were capped, or one article without sentence ends), asked with reading bounded (the shipped code)
and with the bound lifted, in one run.

    python bench/experiments/huge_passage.py
"""

from __future__ import annotations

import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(__file__).resolve().parent.parent))  # bench/: common and the product benchmarks

import tempfile
import time
from pathlib import Path

from common import ROOT  # first: this checkout's qa, models offline

import qa.asking
from qa.articles import Article
from qa.engine import Engine
from qa.passages import Passage


def main() -> None:
    index = Path(tempfile.mkdtemp()) / "index"
    engine = Engine.build([ROOT / "seeds"], index)
    text = "the harbour office logged grain ships " * 60_000 + "The harbour master is Ilse Varga."
    vector = engine.embedder.encode(["the harbour office logged grain ships"])
    engine.index.add(
        [Article("huge", "Harbour log", text)],
        [Passage("huge:0", "huge", text, 0, len(text))],
        vector,
        encoder=engine.embedder.encoder,
    )
    engine.ask("Who leads next week's talks?")  # models loaded
    bounded = qa.asking.CHARS_PER_WORD
    for label, chars_per_word in (("reading bounded (shipped)", bounded), ("bound lifted", 10**6)):
        qa.asking.CHARS_PER_WORD = chars_per_word
        start = time.perf_counter()
        result = engine.ask("Which ships did the harbour office log?", retrieval="bm25", top_k=5)
        print(
            f"{label}: {time.perf_counter() - start:.2f} s for one question ({len(result.passages)} passages)"
        )
    qa.asking.CHARS_PER_WORD = bounded


if __name__ == "__main__":
    main()
