"""Format 1, the index layout before 2026-11-27's storage (one folder per saved version, named by CURRENT):
read once by `qa index upgrade`, then deleted. Only names the index's own files hold are trusted."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from qa.articles import Article
from qa.errors import IndexUnusable
from qa.files import fsync, not_plain
from qa.passages import Passage

OLD_POINTER, OLD_CATALOG = "CURRENT", "versions.json"  # format 1: one folder per saved version
OLD_VERSION = re.compile(r"v\d{1,9}")


def read_format_1(folder: Path) -> tuple[list[Article], list[Passage], np.ndarray, str]:
    """The articles, passages, vectors and embedding model of an index in format 1 (for `qa index upgrade`)."""
    try:
        name = "" if not_plain(folder / OLD_POINTER) else (folder / OLD_POINTER).read_text("utf-8").strip()
    except (OSError, ValueError):
        name = ""
    version = folder / name
    if not OLD_VERSION.fullmatch(name) or version.is_symlink() or not version.is_dir():
        raise IndexUnusable(
            f"The old index in {folder} names {name[:80]!r} as its current version, which is not a "
            "version folder of its own; build a new one from the articles with `qa index build`."
        )
    names = ["manifest.json", "articles.jsonl", "passages.jsonl", "vectors.npy"]
    for n, what in [(n, not_plain(version / n)) for n in names]:
        if what:
            raise IndexUnusable(
                f"The old index in {folder} has {n} that is {what}; an upgrade reads only regular files inside "
                "the index folder. Build a new index from the articles with `qa index build`."
            )
    try:
        manifest = json.loads((version / "manifest.json").read_text())
        articles = [
            Article(**json.loads(line))
            for line in (version / "articles.jsonl").read_text("utf-8").splitlines()
        ]
        passages = [
            Passage(**json.loads(line))
            for line in (version / "passages.jsonl").read_text("utf-8").splitlines()
        ]
        vectors = np.load(version / "vectors.npy")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexUnusable(
            f"The old index in {folder} cannot be read ({type(exc).__name__}); "
            "build a new one from the articles with `qa index build`."
        ) from None
    if len(passages) != len(vectors):
        raise IndexUnusable(
            f"The old index in {folder} is inconsistent; build a new one with `qa index build`."
        )
    return articles, passages, vectors, manifest["embedding_model"]


def remove_format_1(folder: Path) -> None:
    """Delete a converted format-1 index's own files: CURRENT first, then the version folders its catalog names."""
    try:
        catalog = "" if not_plain(folder / OLD_CATALOG) else (folder / OLD_CATALOG).read_text()
        versions = json.loads(catalog)["versions"]
    except (OSError, ValueError, KeyError, TypeError):
        versions = {}
    versions = versions if isinstance(versions, dict) else {}
    pointer = folder / OLD_POINTER
    if pointer.is_file() and not not_plain(pointer):
        versions[pointer.read_text(encoding="utf-8", errors="replace").strip()] = "live"
        pointer.unlink()
        fsync(folder)
    for name in versions:
        if isinstance(name, str) and OLD_VERSION.fullmatch(name) and not (folder / name).is_symlink():
            shutil.rmtree(folder / name, ignore_errors=True)
    (folder / OLD_CATALOG).unlink(missing_ok=True)
