"""Run two versions of the project side by side: today's working tree and an earlier commit.

Benchmarks that compare against "today's code" (bench/cli_start.py, bench/concurrent_ask.py)
export the earlier commit with `git archive` into a temporary folder and run it with
the same Python, so both are timed in one run on the same host.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from common import ROOT

QUIET = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def checkout(ref: str) -> Path:
    """The project's files at git `ref`, in a new temporary folder."""
    target = Path(tempfile.mkdtemp(prefix=f"qa-{ref.replace('/', '-')}-"))
    archive = target / "code.tar"
    subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), ref], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    archive.unlink()
    return target


def qa_command(*args: str) -> list[str]:
    """`qa ARGS...` as run from a version's folder (the current directory comes first on Python's path)."""
    return [sys.executable, "-m", "qa", *args]


def environment(code: Path, **extra: str) -> dict[str, str]:
    """The environment that runs the `qa` found in `code` (not the installed one)."""
    return {**os.environ, **QUIET, "PYTHONPATH": str(code), **extra}


def build_seed_index(code: Path, index_dir: Path) -> None:
    """The seed index, built by that version of the code (each version reads what it wrote)."""
    subprocess.run(
        qa_command("index", "build", "--index-dir", str(index_dir), "--quiet"),
        cwd=code,
        env=environment(code),
        check=True,
        capture_output=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(code: Path, index_dir: Path, timeout: float = 600) -> tuple[subprocess.Popen, str]:
    """`qa serve` of that version on a free port, once it answers; returns the process and its url."""
    port = free_port()
    proc = subprocess.Popen(
        qa_command("serve", "--port", str(port), "--index-dir", str(index_dir)),
        cwd=code,
        env=environment(code),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"qa serve from {code} exited with status {proc.returncode}") from None
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"qa serve from {code} did not answer within {timeout:.0f} s")
