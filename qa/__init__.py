"""Extractive question answering over your own news articles, with citations.

from qa import Engine
engine = Engine.build(["my-articles/"], "index")
result = engine.ask("Who leads next week's talks?")
"""

from __future__ import annotations

from typing import Any

__all__ = ["Answer", "Article", "Config", "Engine", "Passage", "Result"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so that `qa --help` and reader training need neither FAISS nor Gradio.
    if name == "Engine":
        from qa.engine import Engine

        return Engine
    if name in ("Answer", "Result"):
        from qa import answers

        return getattr(answers, name)
    if name == "Article":
        from qa.articles import Article

        return Article
    if name == "Passage":
        from qa.passages import Passage

        return Passage
    if name == "Config":
        from qa.config import Config

        return Config
    raise AttributeError(name)
