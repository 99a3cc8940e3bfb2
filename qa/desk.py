"""The news desk's view of a search: the passages found, grouped by article, with facets a person narrows by.

`Engine.search` gives passages best first (one per story: syndicated copies are folded by retrieval). A desk
wants articles: each with its title, date, source, link and its matching passages, the words of the query
marked in a snippet; sorted by relevance or by date; and counts to narrow by: how many of the articles found
come from each source and from each day (a date histogram), and how many stories they tell (articles that
share a story band of the store's near-duplicate search are one story). The counts are of the articles found (the
search's best `limit` passages), not of the whole archive: a search ranks, it does not filter.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from qa.answer_types import content_words
from qa.errors import InputError

if TYPE_CHECKING:
    from qa.passages import Hit

SNIPPET_CHARS = 300
SORTS = ("relevance", "date")


def snippet(text: str, words: set[str], width: int = SNIPPET_CHARS) -> str:
    """The passage around the first word of the query, cut to `width` characters, as HTML with the query's
    words marked (<mark>); everything else escaped."""
    found = [m for m in re.finditer(r"\w+", text) if m.group().lower() in words]
    start = max(0, found[0].start() - width // 3) if found else 0
    piece = text[start : start + width]
    if start:
        piece = "…" + piece.split(" ", 1)[-1]
    if start + width < len(text):
        piece = piece.rsplit(" ", 1)[0] + "…"
    marked, last = [], 0
    for m in re.finditer(r"\w+", piece):
        if m.group().lower() in words:
            marked += [html.escape(piece[last : m.start()]), f"<mark>{html.escape(m.group())}</mark>"]
            last = m.end()
    return "".join(marked) + html.escape(piece[last:])


def group_by_article(hits: list[Hit], query: str, sort: str = "relevance") -> list[dict[str, Any]]:
    """One entry per article found, in the order of its best passage (or newest first, `sort="date"`;
    undated articles last), each with its passages' snippets."""
    if sort not in SORTS:
        raise InputError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}.")
    words = content_words(query)
    groups: dict[str, dict[str, Any]] = {}
    for rank, hit in enumerate(hits):
        article = hit.article
        group = groups.setdefault(
            article.id,
            {
                "article_id": article.id,
                "title": article.title,
                "date": article.date,
                "source": article.source,
                "url": article.url,
                "story": article.copy_of or article.id,
                "rank": rank,
                "passages": [],
            },
        )
        group["passages"].append(
            {
                "snippet": snippet(hit.passage.text, words),
                "start": hit.passage.start,
                "end": hit.passage.end,
                "score": round(float(hit.score), 4),
            }
        )
    ordered = list(groups.values())
    if sort == "date":  # newest first (stable: a day's articles keep their relevance order), undated last
        dated = sorted((g for g in ordered if g["date"]), key=lambda g: str(g["date"])[:10], reverse=True)
        ordered = dated + [g for g in ordered if not g["date"]]
    return ordered


def mark_stories(articles: list[dict[str, Any]], keys: dict[str, frozenset[int]]) -> None:
    """Gather the articles found into stories: an article that shares a story band key (qa.duplicates: the
    store's near-duplicate bands) with a better-placed one belongs to that one's story. Each article's
    "story" becomes the id of its story's best-placed article, and that lead lists the others in
    "same_story" (in their order)."""
    lead_of: dict[int, str] = {}
    by_id = {a["article_id"]: a for a in articles}
    for article in sorted(articles, key=lambda a: a["rank"]):
        own = keys.get(article["article_id"], frozenset())
        lead = next((lead_of[k] for k in sorted(own) if k in lead_of), article["article_id"])
        article["story"] = lead
        article.setdefault("same_story", [])
        if lead != article["article_id"]:
            by_id[lead]["same_story"].append(article["article_id"])
        for key in own:
            lead_of.setdefault(key, lead)


def facets(articles: list[dict[str, Any]]) -> dict[str, Any]:
    """How many of the articles found come from each source (most first) and from each day (in order), and
    how many have no date or no source."""
    sources = Counter(a["source"] for a in articles if a["source"])
    days = Counter(str(a["date"])[:10] for a in articles if a["date"])
    return {
        "sources": [
            {"source": s, "articles": n} for s, n in sorted(sources.items(), key=lambda x: (-x[1], x[0]))
        ],
        "days": [{"day": d, "articles": n} for d, n in sorted(days.items())],
        "stories": len({a["story"] for a in articles}),
        "undated": sum(1 for a in articles if not a["date"]),
        "no_source": sum(1 for a in articles if not a["source"]),
    }
