"""Distributed adds (qa.distributed): row ids reserved for a job under a lease, segment files written by its
workers, then committed by the driver like any add."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa import segments as seg
from qa.articles import Article
from qa.commits import Commits
from qa.errors import IndexUnusable, SaveFailed
from qa.layout import RUNNING_JOBS, SEGMENTS, save_failure
from qa.passages import Passage
from qa.snapshots import StoreReader
from qa.writing import Writer

logger = logging.getLogger(__name__)


class Staging:
    """Reserve row ids for a job and commit what its workers wrote."""

    def __init__(self, reader: StoreReader, writer: Writer, commits: Commits) -> None:
        self.reader = reader
        self.writer = writer
        self.commits = commits

    # ----- distributed adds (qa.distributed) ---------------------------------
    @contextmanager
    def staging(self, passages: int, replace_all: bool = False, encoder: str | None = None) -> Iterator[Job]:
        """Row ids for `passages` new passages, reserved for a job whose workers write segment files.

        While the job runs, its lease (a lock file the job holds) keeps other writers
        from taking its files for a dead writer's; if the job dies, the next write
        removes them, and the index is as it was. Commit with `commit_staged`.
        """
        from filelock import FileLock

        job = Job(uuid.uuid4().hex[:12], str(self.reader.folder), 0, self.reader.approximate_above)
        try:
            (self.reader.folder / SEGMENTS).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SaveFailed(save_failure(self.reader.folder, exc)) from None
        lease = FileLock(self.reader.folder / SEGMENTS / f"{job.prefix}.lock")
        lease.acquire()
        RUNNING_JOBS.add(job.id)
        try:
            with self.writer.writing() as db:
                self.commits.prepare(db, replace_all, encoder or self.reader.encoder)
                job.first = int(self.writer.settings(db)["next_rowid"])
                db.execute("BEGIN IMMEDIATE")
                self.writer.put_settings(db, next_rowid=job.first + passages, **{f"job:{job.id}": "staging"})
                db.execute("COMMIT")
            yield job
        except BaseException:
            lease.release()
            RUNNING_JOBS.discard(job.id)
            try:
                with self.writer.writing():
                    pass  # settling removes what the job wrote
            except (SaveFailed, IndexUnusable):
                pass  # the next write will
            raise
        finally:
            RUNNING_JOBS.discard(job.id)
            if lease.is_locked:
                lease.release()
            Path(lease.lock_file).unlink(missing_ok=True)

    def commit_staged(
        self,
        job: Job,
        articles: Sequence[Article],
        passages: Sequence[Passage],
        written: Sequence[dict[str, Any]],
        signatures: dict[str, bytes] | None = None,
        replace_all: bool = False,
        encoder: str | None = None,
    ) -> dict[str, str]:
        """Commit a job's articles and passages with the segment files its workers wrote (Job.write's records).
        Returns the checksums held before for these ids, as `Commits.add` does."""
        written = sorted(written, key=lambda w: min(w["rowids"]))
        held = np.sort(
            np.concatenate([np.asarray(w["rowids"], dtype=np.int64) for w in written] or [np.zeros(0, int)])
        )
        if not np.array_equal(held, np.arange(job.first, job.first + len(passages))):
            raise ValueError("the job's segments do not hold one vector per passage")
        with self.writer.writing() as db:
            if self.writer.settings(db).get(f"job:{job.id}") != "staging":
                raise SaveFailed(
                    f"The job's segment files in {self.reader.folder} were cleaned up before it finished; "
                    "run it again."
                )
            self.commits.prepare(db, replace_all, encoder or self.reader.encoder)
            old = self.commits.replaced(db, articles, replace_all)
            rowids = np.arange(job.first, job.first + len(passages), dtype=np.int64)
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT OR IGNORE INTO unsettled(rowid) VALUES (?)",
                [(int(r),) for r in [*(r for r, _ in old), *rowids]],
            )
            db.execute("COMMIT")
            self.reader.text.change(
                add=[(int(r), p.text) for r, p in zip(rowids, passages)]
            )  # invisible until committed
            number = int(self.writer.settings(db)["next_segment"])
            segment_of = np.zeros(len(passages), dtype=np.int64)
            db.execute("BEGIN IMMEDIATE")
            for n, w in enumerate(written, number):
                db.execute(
                    "INSERT INTO segments(number, file, state, kind, vectors, bytes, sha256) "
                    "VALUES (?, ?, 'live', ?, ?, ?, ?)",
                    (n, w["file"], w["kind"], w["vectors"], w["bytes"], w["sha256"]),
                )
                segment_of[np.asarray(w["rowids"], dtype=np.int64) - job.first] = n
            self.writer.put_settings(db, next_segment=number + len(written))
            db.execute("DELETE FROM settings WHERE key=?", (f"job:{job.id}",))
            return self.commits.apply(
                db,
                articles,
                passages,
                rowids,
                segment_of,
                list(range(number, number + len(written))),
                old,
                signatures or {},
                replace_all,
            )


@dataclass
class Job:
    """A distributed add's reservation, sent to its workers: where to write and the first of its row ids."""

    id: str
    folder: str
    first: int
    approximate_above: int | None

    @property
    def prefix(self) -> str:
        return f"job-{self.id}"

    def write(self, rowids: np.ndarray, vectors: np.ndarray) -> dict[str, Any]:
        """Write one segment file of the job (on a worker); returns the record commit_staged needs."""
        name = f"{self.prefix}-{int(rowids.min()):012d}.faiss"  # a batch run again writes the same file
        kind, count, size, digest = seg.write_segment_file(
            Path(self.folder) / SEGMENTS / name, rowids, vectors, self.approximate_above
        )
        return {
            "file": name,
            "rowids": rowids.tolist(),
            "kind": kind,
            "vectors": count,
            "bytes": size,
            "sha256": digest,
        }
