"""Issue 38: what a web page of another site, another signed-in user, or a crafted request can do to a running
`qa serve`: nothing it was not allowed. Real `qa serve` processes, real Chromium for the cross-site page.

Each test failed on the code before the fix (6ac858f)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, SEED_QUESTION
from test_cli import one_error_line, qa
from test_services import start_server
from test_ui import CHROMIUM, CHROMIUM_ARGS

from qa.engine import Engine
from qa.errors import Forbidden

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SEED_ID = "trump-putin-budapest-summit"
MALLORY = "Csrf Mallory will lead next week's talks in Budapest, the foreign ministry said on Friday."


def request(
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    method: str | None = None,
    user: str | None = None,
) -> tuple[int, Any, Any]:
    """(status, JSON body or text, response headers) of one request; `body` as JSON, or bytes as they are."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    if data is not None and not isinstance(body, bytes):
        req.add_header("content-type", "application/json")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    if user:
        req.add_header("authorization", "Basic " + base64.b64encode(user.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            status, raw, seen = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, seen = exc.code, exc.read(), exc.headers
    try:
        return status, json.loads(raw), seen
    except ValueError:
        return status, raw.decode(errors="replace"), seen


def multipart(name: str, text: str, replace: bool | None = None) -> tuple[bytes, str]:
    boundary = "qa-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        f"Content-Type: text/plain\r\n\r\n{text}\r\n"
    ]
    if replace is not None:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="replace"\r\n\r\n{str(replace).lower()}\r\n'
        )
    return ("".join(parts) + f"--{boundary}--\r\n").encode(), f"multipart/form-data; boundary={boundary}"


def upload(
    url: str, name: str, text: str, user: str | None = None, replace: bool | None = None, **headers: str
):
    body, kind = multipart(name, text, replace)
    return request(url + "/api/v1/files", body, {"content-type": kind, **headers}, user=user)


def titles(url: str, user: str | None = None) -> dict[str, str]:
    status, listing, _ = request(url + "/api/v1/articles?limit=100", user=user)
    assert status == 200, listing
    return {a["id"]: a["title"] for a in listing["articles"]}


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory, seed_index: Path) -> Iterator[tuple[str, Path]]:
    """The default `qa serve`: loopback, no sign-in."""
    index_dir = tmp_path_factory.mktemp("guards") / "index"
    shutil.copytree(seed_index, index_dir)
    proc, url = start_server(index_dir)
    yield url, index_dir
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def team_server(tmp_path_factory: pytest.TempPathFactory, seed_index: Path) -> Iterator[str]:
    """`qa serve --auth-file` with two users (a BOM, spaces around a colon), one trusted other site."""
    folder = tmp_path_factory.mktemp("team")
    shutil.copytree(seed_index, folder / "index")
    (folder / "team.txt").write_text("\ufeffann:secret\nbob : hunter2\n", encoding="utf-8")
    proc, url = start_server(
        folder / "index",
        "--auth-file",
        str(folder / "team.txt"),
        "--allow-origin",
        "https://desk.example.com",
    )
    yield url
    proc.terminate()
    proc.wait(timeout=30)


# ----- 2. a page of another site writing to the default qa serve ------------------------------------------

EVIL_PAGE = """<!doctype html><html><body><script>
(async () => {
  const form = new FormData();
  form.append("files", new Blob([%(text)s], {type: "text/plain"}), "mallory.txt");
  await fetch("%(target)s/api/v1/files", {method: "POST", mode: "no-cors", body: form}).catch(() => null);
  let read = "refused";
  try { read = await (await fetch("%(target)s/api/v1/articles")).text(); } catch (e) {}
  document.body.dataset.read = read;
  document.title = "sent";
})();
</script></body></html>"""


@pytest.mark.parametrize(
    "server_host, page_host",
    [("127.0.0.1", "localhost"), ("news.example.com", "evil.example")],  # loopback; a public name (item 3)
)
def test_a_page_of_another_site_can_neither_write_nor_read_in_chromium(
    open_server, tmp_path: Path, server_host: str, page_host: str
):
    playwright = pytest.importorskip("playwright.sync_api", reason="Python playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    url, _ = open_server
    target = url.replace("127.0.0.1", server_host)
    (tmp_path / "evil.html").write_text(EVIL_PAGE % {"text": json.dumps(MALLORY), "target": target})
    site = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        with playwright.sync_playwright() as p:
            rules = "MAP news.example.com 127.0.0.1, MAP evil.example 127.0.0.1"  # names of no other machine
            browser = p.chromium.launch(
                executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"]
            )
            page = browser.new_page()
            page.goto(f"http://{page_host}:{site.server_address[1]}/evil.html")  # another origin
            page.wait_for_function("document.title === 'sent'", timeout=60_000)
            read = page.evaluate("document.body.dataset.read")
            browser.close()
    finally:
        site.shutdown()
    assert read == "refused"  # no CORS header for that origin: the browser kept the library from the page
    assert "mallory" not in json.dumps(titles(url)).lower()
    status, answer, _ = request(url + "/api/v1/ask", {"question": SEED_QUESTION})
    assert status == 200 and "Mallory" not in json.dumps(answer)


def test_changes_with_a_foreign_origin_are_refused_and_own_origin_accepted(open_server):
    url, _ = open_server
    status, body, _ = upload(url, "mallory.txt", MALLORY, Origin="http://evil.example")
    assert status == 403 and "Refused a change sent from http://evil.example" in body["error"]
    status, body, _ = request(
        url + "/api/v1/articles",
        {"articles": [{"title": "Mallory", "text": MALLORY}]},
        {"Origin": "null"},
    )
    assert status == 403, body
    status, body, _ = upload(
        url, "harbour.txt", "Harbour news\n\nThe harbour of Kiel reopened on Monday.", Origin=url
    )
    assert status == 200 and "Added 1" in body["message"], body
    status, _, headers = request(url + "/api/v1/articles", headers={"Origin": "http://localhost:1"})
    assert status == 200 and headers.get("access-control-allow-origin") is None  # reads: no CORS either


# ----- 3. CORS under a public host name ------------------------------------------------------------------


def test_cors_answers_only_the_allowed_origin_and_the_cookie_is_lax(team_server: str):
    url = team_server
    public = {"Host": "news.example.com"}
    for path in ("/api/v1/health", "/gradio_api/info", "/config"):
        _, _, headers = request(
            url + path, headers={**public, "Origin": "https://evil.example"}, user="ann:secret"
        )
        assert headers.get("access-control-allow-origin") is None, path
    _, _, headers = request(
        url + "/api/v1/health", headers={**public, "Origin": "https://desk.example.com"}, user="ann:secret"
    )
    assert headers.get("access-control-allow-origin") == "https://desk.example.com"
    status, _, headers = request(
        url + "/login",
        b"username=ann&password=secret",
        {"content-type": "application/x-www-form-urlencoded"},
    )
    cookies = headers.get_all("set-cookie") or []
    assert status == 200 and cookies and not any("samesite=none" in c.lower() for c in cookies), cookies


# ----- 5. uploads never replace someone else's article ------------------------------------------------------


def test_an_upload_named_like_another_article_is_kept_apart(open_server):
    url, index_dir = open_server
    seed_title = titles(url)[SEED_ID]
    status, body, _ = upload(url, f"{SEED_ID}.txt", MALLORY)
    assert status == 200 and body["files"][0]["kept_apart"][SEED_ID].startswith(f"{SEED_ID}-"), body
    now = titles(url)
    assert now[SEED_ID] == seed_title and any(i.startswith(f"{SEED_ID}-") for i in now)
    status, body, _ = request(
        url + "/api/v1/articles", {"articles": [{"id": SEED_ID, "title": "x", "text": MALLORY}]}
    )
    assert status == 200 and body["ids"] != [SEED_ID] and body["kept_apart"], body
    assert titles(url)[SEED_ID] == seed_title
    (seed,) = [a for a in Engine.open(index_dir).articles() if a.id == SEED_ID]
    assert "Marco Rubio" in seed.text and "Mallory" not in seed.text


def test_with_sign_in_only_the_uploader_may_replace_an_article(team_server: str):
    url = team_server
    first = "Ann's note\n\nThe harbour of Kiel reopened on Monday after the storm."
    assert upload(url, "note.txt", first, user="ann:secret")[0] == 200
    status, body, _ = upload(url, "note.txt", MALLORY, user="bob:hunter2", replace=True)
    assert status == 403 and "added by someone else" in body["error"], body
    status, body, _ = upload(url, "note.txt", MALLORY, user="bob:hunter2")
    assert status == 200 and body["files"][0]["kept_apart"]["note"].startswith("note-"), body
    assert titles(url, "ann:secret")["note"] == "Ann's note"
    status, body, _ = upload(
        url, "note.txt", "Ann's note\n\nKiel's harbour reopened.", user="ann:secret", replace=True
    )
    assert status == 200 and body["files"][0]["state"] == "updated", body
    status, body, _ = request(
        url + "/api/v1/articles",
        {"articles": [{"id": SEED_ID, "text": MALLORY}], "replace": True},
        user="ann:secret",
    )
    assert status == 403 and "added by someone else" in body["error"]


# ----- 11. smaller holes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/ask", {"question": SEED_QUESTION, "source": "\ud800"}),
        ("/api/v1/ask", {"question": SEED_QUESTION, "as_of": "2025-\udc00"}),
        ("/api/v1/ask", {"question": SEED_QUESTION, "since": "1" * 300_000}),
        ("/api/v1/articles", {"articles": [{"title": "\ud800", "text": "Some news."}]}),
        ("/api/v1/search", {"query": "summit", "until": "\udfff"}),
    ],
)
def test_surrogates_and_long_dates_are_refused_in_one_line_quickly(open_server, path: str, body: dict):
    url, _ = open_server
    started = time.monotonic()
    raw = json.dumps(body).encode()  # json.dumps writes a lone surrogate as its \\u escape, as a client would
    status, answer, _ = request(url + path, raw, {"content-type": "application/json"})
    assert status == 400 and "internal error" not in answer["error"], answer
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("name", ["a" * 300 + ".txt", "../../x.txt", "..", "/", "dir/sub/"])
def test_upload_names_of_any_shape_are_taken_as_plain_names(open_server, name: str):
    url, _ = open_server
    status, body, _ = upload(url, name, "Odd name\n\nThe ferry to Kiel runs again since Tuesday.")
    assert status == 200 and "error" not in body["files"][0], body


def test_auth_file_with_a_user_twice_is_refused(tmp_path: Path, seed_index: Path):
    (tmp_path / "team.txt").write_text("ann:one\nann:two\n")
    proc = qa("serve", "--auth-file", str(tmp_path / "team.txt"), "--index-dir", str(seed_index))
    assert proc.returncode == 2 and "listed twice" in one_error_line(proc)
    proc = qa("serve", "--allow-origin", "evil", "--index-dir", str(seed_index))
    assert proc.returncode == 2 and "is not an origin" in one_error_line(proc)


def test_a_read_only_page_takes_no_file_through_gradios_upload_route(tmp_path: Path, seed_index: Path):
    shutil.copytree(seed_index, tmp_path / "index")
    proc, url = start_server(tmp_path / "index", "--read-only")
    try:
        body, kind = multipart("a.txt", "Some news.")
        status, answer, _ = request(url + "/gradio_api/upload", body, {"content-type": kind})
        assert status == 403 and "read-only" in answer["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ----- 10. the folder deleted under a running page -------------------------------------------------------------


def test_a_page_whose_index_was_deleted_says_gone_and_recreates_nothing(tmp_path: Path, seed_index: Path):
    shutil.copytree(seed_index, tmp_path / "index")
    proc, url = start_server(tmp_path / "index")
    try:
        assert request(url + "/api/v1/health")[0] == 200
        shutil.rmtree(tmp_path / "index")
        status, body, _ = request(url + "/api/v1/health")
        assert status == 503 and body["status"] == "gone", body
        status, body, _ = request(url + "/api/v1/articles", {"articles": [{"title": "x", "text": MALLORY}]})
        assert status == 503 and "is gone" in body["error"], body
        assert not (tmp_path / "index").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_questions_asked_on_a_page_with_several_users_are_no_examples(tmp_path: Path, seed_index: Path):
    from qa.config import Config
    from ui.app import PageService

    shutil.copytree(seed_index, tmp_path / "index")
    shared = PageService(tmp_path / "index", Config(), 20, share_questions=False)
    shared.ask(SEED_QUESTION)
    assert shared.recent == []


def test_ray_address_where_something_else_answers_fails_within_seconds(tmp_path: Path, seed_index: Path):
    pytest.importorskip("ray")
    site = ThreadingHTTPServer(("127.0.0.1", 0), SimpleHTTPRequestHandler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    shutil.copytree(seed_index, tmp_path / "index")
    (tmp_path / "a.txt").write_text("Some news\n\nThe ferry to Kiel runs again.")
    started = time.monotonic()
    try:
        address = f"127.0.0.1:{site.server_address[1]}"
        proc = qa(
            "index", "add", str(tmp_path / "a.txt"), "--index-dir", str(tmp_path / "index"), "--ray", address
        )
    finally:
        site.shutdown()
    assert proc.returncode == 2 and "is not a Ray cluster" in one_error_line(proc)
    assert time.monotonic() - started < 60


def test_cli_refuses_a_surrogate_in_a_filter_in_one_line(seed_index: Path):
    proc = subprocess.run(
        [*qa_command(), "ask", SEED_QUESTION, "--source", "\udcff", "--index-dir", str(seed_index)],
        capture_output=True,
        env=qa_env(),
    )
    lines = [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.startswith("error:")]
    assert proc.returncode == 2 and len(lines) == 1 and b"Traceback" not in proc.stderr, proc.stderr


def qa_command() -> list[str]:
    return [sys.executable, "-m", "qa"]


def qa_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_mcp_stdio_answers_a_surrogate_with_a_json_rpc_error(seed_index: Path):
    pytest.importorskip("mcp")
    proc = subprocess.Popen(
        [*qa_command(), "mcp", "--index-dir", str(seed_index)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=qa_env(),
    )
    hello = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": hello},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "list_articles", "arguments": {"source": "\ud800"}},
        },
    ]
    lines = "".join(json.dumps(m) + "\n" for m in messages)  # json.dumps writes the surrogate as "\\ud800"
    try:  # stdin closes after the lines: without an answer to request 2 the server ends without one
        out, _ = proc.communicate(lines.encode(), timeout=120)
    finally:
        proc.kill()
        proc.wait()
    answers = {a.get("id"): a for a in map(json.loads, out.decode().splitlines())}
    assert 2 in answers, answers
    assert answers[2]["error"]["code"] == -32602 and "surrogate" in answers[2]["error"]["message"]


def test_api_articles_are_cleaned_as_files_are(open_server):
    url, _ = open_server
    status, body, _ = request(
        url + "/api/v1/articles",
        {
            "articles": [
                {"id": "ferry", "title": "Ferry\u200b news", "text": "The ferry\u202e to Kiel runs again."}
            ]
        },
    )
    assert status == 200, body
    status, article, _ = request(url + "/api/v1/articles/ferry")
    assert (
        status == 200
        and article["title"] == "Ferry news"
        and article["text"] == "The ferry to Kiel runs again."
    )


def test_allow_replace_lets_another_signed_in_user_replace_when_asked(tmp_path: Path, seed_index: Path):
    from qa.config import Config
    from ui.app import PageService

    shutil.copytree(seed_index, tmp_path / "index")
    strict = PageService(tmp_path / "index", Config(), 20)
    with pytest.raises(Forbidden, match="added by someone else"):
        strict.add_texts([{"id": SEED_ID, "title": "x", "text": MALLORY}], user="bob", replace=True)
    lenient = PageService(tmp_path / "index", Config(), 20, allow_replace=True)
    done = lenient.add_texts([{"id": SEED_ID, "title": "x", "text": MALLORY}], user="bob", replace=True)
    assert done["ids"] == [SEED_ID] and "updated 1" in done["message"]
    assert "Mallory" in lenient.engine.article(SEED_ID).text
