"""Fetching a feed's pages (qa/fetching.py, `--fetch-pages`): refused addresses (fast, no network), and a real
HTTP server on this machine for what a fetch does (slow tier: a server)."""

from __future__ import annotations

import http.server
import logging
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.articles import read_feed_file
from qa.errors import InputError
from qa.fetching import PAGE_MOST_BYTES, CheckedRedirects, fetch_page, refusal


@pytest.mark.parametrize(
    "url, why",
    [
        ("file:///etc/passwd", "only http and https"),
        ("ftp://example.com/a", "only http and https"),
        ("http:///no-host", "only http and https"),
        ("http://127.0.0.1:8080/admin", "is at 127.0.0.1, not a public address"),
        ("http://localhost/", "not a public address"),
        ("http://10.1.2.3/", "is at 10.1.2.3, not a public address"),
        ("http://192.168.0.1/", "not a public address"),
        ("http://169.254.169.254/latest/meta-data/", "is at 169.254.169.254, not a public address"),
        ("http://[::1]/", "is at ::1, not a public address"),
        ("http://0.0.0.0/", "not a public address"),
        ("http://224.0.0.1/", "not a public address"),
    ],
)
def test_a_page_is_fetched_only_over_http_from_a_public_address(url: str, why: str):
    assert why in (refusal(url) or "")
    with pytest.raises(InputError, match=why.split(",")[0]):
        fetch_page(url)


def test_a_public_address_is_accepted():
    assert refusal("http://93.184.216.34/story.html") is None  # a literal address: no name to look up


def test_a_redirect_to_this_machine_is_refused_even_from_a_public_page():
    request = urllib.request.Request("http://93.184.216.34/story.html")
    with pytest.raises(InputError, match="redirects to http://127.0.0.1/secret: its host 127.0.0.1 is at"):
        CheckedRedirects(private_ok=False).redirect_request(
            request, None, 302, "Found", {}, "http://127.0.0.1/secret"
        )


class Pages(http.server.BaseHTTPRequestHandler):
    """A story, a file that is not HTML, one too large, one that drips, a redirect, and a 404."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        Pages.seen.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/story")
            self.end_headers()
            return
        kinds = {"/story": "text/html; charset=utf-8", "/data": "application/pdf", "/huge": "text/html"}
        if self.path == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"<p>")
                self.wfile.flush()
                time.sleep(0.1)
            return
        if self.path not in kinds:
            self.send_error(404)
            return
        body = STORY if self.path != "/huge" else b"<p>" + b"x" * (PAGE_MOST_BYTES + 10)
        self.send_response(200)
        self.send_header("Content-Type", kinds[self.path])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


STORY = (
    b"<html><head><title>Kiel harbour reopens</title></head><body><nav>Home | World</nav><article>"
    b"<h1>Kiel harbour reopens</h1><p>The harbour of Kiel reopened on Monday after a storm had closed it for "
    b"three days, the port authority said. Ferries to Oslo and Gothenburg resumed their schedules in the "
    b"afternoon, and the first grain ship of the week was unloaded by evening.</p></article></body></html>"
)


@pytest.fixture(scope="module")
def pages() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.slow
def test_what_a_fetch_takes_and_refuses(pages: str):
    assert "The harbour of Kiel reopened" in fetch_page(pages + "/story", private_ok=True)
    assert "Kiel harbour reopens" in fetch_page(pages + "/redirect", private_ok=True)
    for path, why in (
        ("/data", "it is not a web page (application/pdf)"),
        ("/huge", "larger than 4 MB; not read"),
        ("/missing", "the server answered 404"),
    ):
        with pytest.raises(InputError, match=f"^{why.replace('(', '.').replace(')', '.')}"):
            fetch_page(pages + path, private_ok=True)
    started = time.monotonic()
    with pytest.raises(InputError, match="no whole answer within 1 s"):
        fetch_page(pages + "/drip", deadline=1.0, private_ok=True)
    assert time.monotonic() - started < 3
    with pytest.raises(InputError, match="not a public address"):  # without the tests' leave: refused
        fetch_page(pages + "/story")


@pytest.mark.slow
def test_a_feed_keeps_its_own_text_where_a_page_is_refused_and_fetches_nothing_unless_asked(
    pages: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    feed = tmp_path / "news.xml"
    feed.write_text(
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Harbour Wire</title><item>"
        f"<title>Kiel harbour reopens</title><link>{pages}/story</link>"
        "<description>The harbour reopened.</description></item></channel></rss>"
    )
    Pages.seen.clear()
    (plain,) = read_feed_file(feed)
    assert plain.text == "The harbour reopened." and Pages.seen == []  # nothing fetched unless asked
    with caplog.at_level(logging.WARNING, logger="qa.articles"):
        (kept,) = read_feed_file(feed, fetch_pages=True)
    # the link is on this machine: refused before any request, and the feed's text kept, said in one line
    assert kept.text == "The harbour reopened." and Pages.seen == []
    assert "page not fetched (its host 127.0.0.1 is at 127.0.0.1, not a public address)" in caplog.text
