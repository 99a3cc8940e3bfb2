"""The file chores every stage shares: atomic replacement, fsync, hashing (the writers' lock is filelock's).

Each lives here once, so that a fix to how a file is made durable reaches every
place that writes one.
"""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync(path: Path) -> None:
    """Make a file's (or a folder's entries') current content durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; once written, it atomically becomes `path`.

    A reader sees the old file or the new one, never half of either; if the
    writing fails, the temporary file is removed and `path` is untouched. The
    temporary name is unique (`temporary_name`), so two processes replacing one
    file never write into each other's.
    """
    tmp = path.with_name(temporary_name(path.name))
    try:
        yield tmp
        fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync(path.parent)


def temporary_name(name: str) -> str:
    """A unique name for a file being written that will become `name`: NAME.<12 hex digits>.tmp."""
    return f"{name}.{uuid.uuid4().hex[:12]}.tmp"


def write_atomic(path: Path, text: str) -> None:
    """Replace a text file atomically (see `replacing`)."""
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def not_plain(path: Path, folder: bool = False) -> str | None:
    """Why `path` is no plain file (or, `folder`, no plain folder) of its own: "a link" or "a FIFO, a device or
    a socket" (and "a link to another ..."), without following or opening it; None when it is one, or is absent."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISLNK(mode):
        return "a link to another folder" if folder else "a link to another file"
    if folder and not stat.S_ISDIR(mode):
        return "not a folder"
    if not folder and not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        return "a FIFO, a device or a socket, not a regular file"
    return None
