"""Twenty concurrent /ask calls through gradio_client against `qa serve`: correctness and latency.

    python bench/concurrent_ask.py [--calls 20] [--index-dir index]

Starts the server on a free port, fires the calls at once, prints median and
p90 latency and whether every answer was right.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Who leads next week's talks?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--index-dir", default="index")
    args = parser.parse_args()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "qa", "serve", "--port", str(port), "--index-dir", args.index_dir],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        from gradio_client import Client

        Client(url, verbose=False).predict(QUESTION, api_name="/ask")  # warm-up

        def call(_: int) -> tuple[float, bool]:
            client = Client(url, verbose=False)
            t0 = time.perf_counter()
            result = client.predict(QUESTION, "hybrid", 5, api_name="/ask")
            return time.perf_counter() - t0, bool(result["answered"] and "Marco Rubio" in result["answer"]["text"])

        with ThreadPoolExecutor(max_workers=args.calls) as pool:
            results = list(pool.map(call, range(args.calls)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    seconds = [s for s, _ in results]
    right = sum(ok for _, ok in results)
    print(f"{args.calls} concurrent /ask calls: {right}/{args.calls} answered 'Marco Rubio'; "
          f"latency median {np.median(seconds):.2f} s, p90 {np.percentile(seconds, 90):.2f} s, max {max(seconds):.2f} s")


if __name__ == "__main__":
    main()
