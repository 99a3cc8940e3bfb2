"""The page's Search tab: the news desk's view of a search (qa.desk through qa.tools.Tools.search_articles).

Articles grouped, each with its snippets (the query's words marked), sorted by relevance or date; a date
histogram of the articles found and the day and source to narrow them to; "more like this" on any article;
the as-of day shared with the Ask tab.
"""

from __future__ import annotations

import datetime
import html
import logging
import math
from typing import Any

import gradio as gr

from qa.errors import QAError, one_line
from ui.service import PageService

logger = logging.getLogger(__name__)
PASSAGES_LOOKED_AT = 30  # the search's best passages whose articles are shown and counted


def render_results(view: dict[str, Any]) -> str:
    """The articles found, as HTML: title (a link where the article has a web url), date · source, snippets."""
    articles = view["articles"]
    if not articles:
        return (
            "<p class='dont-know' id='no-results'>Nothing in the articles matches; "
            "try other words or fewer filters.</p>"
        )
    counted = view["facets"]
    sources = len(counted["sources"])
    stories = counted.get("stories", len(articles))
    parts = [
        f"<p class='meta' id='found'>{len(articles)} article{'s' if len(articles) != 1 else ''}"
        + (f" ({stories} {'stories' if stories != 1 else 'story'})" if stories != len(articles) else "")
        + (f" from {sources} source{'s' if sources != 1 else ''}" if sources else "")
        + (f", {counted['undated']} undated" if counted["undated"] else "")
        + f"; sorted by {html.escape(view['sort'])}</p>"
    ]
    by_id = {a["article_id"]: a for a in articles}
    for article in articles:
        if article.get("story", article["article_id"]) != article["article_id"]:
            continue  # shown under its story's lead
        title = html.escape(article["title"] or article["article_id"])
        url = article.get("url") or ""
        if url.startswith(("http://", "https://")):
            title = f"<a href='{html.escape(url)}' target='_blank' rel='noopener noreferrer'>{title}</a>"
        meta = " · ".join(html.escape(str(x)) for x in (article["date"], article["source"]) if x)
        snippets = "".join(f"<p class='snippet'>{p['snippet']}</p>" for p in article["passages"][:2])
        parts.append(
            f"<div class='result' data-id='{html.escape(article['article_id'])}'><h4>{title}</h4>"
            f"<p class='meta'>{meta}</p>{snippets}{same_story(article, by_id)}</div>"
        )
    return "".join(parts)


def same_story(lead: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> str:
    """The other articles of a lead's story, one line: title (date · source) each."""
    others = [by_id[i] for i in lead.get("same_story", []) if i in by_id]
    if not others:
        return ""
    told = ", ".join(
        f"<span data-id='{html.escape(a['article_id'])}'>{html.escape(a['title'] or a['article_id'])}"
        + (
            f" ({html.escape(' · '.join(str(x) for x in (a['date'], a['source']) if x))})"
            if a["date"] or a["source"]
            else ""
        )
        + "</span>"
        for a in others
    )
    return f"<p class='meta same-story'>Same story: {told}</p>"


def days_brushed(start: float, end: float) -> tuple[str, str]:
    """The days a drag across the date histogram covers: the histogram's seconds (a day's bar stands at its
    midnight, UTC) → the first and last day whose bar is inside it, within a quarter of a day; a drag
    between two bars gives the day nearest its middle."""
    low, high = sorted((float(start), float(end)))
    day, slack = 86_400, 21_600
    first, last = math.ceil((low - slack) / day), math.floor((high + slack) / day)
    if first > last:
        first = last = round((low + high) / 2 / day)
    epoch = datetime.date(1970, 1, 1)
    return tuple(str(epoch + datetime.timedelta(days=d)) for d in (first, last))  # type: ignore[return-value]


def histogram_rows(view: dict[str, Any]) -> Any:
    """The date histogram's data: articles found per day (pandas, as Gradio's BarPlot takes it)."""
    import pandas as pd

    rows = pd.DataFrame(view["facets"]["days"], columns=["day", "articles"])
    rows["day"] = pd.to_datetime(rows["day"])  # a time axis: a drag across it gives a range of days
    return rows


class SearchHandler:
    """What the Search tab's buttons do; each failure is shown as its one line."""

    def __init__(self, service: PageService) -> None:
        self.service = service

    def search(
        self,
        query: str,
        sort: str,
        source: str | None,
        day: str | None,
        since: str,
        until: str,
        as_of: str,
        like: str = "",
    ) -> tuple:
        try:
            view = self.service.tools.search_articles(
                query=query or "",
                as_of=as_of or "",
                since=day or since or "",
                until=day or until or "",
                source=source or "",
                limit=PASSAGES_LOOKED_AT,
                sort=sort or "relevance",
                like=like or "",
            )
        except Exception as exc:  # QAError's one line, or a bug's, never Gradio's generic error
            if not isinstance(exc, QAError):
                logger.exception("The search failed")
            line = html.escape(one_line(exc))
            return (
                f"<div class='error' id='search-error'>{line}</div>",
                gr.update(visible=False),
                gr.update(),
                gr.update(),
            )
        days = [d["day"] for d in view["facets"]["days"]]
        most = max((d["articles"] for d in view["facets"]["days"]), default=1)
        return (
            render_results(view),
            gr.update(value=histogram_rows(view), visible=bool(days), y_lim=[0, most]),
            gr.update(choices=days if not day else [day, *[d for d in days if d != day]], value=day),
            gr.update(
                choices=[(a["title"] or a["article_id"], a["article_id"]) for a in view["articles"]],
                value=None,
            ),
        )

    def more_like(self, like: str | None, sort: str, source: str | None, as_of: str) -> tuple:
        if not like:
            return (
                "<div class='error' id='search-error'>Choose an article to find more like it.</div>",
                gr.update(),
                gr.update(),
                gr.update(),
            )
        return self.search("", sort, source, None, "", "", as_of, like)

    def narrow(self, query: str, sort: str, source: str | None, as_of: str, evt: gr.SelectData) -> tuple:
        """A drag across the date histogram: its days become the search's dates, and it searches again."""
        try:
            since, until = days_brushed(*evt.index)
        except (TypeError, ValueError, OverflowError):
            return (gr.update(), gr.update(), *self.search(query, sort, source, None, "", "", as_of))
        return (since, until, *self.search(query, sort, source, None, since, until, as_of))

    def widen(self, query: str, sort: str, source: str | None, as_of: str) -> tuple:
        """A double click on the histogram: every day again."""
        return ("", "", *self.search(query, sort, source, None, "", "", as_of))


def search_tab(service: PageService, as_of: Any) -> dict[str, Any]:
    """The Search tab, wired; `as_of` is the Ask tab's "Asked as of" box, which searches share. Returns its
    date boxes (whose placeholders follow the library)."""
    handler = SearchHandler(service)
    first, last = service.date_range()
    with gr.Row():
        query = gr.Textbox(
            label="Search the news",
            placeholder="Budapest summit",
            elem_id="search-query",
            scale=5,
            max_length=1000,
        )
        go = gr.Button("Search", variant="primary", elem_id="search", scale=1)
    with gr.Row():
        sort = gr.Radio(["relevance", "date"], value="relevance", label="Sort by", elem_id="sort")
        source = gr.Dropdown(
            service.sources(), value=None, label="Source", allow_custom_value=True, elem_id="search-source"
        )
        day = gr.Dropdown(
            [], value=None, label="Only this day", elem_id="search-day", info="a day of the histogram"
        )
        since = gr.Textbox(
            label="From", placeholder=first or "2025-10-01", elem_id="search-since", max_length=40
        )
        until = gr.Textbox(
            label="To", placeholder=last or "2025-10-31", elem_id="search-until", max_length=40
        )
    histogram = gr.BarPlot(
        x="day",
        y="articles",
        title="Articles found, by day (drag across days to narrow to them; double-click for all)",
        elem_id="histogram",
        visible=False,
        height=220,
    )
    results = gr.HTML(elem_id="search-results")
    with gr.Row():
        like = gr.Dropdown([], value=None, label="An article found", elem_id="like", scale=4)
        more = gr.Button("More like this", elem_id="more-like", scale=1)
    shown = [results, histogram, day, like]
    hidden: Any = "undocumented"
    # .input: a person's change only (the handler's own updates of these boxes trigger nothing)
    for trigger in (go.click, query.submit, sort.input, source.input, day.input, since.submit, until.submit):
        trigger(handler.search, [query, sort, source, day, since, until, as_of], shown, api_visibility=hidden)
    more.click(handler.more_like, [like, sort, source, as_of], shown, api_visibility=hidden)
    histogram.select(
        handler.narrow, [query, sort, source, as_of], [since, until, *shown], api_visibility=hidden
    )
    histogram.double_click(
        handler.widen, [query, sort, source, as_of], [since, until, *shown], api_visibility=hidden
    )
    return {"since": since, "until": until}
