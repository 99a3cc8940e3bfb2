"""The engine as tools for programs: ask, search and list the articles, answered as small JSON-ready dicts.

The HTTP API (ui/api.py), the page's MCP server (`qa serve --mcp`) and `qa mcp` (stdio) all call these
same methods, so every surface takes the same parameters and gives the same fields. Results are kept
small enough for a language model's context: the answer, its confidence and the one sentence it is
cited from, never whole passages unless a search asks for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from qa.answers import Answer, Result
from qa.articles import Article, plain, read_date
from qa.engine import Engine
from qa.errors import InputError, NotFound
from qa.retrieval import Filters, Hit

NOT_SAID = "The articles don't say."
PAGE_MOST = 200  # list_articles returns at most this many articles per call
PASSAGE_CHARACTERS = 600  # a searched passage is cut to this many characters


def filters_from(since: str = "", until: str = "", source: str = "", as_of: str = "") -> Filters | None:
    """Filters from typed text (page boxes, API and tool parameters); a date that cannot be read is refused."""
    source = plain(source, "Source:") if isinstance(source, str) else source
    filters = Filters(
        sources=[str(source).strip()] if source and str(source).strip() else [],
        date_from=read_date(since, "Published since:"),
        date_to=read_date(until, "Published until:"),
        as_of=read_date(as_of, "Asked as of:"),
    )
    return filters if filters else None


def whole_number(value: object, name: str, low: int, high: int) -> int:
    """`value` as an int in [low, high] ("5", 5.0 and 5 alike); InputError in one line otherwise."""
    try:
        number = float(value)  # type: ignore[arg-type]
        whole = int(number)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{name} must be a whole number from {low} to {high}, not {value!r}.") from None
    if isinstance(value, bool) or number != whole or not low <= whole <= high:
        raise InputError(f"{name} must be a whole number from {low} to {high}, not {value!r}.")
    return whole


def citation_of(answer: Answer) -> dict[str, Any]:
    c = answer.citation
    return {
        "sentence": c.sentence,
        "article_id": c.article_id,
        "title": c.title,
        "date": c.date,
        "source": c.source,
        "url": c.url,
        "start": c.sentence_start,
        "end": c.sentence_end,
    }


def answer_view(result: Result, others: int = 3) -> dict[str, Any]:
    """The answer, its confidence and cited sentence, a few other candidates; or that the articles don't say."""
    best, likely = result.best, result.likely
    view: dict[str, Any] = {
        "question": result.question,
        "tier": result.tier,
        "answer": best.text if best else None,
        "confidence": round(best.confidence, 3) if best else None,
        "confident": result.confident if best else False,
        "citation": citation_of(best) if best else None,
        "says": None if best else NOT_SAID,
        # shown as "probably ...": the best answer when it is not sure enough to give, but sure enough to show
        "likely": {
            "text": likely.text,
            "confidence": round(likely.confidence, 3),
            "citation": citation_of(likely),
        }
        if likely and not best
        else None,
        "asked_as_of": result.asked_as_of,
        "other_answers": [
            {
                "text": a.text,
                "confidence": round(a.confidence, 3),
                "title": a.citation.title,
                "date": a.citation.date,
            }
            for a in result.answers[1 if best or likely else 0 :][:others]
        ],
    }
    if result.left_out:
        view["left_out"] = result.left_out
    return view


def passage_view(hit: Hit) -> dict[str, Any]:
    text = hit.passage.text
    return {
        "text": text if len(text) <= PASSAGE_CHARACTERS else text[:PASSAGE_CHARACTERS] + "…",
        "article_id": hit.article.id,
        "title": hit.article.title,
        "date": hit.article.date,
        "source": hit.article.source,
        "url": hit.article.url,
        "start": hit.passage.start,
        "end": hit.passage.end,
        "score": round(float(hit.score), 4),
    }


def article_view(article: Article, passages: int) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "date": article.date,
        "source": article.source,
        "url": article.url,
        "passages": passages,
    }


class Tools:
    """The tools over one engine. `asker` answers questions: the engine, or the page's shared batcher."""

    def __init__(self, engine: Engine, asker: Callable[..., Result] | None = None) -> None:
        self.engine = engine
        self.asker = asker or engine.ask

    def ask(
        self,
        question: str,
        as_of: str = "",
        since: str = "",
        until: str = "",
        source: str = "",
        top_k: int = 5,
    ) -> dict[str, Any]:
        """Answer a question from the indexed news articles, citing the sentence the answer comes from.

        Args:
            question: the question, in plain words, e.g. "Who won the election in Poland?"
            as_of: ask as on this day (YYYY-MM-DD): nothing published after it is searched, and words such
                as "this week" or "latest" are read against it. Empty: today.
            since: search only articles published on or after this date (YYYY-MM-DD). Empty: no bound.
            until: search only articles published on or before this date (YYYY-MM-DD). Empty: no bound.
            source: search only articles from this source (e.g. "CNN"), without regard to case. Empty: all.
            top_k: how many passages to read, 1 to 20 (default 5).

        Returns:
            answer (or null, with says "The articles don't say."), confidence (0 to 1), citation (the
            sentence, article title, date, source, url), other_answers.
        """
        result = self.asker(
            question,
            top_k=whole_number(top_k, "top_k", 1, 20),
            filters=filters_from(since, until, source, as_of),
        )
        return answer_view(result)

    def search(
        self,
        query: str,
        as_of: str = "",
        since: str = "",
        until: str = "",
        source: str = "",
        limit: int = 5,
    ) -> list[dict[str, Any]]:
        """Find the passages of the indexed news articles that best match a query (hybrid BM25 and dense search).

        Args:
            query: what to look for, as a question or keywords.
            as_of: search as on this day (YYYY-MM-DD): nothing published after it. Empty: everything.
            since: only articles published on or after this date (YYYY-MM-DD). Empty: no bound.
            until: only articles published on or before this date (YYYY-MM-DD). Empty: no bound.
            source: only articles from this source, without regard to case. Empty: all.
            limit: how many passages, 1 to 20 (default 5).

        Returns:
            passages best first, each with its text (cut to 600 characters), article title, date, source,
            url and the passage's character offsets in the article.
        """
        hits = self.engine.search(
            query,
            top_k=whole_number(limit, "limit", 1, 20),
            filters=filters_from(since, until, source, as_of),
        )
        return [passage_view(h) for h in hits]

    def search_articles(
        self,
        query: str = "",
        as_of: str = "",
        since: str = "",
        until: str = "",
        source: str = "",
        limit: int = 20,
        sort: str = "relevance",
        like: str = "",
    ) -> dict[str, Any]:
        """Search the news like a desk: the articles that best match, grouped, with counts by source and day.

        Args:
            query: what to look for, as a question or keywords (or empty with `like`).
            as_of: search as on this day (YYYY-MM-DD): nothing published after it. Empty: everything.
            since: only articles published on or after this date (YYYY-MM-DD). Empty: no bound.
            until: only articles published on or before this date (YYYY-MM-DD). Empty: no bound.
            source: only articles from this source, without regard to case. Empty: all.
            limit: how many passages to look at, 1 to 50 (default 20); their articles are returned.
            sort: "relevance" (default) or "date" (newest first).
            like: an article's id: find articles like it (its title and opening are the query; it is left out).

        Returns:
            articles (each with title, date, source, url, its passages' snippets with the query's words marked,
            and its story: the id of the best-placed article found that tells the same story, which lists the
            others in same_story), and facets: articles by source and by day (a date histogram), stories,
            undated, without source.
        """
        from qa.desk import facets, group_by_article, mark_stories

        filters = filters_from(since, until, source, as_of)
        if like:
            found = self.engine.article(like)
            if found is None:
                raise NotFound(f"No article has the id {like!r}; list_articles lists them.")
            query = f"{found.title}. {found.text[:400]}"
            filters = replace(filters or Filters(), exclude=[*(filters.exclude if filters else []), like])
        if not query.strip():
            raise InputError("Give a query to search for, or an article's id to find articles like it.")
        hits = self.engine.search(query, top_k=whole_number(limit, "limit", 1, 50), filters=filters)
        articles = group_by_article(hits, query, sort)
        mark_stories(articles, self.engine.index.story_keys([a["article_id"] for a in articles]))
        return {"query": query, "sort": sort, "articles": articles, "facets": facets(articles)}

    def article(self, article_id: str) -> dict[str, Any]:
        """One article: its text and what is known of it (id, title, date, source, url, passages).

        Args:
            article_id: the article's id, as list_articles gives it.
        """
        if not isinstance(article_id, str) or not article_id.strip():
            raise InputError("Give an article's id, as list_articles lists them.")
        found = self.engine.article(article_id)
        if found is None:
            raise NotFound(f"No article has the id {article_id[:200]!r}; list_articles lists them.")
        return {
            **article_view(found, self.engine.passage_counts([article_id]).get(article_id, 0)),
            "text": found.text,
        }

    def list_articles(
        self,
        since: str = "",
        until: str = "",
        source: str = "",
        offset: int = 0,
        limit: int = 20,
    ) -> dict[str, Any]:
        """List the indexed news articles, newest first, a page at a time.

        Args:
            since: only articles published on or after this date (YYYY-MM-DD). Empty: no bound.
            until: only articles published on or before this date (YYYY-MM-DD). Empty: no bound.
            source: only articles from this source, without regard to case. Empty: all.
            offset: how many matching articles to skip (for the next page), 0 or more.
            limit: how many articles to return, 1 to 200 (default 20).

        Returns:
            total (matching articles), offset, and articles: each id, title, date, source, url, passages.
        """
        offset = whole_number(offset, "offset", 0, 10**12)
        limit = whole_number(limit, "limit", 1, PAGE_MOST)
        filters = filters_from(since, until, source)
        kept = self.engine.articles(text=False, filters=filters)
        kept.sort(key=lambda a: (a.date or "", a.id), reverse=True)
        page = kept[offset : offset + limit]
        counts = self.engine.passage_counts([a.id for a in page])
        return {
            "total": len(kept),
            "offset": offset,
            "articles": [article_view(a, counts.get(a.id, 0)) for a in page],
        }
