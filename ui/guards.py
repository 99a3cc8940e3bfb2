"""Which web pages may talk to `qa serve`: its own page, and the origins its user names with --allow-origin.

A browser sends `Origin` with every cross-site POST, including the "simple" ones that need no preflight (a
form, or `fetch(..., {mode: "no-cors"})` with a multipart body), so any page a user visits could otherwise
write to a server on their own machine. Two guards:

- `OriginGuard` (ASGI middleware) refuses every request that could change something (any method but GET,
  HEAD and OPTIONS) from a foreign origin, on loopback too, and makes the page's sign-in cookie SameSite=Lax.
- `StrictCORS` replaces Gradio's CORS middleware, which reflects any origin with credentials on a public
  host name: cross-origin reads are allowed only to the origins named with --allow-origin.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from gradio import route_utils, routes
from starlette.datastructures import Headers, MutableHeaders

from ui.api import failure

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ORIGIN = re.compile(r"https?://[a-z0-9.\-]+(:\d{1,5})?|https?://\[[0-9a-f:.]+\](:\d{1,5})?")


def parse_origin(text: str) -> str:
    """An --allow-origin value as browsers send it (scheme://host[:port], lower case), or ValueError."""
    origin = text.strip().rstrip("/").lower()
    if not ORIGIN.fullmatch(origin):
        raise ValueError(
            f"{text!r} is not an origin; write it as a browser sends it, e.g. https://news.example.com"
        )
    return origin


def own_origin(origin: str, headers: Headers) -> bool:
    """Whether `origin` is the server's own address as the request reached it (Host, or a proxy's
    X-Forwarded-Host, which a page cannot set without a preflight)."""
    try:
        netloc = urlsplit(origin).netloc.lower()
    except ValueError:
        return False
    hosts = {
        headers.get("host", "").lower(),
        headers.get("x-forwarded-host", "").split(",")[0].strip().lower(),
    }
    return bool(netloc) and netloc in hosts


def foreign(headers: Headers, allowed: frozenset[str]) -> str | None:
    """The foreign origin a request comes from (neither the server's own nor allowed), else None."""
    origin = headers.get("origin")
    if (
        origin is None
    ):  # programs (curl, scripts) send none; a browser says where a cross-site request is from
        return "another site" if headers.get("sec-fetch-site") == "cross-site" else None
    if origin.lower() in allowed or own_origin(origin, headers):
        return None
    return origin[:100]


class OriginGuard:
    """ASGI middleware: changes only from the page's own origin (or an allowed one); the sign-in cookie Lax."""

    def __init__(self, app: Any, allowed: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = foreign(headers, self.allowed) if scope["method"] not in SAFE_METHODS else None
        if origin is not None:
            response = failure(
                f"Refused a change sent from {origin}: this server takes changes only from its own page "
                "and from programs; name a trusted site with `qa serve --allow-origin URL`.",
                403,
                2,
            )
            await response(scope, receive, send)
            return

        async def lax_cookies(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                outgoing = MutableHeaders(scope=message)
                cookies = outgoing.getlist("set-cookie")
                if any("samesite=none" in c.lower() for c in cookies):
                    del outgoing["set-cookie"]
                    for cookie in cookies:
                        outgoing.append("set-cookie", re.sub(r"(?i)samesite=none", "SameSite=lax", cookie))
            await send(message)

        await self.app(scope, receive, lax_cookies)


class StrictCORS(route_utils.CustomCORSMiddleware):
    """Gradio's CORS middleware answering only the origins named with --allow-origin (`allowed`): to any other
    origin it adds no CORS header, so a foreign page cannot read an answer, signed in or not."""

    allowed: frozenset[str] = frozenset()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            origin = Headers(scope=scope).get("origin")
            if origin is not None and origin.lower() not in self.allowed:
                await self.app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def is_valid_origin(self, request_headers: Headers) -> bool:
        return request_headers["Origin"].lower() in self.allowed


def install_cors(allowed: frozenset[str]) -> None:
    """Make the pages Gradio builds from now on in this process use StrictCORS with these origins."""
    StrictCORS.allowed = allowed
    setattr(routes, "CustomCORSMiddleware", StrictCORS)  # noqa: B010 (replacing Gradio's, which it looks up here)


class UploadGuard:
    """ASGI middleware over Gradio's own upload route (/gradio_api/upload), which takes files for any signed-in
    visitor and keeps them until the server stops: closed on a read-only page (nothing there takes a file), and
    elsewhere a request's body at most `most_bytes` (the page's --max-files files of --max-upload-mb each)."""

    def __init__(self, app: Any, read_only: bool, most_bytes: int) -> None:
        self.app = app
        self.read_only = read_only
        self.most_bytes = most_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = str(scope.get("path", "")).rstrip("/")
        if scope["type"] == "http" and scope["method"] == "POST" and path.endswith("gradio_api/upload"):
            length = Headers(scope=scope).get("content-length", "")
            if self.read_only:
                line, status = "This page is read-only: it takes no files; add articles with `qa index`.", 403
            elif not length.isdigit() or int(length) > self.most_bytes:
                line, status = (
                    f"An upload may send at most {self.most_bytes // 2**20} MB at once (the page's --max-files "
                    "files of --max-upload-mb each); upload the files in parts.",
                    413,
                )
            else:
                await self.app(scope, receive, send)
                return
            await failure(line, status, 2)(scope, receive, send)
            return
        await self.app(scope, receive, send)
