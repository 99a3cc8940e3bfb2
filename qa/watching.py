"""`qa watch`: an archive that keeps itself current.

Folders (and files) are watched with watchdog: a new or changed article file is added once it has settled
(no change for `settle` seconds and the same size twice, so a file still being copied is not read half
written); names that editors and downloads use for partial files are ignored. Feeds given as http(s)
addresses are fetched again every `feed_every` seconds. Each change is one log line. The index takes one
writer at a time, so the watcher runs safely next to a page and other `qa index` commands. Ctrl+C stops
it cleanly between two adds. Needs the `watch` extra: pip install "qa-news[watch]" (not for `--once`, which
adds what is there now, fetches the feeds once and stops: a refresh to run from cron).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.adding import AddReport
from qa.articles import SUFFIXES, collect_articles, files_inside, leaves
from qa.config import FILE_TYPES, Config
from qa.engine import Engine
from qa.errors import InputError, QAError
from qa.fetching import download_at_most, within

logger = logging.getLogger(__name__)


class AddFailed(QAError):
    """`qa watch --once` could not add some files or feeds (each has its line); exit status 1, as `qa index add`."""


PARTIAL = (".part", ".partial", ".tmp", ".crdownload", ".download", ".swp", "~")  # files still being written
FEED_MOST_BYTES = 32 * 1024 * 1024  # a fetched feed is read up to this size
FEED_DEADLINE = 60.0  # seconds one feed's whole download may take
TICK = 0.25  # seconds between looks at what has settled


def note(line: str) -> None:
    """One log line, stamped with the time of day."""
    logger.warning("%s %s", time.strftime("%Y-%m-%d %H:%M:%S"), line)


def is_article_file(path: Path) -> bool:
    """Whether a changed path is an article file worth adding (not hidden, not a partial download)."""
    name = path.name
    return (
        not name.startswith((".", "~", "#"))
        and not name.lower().endswith(PARTIAL)
        and path.suffix.lower() in SUFFIXES
    )


def change_line(where: str, report: AddReport) -> str | None:
    """The log line for one add; None when nothing changed."""
    if report.failed:
        return f"{where}: failed — {report.failed[0][1]}"
    if not (report.added or report.updated):
        return None
    done = ", ".join(f"{n} {what}" for n, what in ((report.added, "added"), (report.updated, "updated")) if n)
    return f"{where}: {done} ({report.passages} new passage(s))"


@dataclass
class Pending:
    """Files seen changing, and what each looked like when last seen: a file is added once it stops changing."""

    settle: float
    seen: dict[Path, tuple[float, tuple[int, int] | None]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def changed(self, path: Path) -> None:
        with self.lock:
            self.seen[path] = (time.monotonic(), None)

    def settled(self) -> list[Path]:
        """Files quiet for `settle` seconds whose size and mtime held since the last look; they leave the list."""
        ready = []
        now = time.monotonic()
        with self.lock:
            for path, (when, shape) in list(self.seen.items()):
                if now - when < self.settle:
                    continue
                try:
                    info = path.stat()
                except OSError:  # gone again: nothing to add
                    del self.seen[path]
                    continue
                current = (info.st_size, info.st_mtime_ns)
                if shape == current:
                    ready.append(path)
                    del self.seen[path]
                else:
                    self.seen[path] = (when, current)  # look again next tick
        return sorted(ready)


def fetch_feed(url: str, folder: Path, deadline: float = FEED_DEADLINE) -> Path:
    """Download a feed into `folder` under a name fixed by its address (so its articles keep their ids).

    The whole download has `deadline` seconds, on a thread of its own (a feed that drips one byte at a time, or
    never answers, costs at most that), and at most FEED_MOST_BYTES are read."""
    target = folder / f"feed-{hashlib.sha1(url.encode()).hexdigest()[:12]}.xml"
    try:
        data, _ = within(
            deadline, lambda: download_at_most(url, time.monotonic() + deadline, FEED_MOST_BYTES)
        )
    except TimeoutError:
        raise InputError(f"no whole answer within {deadline:g} s; trying again later") from None
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot fetch it ({getattr(exc, 'reason', None) or exc}); trying again later"
        ) from None
    if len(data) > FEED_MOST_BYTES:
        raise InputError(f"larger than {FEED_MOST_BYTES // (1024 * 1024)} MB; not read")
    target.write_bytes(data)
    return target


class Watcher:
    """Adds what changed in the watched paths to one engine; `run` until `stop` is set."""

    def __init__(
        self,
        engine: Engine,
        paths: Sequence[str],
        settle: float,
        feed_every: float,
        fetch_pages: bool = False,
    ) -> None:
        self.engine = engine
        self.fetch_pages = fetch_pages  # a feed's entries read from their web pages (qa.fetching)
        self.feeds = [p for p in paths if p.startswith(("http://", "https://"))]
        self.places = [Path(p).expanduser().resolve() for p in paths if p not in self.feeds]
        for place in self.places:
            if not place.exists():
                raise InputError(f"{place} does not exist; give folders, files or feed addresses to watch.")
        self.pending = Pending(settle)
        self.feed_every = feed_every
        self.last_fetch = -float("inf")
        self.adding = threading.Lock()  # the files' adds and the feeds' (on a thread of their own) take turns
        self.failures = 0  # files and feeds that could not be added (`--once` exits 1 if any)

    def failed(self, line: str) -> None:
        self.failures += 1
        note(line)

    def watched(self, path: Path) -> bool:
        """Whether a changed path is an article file inside a watched place, outside hidden folders."""
        for place in self.places:
            if path == place or place in path.parents:
                hidden = any(part.startswith(".") for part in path.relative_to(place).parts[:-1])
                return is_article_file(path) and not hidden
        return False

    def add_file(self, path: Path) -> None:
        if any(leaves(path, place) for place in self.places if place.is_dir() and place in path.parents):
            note(f"{path}: skipped — a link leading out of the watched folder; never followed")
            return
        try:
            with self.adding:
                line = change_line(str(path), self.engine.add([path], fetch_pages=self.fetch_pages))
        except QAError as exc:
            line = f"{path}: failed — {exc}"
        if line:
            (self.failed if ": failed — " in line else note)(line)

    def fetch_feeds(self, stop: threading.Event | None = None) -> None:
        """Fetch each feed (each within its deadline) and add what it holds; one line per feed that changed or
        failed."""
        self.last_fetch = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="qa-watch-") as tmp:
            for url in self.feeds:
                if stop is not None and stop.is_set():
                    return
                try:
                    collected = collect_articles(
                        [fetch_feed(url, Path(tmp))], local_links=False, fetch_pages=self.fetch_pages
                    )
                    if collected.failed:
                        raise InputError(collected.failed[0][1])
                    with self.adding:
                        line = change_line(url, self.engine.add_articles(collected.articles))
                except QAError as exc:
                    self.failed(f"{url}: failed — {exc}")
                    continue
                if line:
                    note(line)

    def follow_feeds(self, stop: threading.Event) -> None:
        """Fetch the feeds every `feed_every` seconds until `stop` (run on a thread of its own)."""
        while not stop.is_set():
            if time.monotonic() - self.last_fetch >= self.feed_every:
                self.fetch_feeds(stop)
            stop.wait(TICK)

    def catch_up(self, feeds: bool = True) -> None:
        """Add what is already there in one commit (unchanged articles cost a checksum each); then, with
        `feeds`, fetch the feeds once."""
        files: list[Path] = []
        for place in self.places:
            found, links = files_inside(place) if place.is_dir() else ([place], [])
            files += [path for path in found if self.watched(path)]
            for path in found:  # as `qa index add` names them (not a failure)
                if path.suffix.lower() not in SUFFIXES and is_article_file(path.with_suffix(".txt")):
                    note(f"{path}: skipped — not a {FILE_TYPES} file")
            for link in links:
                note(f"{link}: skipped — a link leading out of the watched folder; never followed")
        if files:
            line: str | None = None
            try:
                with self.adding:
                    report = self.engine.add(files, fetch_pages=self.fetch_pages)
                line = change_line(
                    f"{len(files)} file(s) already there", dataclasses.replace(report, failed=[])
                )
                for path, reason in report.failed:
                    self.failed(f"{path}: failed — {reason}")
            except QAError as exc:
                self.failed(f"the files already there: failed — {exc}")
            if line:
                note(line)
        if self.feeds and feeds:
            self.fetch_feeds()

    def run(self, stop: threading.Event) -> None:
        """Add each file once it has settled, until `stop`; the feeds are fetched on a thread of their own, so a
        slow one never holds up a file."""
        if self.feeds:
            threading.Thread(target=self.follow_feeds, args=(stop,), name="qa-feeds", daemon=True).start()
        while not stop.is_set():
            for path in self.pending.settled():
                if stop.is_set():
                    break
                self.add_file(path)
            stop.wait(TICK)


def observe(watcher: Watcher) -> Any:
    """A started watchdog observer that tells `watcher.pending` of every created, changed or moved-in file."""
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    class Changes(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.is_directory or event.event_type not in ("created", "modified", "moved", "closed"):
                return
            raw = event.dest_path if event.event_type == "moved" else event.src_path
            path = Path(raw.decode() if isinstance(raw, bytes) else raw)
            if watcher.watched(path):
                watcher.pending.changed(path)

    observer = Observer()
    for folder in {p if p.is_dir() else p.parent for p in watcher.places}:
        observer.schedule(Changes(), str(folder), recursive=True)
    observer.start()
    return observer


def stop_on_signals() -> threading.Event:
    """An event that Ctrl+C (or SIGTERM) sets, so the add under way finishes first; a second Ctrl+C interrupts."""
    stop = threading.Event()

    def stopping(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        note("Stopping after the change under way (Ctrl+C again to interrupt it) ...")
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, stopping)
        signal.signal(signal.SIGTERM, stopping)
    return stop


def watch(
    paths: Sequence[str],
    index_dir: Path,
    config: Config,
    feed_every: float = 300.0,
    settle: float = 1.0,
    stop: threading.Event | None = None,
    on_ready: Callable[[], None] | None = None,
    once: bool = False,
    fetch_pages: bool = False,
) -> None:
    """Keep the index at `index_dir` current with `paths` until Ctrl+C (or `stop`); creates the index if needed.
    With `once`, add what the paths hold now (feeds fetched once) and return: a refresh for cron."""
    engine = Engine.open_or_create(index_dir, config)
    watcher = Watcher(engine, paths, settle, feed_every, fetch_pages)
    if once:
        watcher.catch_up()
        places = ", ".join([str(p) for p in watcher.places] + watcher.feeds)
        if watcher.failures:
            raise AddFailed(f"{watcher.failures} file(s) or feed(s) of {places} could not be added (above).")
        note(f"Brought the index up to date with {places}.")
        return
    stop = stop or stop_on_signals()
    observer = observe(watcher)  # before catching up, so nothing written meanwhile is missed
    try:
        watcher.catch_up(feeds=False)  # the feeds' thread fetches them first thing
        note(
            f"Watching {', '.join([str(p) for p in watcher.places] + watcher.feeds)} for new and changed articles"
            + (f" (feeds every {feed_every:g} s)" if watcher.feeds else "")
            + "; Ctrl+C stops."
        )
        if on_ready:
            on_ready()
        watcher.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        observer.stop()
        observer.join(timeout=10)
        note("Stopped watching.")
