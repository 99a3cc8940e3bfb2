"""The page's Search tab: the news desk's view of a search (qa.desk through qa.tools.Tools.search_articles).

Articles grouped, each with its snippets (the query's words marked), sorted by relevance or date; a date
histogram of the articles found and the day and source to narrow them to; "more like this" on any article;
the as-of day shared with the Ask tab.
"""

from __future__ import annotations

import html
import logging
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
    parts = [
        f"<p class='meta' id='found'>{len(articles)} article{'s' if len(articles) != 1 else ''}"
        + (f" from {sources} source{'s' if sources != 1 else ''}" if sources else "")
        + (f", {counted['undated']} undated" if counted["undated"] else "")
        + f"; sorted by {html.escape(view['sort'])}</p>"
    ]
    for article in articles:
        title = html.escape(article["title"] or article["article_id"])
        url = article.get("url") or ""
        if url.startswith(("http://", "https://")):
            title = f"<a href='{html.escape(url)}' target='_blank' rel='noopener noreferrer'>{title}</a>"
        meta = " · ".join(html.escape(str(x)) for x in (article["date"], article["source"]) if x)
        snippets = "".join(f"<p class='snippet'>{p['snippet']}</p>" for p in article["passages"][:2])
        parts.append(
            f"<div class='result' data-id='{html.escape(article['article_id'])}'><h4>{title}</h4>"
            f"<p class='meta'>{meta}</p>{snippets}</div>"
        )
    return "".join(parts)


def histogram_rows(view: dict[str, Any]) -> Any:
    """The date histogram's data: articles found per day (pandas, as Gradio's BarPlot takes it)."""
    import pandas as pd

    return pd.DataFrame(view["facets"]["days"], columns=["day", "articles"])


class SearchHandler:
    """What the Search tab's buttons do; each failure is shown as its one line."""

    def __init__(self, service: PageService) -> None:
        self.service = service

    def search(
        self, query: str, sort: str, source: str | None, day: str | None, as_of: str, like: str = ""
    ) -> tuple:
        try:
            view = self.service.tools.search_articles(
                query=query or "",
                as_of=as_of or "",
                since=day or "",
                until=day or "",
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
        return self.search("", sort, source, None, as_of, like)


def search_tab(service: PageService, as_of: Any) -> None:
    """The Search tab, wired; `as_of` is the Ask tab's "Asked as of" box, which searches share."""
    handler = SearchHandler(service)
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
    histogram = gr.BarPlot(
        x="day", y="articles", title="Articles found, by day", elem_id="histogram", visible=False, height=220
    )
    results = gr.HTML(elem_id="search-results")
    with gr.Row():
        like = gr.Dropdown([], value=None, label="An article found", elem_id="like", scale=4)
        more = gr.Button("More like this", elem_id="more-like", scale=1)
    shown = [results, histogram, day, like]
    # .input: a person's change only (the handler's own updates of these boxes trigger nothing)
    for trigger in (go.click, query.submit, sort.input, source.input, day.input):
        trigger(handler.search, [query, sort, source, day, as_of], shown, api_visibility="undocumented")
    more.click(handler.more_like, [like, sort, source, as_of], shown, api_visibility="undocumented")
