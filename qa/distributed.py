"""Ingestion on a Ray cluster: files read and passages embedded in parallel, committed once by the driver.

Embedding is what outgrows one machine (the packaged MiniLM encodes a few hundred
passages a second on two cores), so an add can hand it to Ray Data:

    files ──flat_map──▶ articles ──(driver: skip unchanged, mark copies, split, reserve row ids)──▶
    passages ──map_batches (an actor pool; each actor loads the encoder once)──▶ segment files

Each batch of passages becomes one segment file, written by the worker into the
index folder (on a cluster: a folder every node mounts). The driver then commits
the articles, passages and segment files in one transaction, through the same
commit protocol as a local add (store.jobs: Staging.staging / commit_staged): a job that
fails or is interrupted leaves the index as it was, and its files are removed by
the next write. The result equals a local add: same articles, passage boundaries,
ids and vectors (the int8 encoder computes each passage on its own).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from qa.articles import Article, read_one
from qa.errors import InputError, SaveFailed

if TYPE_CHECKING:
    from qa.embeddings import Embedder
    from qa.passages import Passage
    from qa.staging import Job
    from qa.store import Store

logger = logging.getLogger(__name__)
INSTALL = (
    "Ray is not installed; install it with `pip install 'qa-news[ray]'` "
    "(in a checkout: `pip install -e '.[ray]'`)."
)


@dataclass
class RayOptions:
    """Where and how to run an add on Ray.

    Args:
        address: None starts a local Ray runtime for the add (shut down after it), even where a
            cluster runs; "auto", HOST:PORT or "ray://HOST:10001" joins a running cluster. Either
            way, a process that has already called ray.init() adds on its runtime.
        workers: encoder actors (each takes one CPU and loads the model once).
        batch_size: passages per batch, and so per segment file.
    """

    address: str | None = None
    workers: int = 2
    batch_size: int = 1000

    def __post_init__(self) -> None:
        if self.workers < 1 or self.batch_size < 1:
            raise InputError("Ray needs at least one worker and a batch size of at least one passage.")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError(INSTALL) from None
    return ray


CONNECT_SECONDS = 10.0  # how long joining a cluster's address may take before it is refused


def _check_reachable(address: str | None) -> None:
    """Refuse in one line, within CONNECT_SECONDS, a cluster address nothing answers at (Ray itself retries for
    minutes), and a ray:// address without Ray's client installed."""
    import re
    import socket

    match = re.fullmatch(r"(ray://)?\[?([\w.\-:]+?)\]?:(\d+)", address or "")
    if not match:
        return  # None (a local runtime) or "auto"
    if match.group(1):
        try:
            import grpc  # noqa: F401
            import ray.util.client  # noqa: F401
        except ImportError:
            raise InputError(
                "Joining a cluster through ray:// needs Ray's client; install it with "
                "`pip install 'ray[client]'` (the qa-news[ray] extra includes it)."
            ) from None
    try:
        with socket.create_connection((match.group(2), int(match.group(3))), timeout=CONNECT_SECONDS) as sock:
            grpc_like = _speaks_http2(sock)
    except OSError as exc:
        raise InputError(
            f"Nothing answers at the Ray address {address} ({getattr(exc, 'strerror', None) or exc}); "
            "start the cluster with `ray start --head` or check the address."
        ) from None
    if not grpc_like:
        raise InputError(
            f"What answers at {address} is not a Ray cluster (it does not speak Ray's gRPC within "
            f"{CONNECT_SECONDS:g} s); check the address and port (`ray status` on the head node shows them)."
        )


def _speaks_http2(sock: Any) -> bool:
    """Whether the peer answers HTTP/2's client preface with a SETTINGS frame, as every gRPC server (Ray's
    GCS and its client server) does at once; within the socket's timeout (a silent peer is not Ray)."""
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    head = b""
    while len(head) < 9:
        try:
            chunk = sock.recv(9 - len(head))
        except TimeoutError:
            return False
        if not chunk:
            return False
        head += chunk
    return head[3] == 0x04  # the frame's type: SETTINGS


class Runtime:
    """Ray for the length of one add: joined or started, quiet, and shut down again if this add started it.

    Nested uses share the runtime the outer one started (an add reads files and embeds in one).
    """

    def __init__(self, options: RayOptions) -> None:
        self.options = options
        self.started = False

    def __enter__(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            _check_reachable(self.options.address)
            try:
                ray.init(
                    address=self.options.address or "local",
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level=logging.ERROR,
                )
            except ConnectionError as exc:
                raise InputError(
                    f"Could not join the Ray cluster at {self.options.address} ({exc}); "
                    "start it with `ray start --head` or check the address."
                ) from None
            self.started = True
        context = ray.data.DataContext.get_current()
        self._bars, self._level = context.enable_progress_bars, logging.getLogger("ray.data").level
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # not a note per dataset executed
        context.enable_progress_bars = False  # the add shows one bar of its own
        return ray

    def __exit__(self, *exc: Any) -> None:
        ray = _ray()
        ray.data.DataContext.get_current().enable_progress_bars = self._bars
        logging.getLogger("ray.data").setLevel(self._level)
        if self.started:
            ray.shutdown()


def _read_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A worker's reading of one file: a row per article (as JSON), or one row with the reason it failed."""
    _, found = read_one(Path(row["path"]))
    if isinstance(found, str):
        return [{"n": row["n"], "k": 0, "error": found, "article": ""}]
    return [
        {"n": row["n"], "k": k, "error": "", "article": json.dumps(asdict(a))} for k, a in enumerate(found)
    ]


def read_files(files: Sequence[Path], options: RayOptions) -> list[tuple[Path, list[Article] | str]]:
    """Each file's articles, or the one-line reason it could not be read, read by Ray workers (in file order)."""
    with Runtime(options) as ray:
        items = [{"n": n, "path": str(f)} for n, f in enumerate(files)]
        rows = ray.data.from_items(items).flat_map(_read_rows).take_all() if items else []
    found: dict[int, list[Article] | str] = {n: [] for n in range(len(files))}
    for row in sorted(rows, key=lambda r: (r["n"], r["k"])):
        if row["error"]:
            found[row["n"]] = row["error"]
        else:
            found[row["n"]].append(Article(**json.loads(row["article"])))  # type: ignore[union-attr]
    return [(files[n], found[n]) for n in range(len(files))]


class _EncodeAndWrite:
    """A Ray Data actor: loads the encoder once, then turns each batch of passages into a segment file."""

    def __init__(self, model: str, precision: str, device: str, job: Job) -> None:
        from qa.embeddings import Embedder

        # One thread: the actor was given one CPU, and its siblings on the node have the others.
        self.embedder = Embedder(model, device, precision=precision, threads=1)  # type: ignore[arg-type]
        self.precision = precision
        self.job = job

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        vectors = self.embedder.encode([str(t) for t in batch["text"]])
        if self.embedder.precision != self.precision:  # this worker could not run the driver's encoder
            raise RuntimeError(f"a worker encoded in {self.embedder.precision}, the job in {self.precision}")
        record = self.job.write(np.asarray(batch["rowid"], dtype=np.int64), vectors)
        return {key: [value] for key, value in record.items()}


def embed_and_commit(
    index: Store,
    embedder: Embedder,
    articles: Sequence[Article],
    passages: Sequence[Passage],
    signatures: dict[str, bytes],
    replace_all: bool,
    options: RayOptions,
    progress: bool = False,
) -> dict[str, str]:
    """Embed `passages` on Ray into segment files of the index, then commit everything in one transaction;
    returns the checksums held before for these ids (Store.add)."""
    from tqdm import tqdm

    _ = embedder.model  # export the int8 graph into the cache once, before the workers look for it
    with (
        Runtime(options) as ray,
        index.jobs.staging(len(passages), replace_all, embedder.encoder) as job,
        _one_line(ray),
    ):
        rows = [{"rowid": job.first + n, "text": p.text} for n, p in enumerate(passages)]
        written = []
        if rows:
            batches = -(-len(rows) // options.batch_size)
            # Ray Data restarts an actor that dies and runs its batch again (a batch rewrites the same file).
            dataset = ray.data.from_items(rows, override_num_blocks=batches).map_batches(
                _EncodeAndWrite,
                batch_size=options.batch_size,
                concurrency=min(options.workers, batches),
                num_cpus=1,
                fn_constructor_kwargs={
                    "model": embedder.source,
                    "precision": embedder.precision,
                    "device": embedder.device,
                    "job": job,
                },
            )
            with tqdm(total=len(rows), unit="passage", desc="embedding on Ray", disable=not progress) as bar:
                for record in _records(dataset):
                    written.append(record)
                    bar.update(record["vectors"])
        return index.jobs.commit_staged(
            job, articles, passages, written, signatures, replace_all, embedder.encoder
        )


@contextmanager
def _one_line(ray: Any) -> Iterator[None]:
    """A Ray job that fails (after Ray's own retries) as the project's one-line error."""
    try:
        yield
    except ray.exceptions.RayError as exc:
        cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise SaveFailed(
            f"The Ray job failed ({cause[:300]}); the index is unchanged. Run it again."
        ) from None


def _records(dataset: Any) -> Iterator[dict[str, Any]]:
    """The segment records, as the workers finish them (streaming)."""
    for row in dataset.iter_rows():
        yield {**row, "rowids": list(row["rowids"])}
