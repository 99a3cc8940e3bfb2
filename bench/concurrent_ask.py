"""Many concurrent /ask calls through gradio_client against `qa serve`: latency and correctness.

    python bench/concurrent_ask.py [--calls 20 50] [--baseline afe47a3] [--client http|gradio|api|all]

For each version (the working tree, and `--baseline`, an earlier commit, unless
`--baseline ''`), builds the seed index with that version, starts its server on a
free port, warms it with one question, then for each number in `--calls` fires
that many calls at once, each from its own client thread. Prints median, p90 and
max latency and how many answers were right ("Marco Rubio"). The clients run on
the same cores as the server: gradio_client's own work (about 50 ms of CPU a
call) weighs on what it measures, so a light HTTP client is measured too, and the HTTP API's /api/v1/ask
where the version has it.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from versions import ROOT, build_seed_index, checkout, start_server

QUESTION = "Who leads next week's talks?"


def http_ask(url: str, question: str) -> dict:
    """One /ask call over Gradio's REST API (POST the inputs, then read the event stream to its result)."""
    request = urllib.request.Request(
        f"{url}gradio_api/call/ask",
        data=json.dumps({"data": [question, "hybrid", 5, False, "", "", "", ""]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        event = json.load(response)["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/ask/{event}", timeout=120) as stream:
        kind = ""
        for line in stream:
            line = line.decode().strip()
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                if kind == "error":
                    raise RuntimeError(line)
                return json.loads(line[5:])[0]
    raise RuntimeError("the event stream ended without a result")


def api_ask(url: str, question: str) -> dict:
    """One question through the HTTP API (/api/v1/ask), in the shape the other clients give."""
    request = urllib.request.Request(
        f"{url}api/v1/ask",
        data=json.dumps({"question": question}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        answer = json.load(response)
    return {"answered": answer["answer"] is not None, "answer": {"text": answer["answer"] or ""}}


def has_api(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}api/v1/openapi.json", timeout=30) as response:
            return response.status == 200
    except OSError:
        return False


def crowd(url: str, calls: int, client: str) -> tuple[list[float], int]:
    """`calls` questions at once; their latencies and how many were answered right."""
    from gradio_client import Client

    if client == "gradio":
        clients = [Client(url, verbose=False) for _ in range(calls)]  # connected before the clock starts
        ask = [lambda c=c: c.predict(QUESTION, "hybrid", 5, api_name="/ask") for c in clients]
    elif client == "api":
        ask = [lambda: api_ask(url, QUESTION)] * calls
    else:
        ask = [lambda: http_ask(url, QUESTION)] * calls

    def call(one: Any) -> tuple[float, bool]:
        t0 = time.perf_counter()
        result = one()
        return time.perf_counter() - t0, bool(
            result["answered"] and "Marco Rubio" in result["answer"]["text"]
        )

    with ThreadPoolExecutor(max_workers=calls) as pool:
        results = list(pool.map(call, ask))
    return [s for s, _ in results], sum(ok for _, ok in results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, nargs="+", default=[20, 50])
    parser.add_argument(
        "--baseline", default="afe47a3", help="an earlier commit to measure in the same run ('' for none)"
    )
    parser.add_argument(
        "--client",
        choices=["http", "gradio", "api", "all"],
        default="all",
        help="http: Gradio's REST API over urllib (light: about 5 ms of CPU a call); gradio: "
        "gradio_client (about 50 ms of CPU a call, taken from the same cores as the server); api: "
        "the HTTP API /api/v1/ask over urllib (versions that have it)",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qa-concurrent-"))
    os.environ["QA_CACHE_DIR"] = str(work / "cache")
    versions = {"working tree": ROOT}
    if args.baseline:
        versions = {f"baseline {args.baseline}": checkout(args.baseline), **versions}
    clients = ["http", "gradio", "api"] if args.client == "all" else [args.client]
    for n, (name, code) in enumerate(versions.items()):
        index_dir = work / f"index-{n}"
        build_seed_index(code, index_dir)
        server, url = start_server(code, index_dir)
        try:
            from gradio_client import Client

            Client(url, verbose=False).predict(QUESTION, "hybrid", 5, api_name="/ask")  # warm-up
            for calls, client in [(c, k) for k in clients for c in args.calls]:
                if client == "api" and not has_api(url):
                    continue
                seconds, right = crowd(url, calls, client)
                print(
                    f"{name:<18} {client:<6} {calls:>3} concurrent /ask calls: {right}/{calls} right; latency "
                    f"median {np.median(seconds):.2f} s, p90 {np.percentile(seconds, 90):.2f} s, max {max(seconds):.2f} s",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
