"""Fetching from the web, bounded: a feed the user named, and (opted in) the pages a feed's entries link to.

Every download has a deadline for the whole of it (a server that drips one byte at a time costs at most that)
and a size cap. A page a feed links to is untrusted twice over — the feed chose its address — so it is fetched
only over http(s), from a host whose every address is public (never this machine, a private network, a
link-local or a multicast address), following at most three redirects, each checked again, and only when it
answers HTML. Nothing here writes a file.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from qa.errors import InputError

PAGE_MOST_BYTES = 4 * 1024 * 1024  # a fetched page is read up to this size
PAGE_DEADLINE = 20.0  # seconds one page's whole download may take
READ_TIMEOUT = 10.0  # seconds a server may stay silent
MOST_REDIRECTS = 3


def refusal(url: str) -> str | None:
    """Why a page at `url` may not be fetched (one line), or None: http(s) only, to a public host."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "only http and https pages are fetched"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError, UnicodeError) as exc:
        return f"its host cannot be found ({exc})"
    for *_, address in found:
        ip = ipaddress.ip_address(str(address[0]).split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            return f"its host {parts.hostname} is at {ip}, not a public address"
    return None


class CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follows at most MOST_REDIRECTS redirects, each to an address `refusal` accepts."""

    max_redirections = MOST_REDIRECTS

    def __init__(self, private_ok: bool) -> None:
        self.private_ok = private_ok

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        why = None if self.private_ok and newurl.startswith(("http://", "https://")) else refusal(newurl)
        if why:
            raise InputError(f"it redirects to {newurl[:200]}: {why}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download_at_most(url: str, until: float, most: int, opener: Any = None) -> tuple[bytes, str]:
    """The body at `url`, up to one byte over `most`, and its content type; TimeoutError once the clock passes
    `until` (a slow sender is timed between reads)."""
    left = max(0.1, min(READ_TIMEOUT, until - time.monotonic()))
    with opener.open(url, timeout=left) if opener else urllib.request.urlopen(url, timeout=left) as response:
        chunks: list[bytes] = []
        size = 0
        while size <= most:
            if time.monotonic() > until:
                raise TimeoutError(url)
            chunk = response.read1(1 << 16)  # whatever has arrived
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks), str(response.headers.get("content-type", ""))


def within(deadline: float, work: Any) -> Any:
    """`work()` on a thread of its own, given `deadline` seconds in all; its exception is raised here, and
    TimeoutError when it has not finished by then."""
    got: dict[str, Any] = {}

    def run() -> None:
        try:
            got["value"] = work()
        except BaseException as exc:  # handed to the caller
            got["error"] = exc

    worker = threading.Thread(target=run, name="qa-fetch", daemon=True)
    worker.start()
    worker.join(deadline + 1)
    if worker.is_alive():
        raise TimeoutError(f"no whole answer within {deadline:g} s")
    if "error" in got:
        raise got["error"]
    return got["value"]


def fetch_page(url: str, deadline: float = PAGE_DEADLINE, private_ok: bool = False) -> str:
    """The HTML of the page at `url`, or InputError in one line saying why not (refused address, timeout,
    too large, not HTML, HTTP error). `private_ok` lets tests fetch from this machine; nothing else sets it."""
    why = None if private_ok else refusal(url)
    if why:
        raise InputError(why)
    opener = urllib.request.build_opener(CheckedRedirects(private_ok))
    try:
        body, kind = within(
            deadline, lambda: download_at_most(url, time.monotonic() + deadline, PAGE_MOST_BYTES, opener)
        )
    except InputError:
        raise
    except TimeoutError:
        raise InputError(f"no whole answer within {deadline:g} s") from None
    except urllib.error.HTTPError as exc:
        raise InputError(f"the server answered {exc.code} {exc.reason}") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot fetch it ({getattr(exc, 'reason', None) or exc})") from None
    if len(body) > PAGE_MOST_BYTES:
        raise InputError(f"larger than {PAGE_MOST_BYTES // (1024 * 1024)} MB; not read")
    if "html" not in kind.lower():
        raise InputError(f"it is not a web page ({kind.split(';')[0] or 'no content type'})")
    return body.decode("utf-8", errors="replace")
