"""Where programs and people reach the engine besides the page and the CLI: the HTTP API, the MCP tools over
both transports, `qa watch`, and serving with a sign-in or read-only. Real server processes, real indexes."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, RUBIO_SENTENCE, SEED_QUESTION
from test_cli import RSS, one_error_line, qa
from test_ui import free_port

pytestmark = pytest.mark.slow

pytest.importorskip("mcp", reason='the MCP tests need the mcp extra: pip install -e ".[mcp]"')

USER, PASSWORD = "ann", "secret"  # the README's examples use these
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
UNANSWERABLE = "Which football club won the 1998 Champions League final?"


def start_server(index_dir: Path, *options: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(index_dir.parent / f"serve-{port}.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa", "serve", "--port", str(port), "--index-dir", str(index_dir), *options],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(url + "/", timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("qa serve did not start: " + Path(log.name).read_text()[-2000:])
            time.sleep(0.5)


@pytest.fixture(scope="module")
def signed_server(tmp_path_factory: pytest.TempPathFactory, seed_index: Path) -> Iterator[tuple[str, Path]]:
    """`qa serve --mcp --auth ann:secret` on a copy of the seed index."""
    index_dir = tmp_path_factory.mktemp("api") / "index"
    shutil.copytree(seed_index, index_dir)
    proc, url = start_server(
        index_dir, "--mcp", "--auth", f"{USER}:{PASSWORD}", "--max-files", "3", "--max-upload-mb", "1"
    )
    yield url, index_dir
    proc.terminate()
    proc.wait(timeout=30)


def call(url: str, body: Any = None, signed: bool = True, method: str | None = None) -> tuple[int, Any]:
    """(status, JSON) of one API request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    request.add_header("content-type", "application/json")
    if signed:
        request.add_header("authorization", BASIC)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_api_answers_with_a_citation_and_says_when_the_articles_dont(signed_server):
    url, _ = signed_server
    status, health = call(url + "/api/v1/health")
    assert status == 200 and health["status"] == "ok" and health["articles"] == 1 and not health["read_only"]
    status, answer = call(url + "/api/v1/ask", {"question": SEED_QUESTION})
    assert status == 200 and "Rubio" in answer["answer"] and answer["citation"]["sentence"] == RUBIO_SENTENCE
    assert answer["citation"]["date"] == "2025-10-17" and 0 < answer["confidence"] <= 1
    status, unknown = call(url + "/api/v1/ask", {"question": UNANSWERABLE})
    assert status == 200 and unknown["answer"] is None and unknown["says"] == "The articles don't say."
    status, early = call(url + "/api/v1/ask", {"question": SEED_QUESTION, "as_of": "2025-10-01"})
    assert status == 200 and early["answer"] is None and early["asked_as_of"] == "2025-10-01"
    status, passages = call(url + "/api/v1/search", {"query": "Budapest", "limit": 2})
    assert status == 200 and len(passages) == 2 and all(p["article_id"] for p in passages)
    status, schema = call(url + "/api/v1/openapi.json")
    assert status == 200 and {"/ask", "/search", "/articles", "/files", "/health"} <= set(schema["paths"])


def test_api_failures_are_one_line_with_the_clis_status(signed_server, tmp_path: Path):
    url, _ = signed_server
    status, body = call(url + "/api/v1/ask", {"question": SEED_QUESTION}, signed=False)
    assert status == 401 and "Sign in" in body["error"]
    for page_route in ("/config", "/gradio_api/info"):  # the page itself: Gradio's own sign-in
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url + page_route, timeout=30)
        assert refused.value.code == 401
    status, body = call(url + "/api/v1/ask", {"question": SEED_QUESTION, "since": "2025-13-01"})
    assert (
        status == 400
        and body["exit_code"] == 2
        and "2025-13-01" in body["error"]
        and "\n" not in body["error"]
    )
    status, body = call(url + "/api/v1/ask", {"top_k": 5})
    assert status == 400 and body["error"].startswith("question:")
    status, body = call(url + "/api/v1/ask", {"question": SEED_QUESTION, "top_k": 500})
    assert status == 400 and "top_k" in body["error"]
    status, body = call(url + "/api/v1/articles?limit=0")
    assert status == 400 and "limit" in body["error"]
    big = tmp_path / "big.txt"
    big.write_text("Big story\n\n" + "The river rose again on Monday. " * 40_000)  # over --max-upload-mb 1
    proc = subprocess.run(
        ["curl", "-s", "-u", f"{USER}:{PASSWORD}", "-F", f"files=@{big}", url + "/api/v1/files"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    (row,) = json.loads(proc.stdout)["files"]
    assert row["name"] == "big.txt" and row["error"].startswith("larger than the 1 MB upload limit")
    many = [{"title": f"t{n}", "text": "Some text here."} for n in range(4)]  # --max-files 3
    status, body = call(url + "/api/v1/articles", {"articles": many})
    assert status == 400 and "at most 3" in body["error"]


def test_the_docs_curl_lines_run_against_a_real_page(signed_server):
    """Every `curl` line of the guide's HTTP API section and of the README, pointed at this test's server,
    succeeds with JSON."""
    url, _ = signed_server
    guide = (
        (ROOT / "docs" / "guide.md").read_text().split("## Programs: the HTTP API", 1)[1].split("\n## ", 1)[0]
    )
    readme = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("curl ")]
    lines = readme + [line for line in guide.splitlines() if line.startswith("curl ")]
    assert len(readme) >= 2 and len(lines) >= 13
    said = {}
    for line in lines:
        command = line.replace("http://127.0.0.1:7860", url) + " -w '\\n%{http_code}'"
        proc = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=300)
        body, _, status = proc.stdout.rpartition("\n")
        assert proc.returncode == 0 and status == "200", (line, proc.stdout, proc.stderr)
        said[line] = json.loads(body)
    fetched, batch = (
        (said[line] for line in lines if "articles/harbour-reopens" in line and "DELETE" not in line),
        (said[line] for line in lines if '"questions"' in line),
    )
    assert next(fetched)["text"].startswith("The harbour in Kiel reopened")
    first, early = next(batch)[
        "answers"
    ]  # as of today the harbour article answers; as of 2025-03-01 it did not exist
    assert "Kiel" in (first["answer"] or first["likely"]["text"]) and "Kiel" not in json.dumps(early)
    desk = next(said[line] for line in lines if '"articles": true, "sort": "date"' in line)
    assert desk["articles"][0]["article_id"] == "trump-putin-budapest-summit" and desk["facets"]["days"]
    alike = next(said[line] for line in lines if '"like"' in line)  # the seed index's one article left out
    assert alike["articles"] == [] and alike["facets"]["days"] == []  # an empty histogram, not an error
    status, listing = call(url + "/api/v1/articles?source=city%20wire")
    assert status == 200 and listing["articles"] == []  # the guide's DELETE line removed it


async def mcp_session(transport: Any, work: Any) -> Any:
    from mcp import ClientSession

    async with transport as streams:
        async with ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            return await work(session)


async def use_tools(session: Any) -> dict[str, Any]:
    """What a test needs from the tools: their names, and a few results (text parsed as JSON)."""
    names = sorted(t.name for t in (await session.list_tools()).tools)
    answered = await session.call_tool("ask", {"question": SEED_QUESTION})
    unknown = await session.call_tool("ask", {"question": UNANSWERABLE})
    empty = await session.call_tool("ask", {"question": "   "})
    listing = await session.call_tool("list_articles", {"limit": 5})
    found = await session.call_tool("search", {"query": "Budapest summit", "limit": 2})
    desk = await session.call_tool("search_articles", {"query": "Budapest summit", "sort": "date"})
    return {
        "names": names,
        "answer": as_json(answered),
        "unknown": as_json(unknown),
        "empty": (empty.isError, empty.content[0].text),
        "listing": as_json(listing),
        "found": as_json(found),
        "desk": as_json(desk),
    }


def as_json(result: Any) -> Any:
    """A tool's result: its text as JSON (a list may come as one text per item)."""
    texts = [json.loads(c.text) for c in result.content]
    return texts[0] if len(texts) == 1 else texts


def check_tools(seen: dict[str, Any]) -> None:
    assert seen["names"] == ["ask", "list_articles", "search", "search_articles"]
    assert "Rubio" in seen["answer"]["answer"] and seen["answer"]["citation"]["sentence"] == RUBIO_SENTENCE
    assert seen["unknown"]["answer"] is None and seen["unknown"]["says"] == "The articles don't say."
    assert (
        seen["empty"][0] and "question is empty" in seen["empty"][1] and "Traceback" not in seen["empty"][1]
    )
    assert seen["listing"]["articles"][0]["id"] == "trump-putin-budapest-summit"
    assert len(seen["found"]) == 2
    desk = seen["desk"]  # the seed index holds one article: one group, one day, one source
    assert [a["article_id"] for a in desk["articles"]] == ["trump-putin-budapest-summit"]
    assert "<mark>Budapest</mark>" in desk["articles"][0]["passages"][0]["snippet"]
    assert desk["facets"]["days"] == [{"day": "2025-10-17", "articles": 1}] and desk["facets"]["undated"] == 0


def test_the_mcp_tools_over_stdio(index_copy: Path):
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "qa", "mcp", "--index-dir", str(index_copy)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=str(ROOT),
    )
    check_tools(asyncio.run(mcp_session(stdio_client(server), use_tools)))


def test_the_mcp_tools_over_http_beside_the_page_and_behind_its_sign_in(signed_server):
    import httpx
    from mcp.client.streamable_http import streamable_http_client

    url, _ = signed_server
    endpoint = url + "/gradio_api/mcp/"
    check_tools(
        asyncio.run(
            mcp_session(
                streamable_http_client(
                    endpoint, http_client=httpx.AsyncClient(headers={"Authorization": BASIC})
                ),
                use_tools,
            )
        )
    )
    status, body = call(endpoint, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, signed=False)
    assert status == 401 and "Sign in" in body["error"]


def test_serving_beyond_this_machine_needs_a_sign_in_or_an_explicit_no_auth(index_copy: Path, tmp_path: Path):
    proc = qa("serve", "--host", "0.0.0.0", "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "--auth" in one_error_line(proc) and "--no-auth" in one_error_line(proc)
    proc = qa("serve", "--auth", "nopassword", "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "USER:PASSWORD" in one_error_line(proc)
    (tmp_path / "team.txt").write_text("# the team\n\n")
    proc = qa(
        "serve",
        "--host",
        "0.0.0.0",
        "--auth-file",
        str(tmp_path / "team.txt"),
        "--index-dir",
        str(index_copy),
    )
    assert proc.returncode == 2 and "no USER:PASSWORD line" in one_error_line(proc)


def test_a_read_only_page_answers_and_refuses_changes(tmp_path: Path, seed_index: Path):
    index_dir = tmp_path / "index"
    shutil.copytree(seed_index, index_dir)
    proc, url = start_server(index_dir, "--read-only")
    try:
        status, answer = call(url + "/api/v1/ask", {"question": SEED_QUESTION})
        assert status == 200 and "Rubio" in answer["answer"]
        status, body = call(
            url + "/api/v1/articles", {"articles": [{"title": "x", "text": "Some news text."}]}
        )
        assert status == 403 and "read-only" in body["error"]
        config = json.loads(urllib.request.urlopen(url + "/config", timeout=30).read())
        upload = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "upload")
        hidden = {c["id"] for c in config["components"] if c.get("props", {}).get("visible") is False}
        assert set(path_to(config["layout"], upload)) & hidden, "the upload box sits in a hidden group"
        assert call(url + "/api/v1/health")[1]["read_only"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def path_to(node: dict[str, Any], wanted: int) -> list[int]:
    """The ids from the layout's root down to the component `wanted` (empty when it is not in the layout)."""
    if node.get("id") == wanted:
        return [wanted]
    for child in node.get("children", []):
        if found := path_to(child, wanted):
            return [node.get("id", -1), *found]
    return []


# ----- qa watch -----------------------------------------------------------------------------------------------


OPENED: dict[Path, Any] = {}  # one engine per index for the polls below: each search reads the latest commit


def ask_until(index_dir: Path, question: str, expected: str, seconds: float = 120) -> str:
    """The answer to `question` once it contains `expected` (the watcher adds in the background)."""
    from qa.engine import Engine
    from qa.errors import QAError

    deadline = time.time() + seconds
    answer = ""
    while time.time() < deadline:
        try:
            engine = OPENED.get(index_dir) or OPENED.setdefault(index_dir, Engine.open(index_dir))
        except QAError:  # the watcher has not made the index yet
            time.sleep(1)
            continue
        result = engine.ask(question, always_answer=True)
        answer = result.best.text if result.best else ""
        if expected in answer:
            return answer
        time.sleep(1)
    pytest.fail(f"{question!r} still answered {answer!r} after {seconds} s")


def test_qa_watch_adds_files_dropped_into_a_folder_and_feeds_fetched_again(tmp_path: Path):
    folder, site, index_dir = tmp_path / "news", tmp_path / "site", tmp_path / "index"
    folder.mkdir()
    site.mkdir()
    (folder / "mayor.txt").write_text(
        "Mayor elected\n\nDate: 2025-05-02\n\nJana Novak was elected mayor of Brno.\n"
    )
    (site / "feed.xml").write_text(RSS.replace("Kiel", "Rostock"))
    handler = partial(SimpleHTTPRequestHandler, directory=str(site))
    web = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    feed_url = f"http://127.0.0.1:{web.server_address[1]}/feed.xml"
    log = open(tmp_path / "watch.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "qa", "watch", str(folder), feed_url, "--index-dir", str(index_dir)]
        + ["--settle", "0.5", "--feed-every", "2"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert "Novak" in ask_until(index_dir, "Who was elected mayor of Brno?", "Novak")
        assert "Rostock" in ask_until(index_dir, "Which harbour reopened after the storm?", "Rostock")
        # A file written in parts under a partial name is read only once it is complete and renamed.
        partial_file = folder / "port.txt.part"
        partial_file.write_text(
            "Port chief named\n\nDate: 2025-05-03\n\nThe new chief of the port is Ivo Horak"
        )
        time.sleep(2)
        partial_file.write_text(partial_file.read_text() + ", the city said.\n")
        partial_file.rename(folder / "port.txt")
        assert "Horak" in ask_until(index_dir, "Who is the new chief of the port?", "Horak")
        # A changed file replaces its article; a changed feed is read again.
        (folder / "mayor.txt").write_text(
            "Mayor elected\n\nDate: 2025-05-02\n\nPetr Dvorak was elected mayor of Brno.\n"
        )
        assert "Dvorak" in ask_until(index_dir, "Who was elected mayor of Brno?", "Dvorak")
        (site / "feed.xml").write_text(RSS.replace("Kiel", "Gdansk"))
        assert "Gdansk" in ask_until(index_dir, "Which harbour reopened after the storm?", "Gdansk")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        web.shutdown()
    lines = (tmp_path / "watch.log").read_text()
    assert proc.returncode == 0, lines
    assert "Traceback" not in lines and "Stopped watching." in lines
    assert "1 file(s) already there: 1 added" in lines and re.search(r"mayor\.txt: 1 updated", lines), lines
    assert "port.txt.part" not in lines and re.search(r"port\.txt: 1 added", lines), lines


def test_one_article_fetched_and_deleted_and_questions_asked_in_a_batch(signed_server, tmp_path: Path):
    url, _ = signed_server
    odd_id = "https://news.example/2025/harbour story?id=7"  # slashes, spaces, a query: kept as given
    status, body = call(
        url + "/api/v1/articles",
        {"articles": [{"id": odd_id, "title": "Harbour", "text": "The harbour of Kiel reopened on Monday."}]},
    )
    assert status == 200 and body["ids"] == [odd_id], body
    quoted = urllib.request.quote(odd_id, safe="")
    status, article = call(url + "/api/v1/articles/" + quoted)
    assert status == 200 and article["text"].startswith("The harbour of Kiel") and article["id"] == odd_id
    status, body = call(url + "/api/v1/articles/" + quoted, method="DELETE")
    assert status == 200 and body["removed"] == odd_id, body
    for method in ("GET", "DELETE"):
        status, body = call(url + "/api/v1/articles/" + quoted, method=method)
        assert status == 404 and "No article has the id" in body["error"] and "\n" not in body["error"]
    status, body = call(url + "/api/v1/articles/x", signed=False, method="DELETE")
    assert status == 401
    status, body = call(
        url + "/api/v1/ask",
        {"questions": [{"question": SEED_QUESTION}, {"question": SEED_QUESTION, "as_of": "2025-10-01"}]},
    )
    assert status == 200 and "Rubio" in body["answers"][0]["answer"] and body["answers"][1]["answer"] is None
    assert body["answers"][1]["asked_as_of"] == "2025-10-01"
    status, body = call(url + "/api/v1/ask", {"questions": [{"question": "q"}] * 101})
    assert status == 400 and "1 to 100 questions" in body["error"]
    status, body = call(url + "/api/v1/ask", {"question": SEED_QUESTION, "sorce": "CNN"})
    assert status == 400 and "Unknown field 'sorce'" in body["error"], body
    request = urllib.request.Request(url + "/api/v1/ask", data=b'{"question": ', method="POST")
    request.add_header("content-type", "application/json")
    request.add_header("authorization", BASIC)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    body = json.loads(refused.value.read())
    assert refused.value.code == 400 and body["error"].startswith("The request body is not valid JSON")


def test_serve_on_a_busy_port_says_so_in_one_line(signed_server, index_copy: Path):
    url, _ = signed_server
    started = time.perf_counter()
    proc = qa("serve", "--port", url.rsplit(":", 1)[1], "--index-dir", str(index_copy))
    assert proc.returncode == 2 and "is in use" in one_error_line(proc) and "Serving on" not in proc.stdout
    assert time.perf_counter() - started < 30


def test_a_desk_search_with_every_filter_and_searches_while_an_add_commits(signed_server):
    url, _ = signed_server
    wire = {"title": "Harbour wire", "date": "2025-10-18", "source": "Harbour Wire"}
    status, _ = call(
        url + "/api/v1/articles",
        {
            "articles": [
                {**wire, "id": "wire-1", "text": "The harbour of Kiel reopened after the Budapest talks."}
            ]
        },
    )
    assert status == 200
    every = {"since": "2025-10-01", "until": "2025-10-31", "source": "harbour wire", "as_of": "2025-10-20"}
    status, body = call(
        url + "/api/v1/search",
        {"query": "harbour Kiel", "articles": True, "sort": "date", "limit": 50, **every},
    )
    assert status == 200 and [a["article_id"] for a in body["articles"]] == ["wire-1"], body
    assert body["facets"]["days"] == [{"day": "2025-10-18", "articles": 1}] and body["facets"]["stories"] == 1
    status, body = call(
        url + "/api/v1/search", {"query": "harbour Kiel", "articles": True, **every, "until": "2025-10-17"}
    )
    assert status == 200 and body["articles"] == [] and body["facets"]["days"] == []  # an empty histogram

    # searches go on, and answer, while adds embed and commit (this server takes 3 articles a request)
    def add_many() -> list[int]:
        return [
            call(
                url + "/api/v1/articles",
                {
                    "articles": [
                        {
                            **wire,
                            "id": f"wire-batch-{n}",
                            "text": f"Bulletin {n}: Kiel logged {n} ferries today.",
                        }
                        for n in range(start, start + 3)
                    ]
                },
            )[0]
            for start in range(0, 60, 3)
        ]

    with ThreadPoolExecutor(max_workers=1) as pool:
        adding = pool.submit(add_many)
        searched = 0
        while not adding.done():
            status, body = call(url + "/api/v1/search", {"query": "ferries Kiel", "articles": True})
            assert status == 200 and "facets" in body, body
            searched += 1
        assert set(adding.result()) == {200}
    status, body = call(
        url + "/api/v1/search", {"query": "ferries logged in Kiel", "articles": True, "limit": 50}
    )
    assert searched >= 1 and any(a["article_id"].startswith("wire-batch-") for a in body["articles"])
