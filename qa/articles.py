"""Files → articles: .txt, .md, .html and .jsonl, single files or whole folders."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from qa.config import FILE_TYPES
from qa.errors import InputError

logger = logging.getLogger(__name__)
SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".xml", ".rss", ".atom")
FEED_SUFFIXES = (".xml", ".rss", ".atom")
MAX_FILE_BYTES = (
    32 * 2**20
)  # one article file or feed (a .jsonl line); anything larger is refused before it is read
SYSTEM_FOLDERS = {
    Path(p) for p in ("/proc", "/sys", "/dev", "/run", "/boot", "/etc", "/usr", "/bin", "/lib", "/var")
}


@dataclass
class Article:
    """One news article. `id` is stable: the same file or record always gets the same id."""

    id: str
    title: str
    text: str
    date: str | None = None
    source: str | None = None
    url: str | None = None
    copy_of: str | None = None  # the first article of the story this one republishes (qa.duplicates), if any
    origin: str | None = None  # the file its id was taken from (see Engine.add_articles), if any

    @classmethod
    def from_text(
        cls,
        text: str,
        title: str = "",
        id: str | None = None,
        date: str | None = None,
        source: str | None = None,
        url: str | None = None,
    ) -> Article:
        """An article from a string; without an id, one is derived from the url or the content."""
        key = url or f"{title}\n{text}"
        return cls(id or "a" + hashlib.sha1(key.encode()).hexdigest()[:12], title, text, date, source, url)

    @property
    def checksum(self) -> str:
        """Changes whenever anything shown or searched changes (not which story it copies, nor where it was read)."""
        fields = {k: v for k, v in asdict(self).items() if k not in ("copy_of", "origin")}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def normalise_date(raw: str | None) -> str | None:
    """A publication date as ISO 8601 (a day, or a time with its offset where one is given); else as written.

    Parsed with dateparser (absolute dates only: "yesterday" in a file means nothing
    without the file's own date). An unparseable date is kept as written, so nothing
    is lost; `is_iso_date` tells them apart and `qa index info` lists them.
    """
    if raw is None or not str(raw).strip():
        return None
    raw = " ".join(str(raw).split())
    if len(raw) > DATE_MOST_CHARS:
        return (
            raw  # no date is this long: kept as written, never handed to the parser (its time grows with it)
        )
    if ISO_LIKE.fullmatch(
        raw
    ):  # numbers in ISO order: valid as written or not a date (never re-read day-first)
        return iso_day(raw) or raw
    import dateparser

    parsed = dateparser.parse(
        raw,
        settings={
            "REQUIRE_PARTS": ["day", "month", "year"],
            "PARSERS": ["timestamp", "custom-formats", "absolute-time"],
        },
    )
    if parsed is None:
        return raw
    if parsed.tzinfo is None and (parsed.hour, parsed.minute, parsed.second) == (0, 0, 0):
        return parsed.date().isoformat()
    return parsed.isoformat(timespec="minutes" if parsed.second == 0 else "seconds")


DATE_MOST_CHARS = 64  # the longest date read ("Wednesday, 22 October 2025 14:05:00 +0200" is 41)
FIELD_MOST_CHARS = (
    1000  # the longest filter value or article field (not its text) taken from a person or program
)
ISO_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
ISO_BOUND = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")  # a filter bound: a year, a month or a day


def iso_day(text: str) -> str | None:
    """YYYY-MM-DD for a real calendar day written as year-month-day numbers, else None (2025-02-30 is None)."""
    import datetime

    try:
        year, month, day = (int(part) for part in text.split("-"))
        return datetime.date(year, month, day).isoformat()
    except ValueError:
        return None


def valid_bound(value: object) -> bool:
    """Whether a filter bound is a real year, month (YYYY-MM) or day (YYYY-MM-DD)."""
    if not isinstance(value, str) or not ISO_BOUND.fullmatch(value):
        return False
    parts = value.split("-")
    return (len(parts) < 2 or 1 <= int(parts[1]) <= 12) and (len(parts) < 3 or iso_day(value) is not None)


def read_date(text: str | None, what: str = "") -> str | None:
    """A date a person typed (a filter bound), as ISO 8601; None when empty; InputError when it is not a date.

    This is the one place typed dates are read (CLI, API, page): ISO forms must be real days
    (2025-02-30 and 2025-13-01 are refused, never read another way round); other forms go
    through dateparser.
    """
    if text is None or not str(text).strip():
        return None
    if not isinstance(text, str):
        raise InputError(f"{what + ' ' if what else ''}{text!r} is not a date; write it like 2025-10-01.")
    text = plain(text, what or "A date", DATE_MOST_CHARS).strip()
    if ISO_BOUND.fullmatch(text) and "-" in text:
        if valid_bound(text):
            return text
        raise InputError(
            f"{what + ' ' if what else ''}{text!r} is not a real date; write it like 2025-10-01."
        )
    value = normalise_date(text)
    if not is_iso_date(value):
        raise InputError(
            f"{what + ' ' if what else ''}{str(text)!r} is not a date; write it like 2025-10-01."
        )
    return (value or "")[:10]  # a day: filters and "as of" count whole days (a time of day is dropped)


def is_iso_date(value: str | None) -> bool:
    """Whether a stored date is a normalised one (it then sorts and compares as text)."""
    return bool(value) and re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ].*)?", value or "") is not None


def _front_matter(text: str) -> tuple[dict[str, str], str]:
    """Leading metadata of a .txt/.md article: YAML-style front matter between --- lines, or
    "Date:", "Source:", "URL:" lines before the text. Returns the fields found and the rest."""
    fields: dict[str, str] = {}
    lines = text.lstrip("\ufeff").split("\n")
    if lines and lines[0].strip() == "---" and "---" in (line.strip() for line in lines[1:40]):
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
        for line in lines[1:end]:
            key, sep, value = line.partition(":")
            if sep and key.strip():
                fields[key.strip().lower()] = value.strip().strip("\"'")
        return fields, "\n".join(lines[end + 1 :])
    meta = re.compile(r"\s*(date|published|source|url)\s*:\s*(.+)$", re.IGNORECASE)
    at = (
        1 if lines and not meta.match(lines[0]) and _looks_like_title(lines[0]) else 0
    )  # a title may come first
    while at < len(lines) and not lines[at].strip() and at < 3:
        at += 1
    while at < len(lines):
        match = meta.match(lines[at])
        if not match:
            break
        fields[match.group(1).lower()] = match.group(2).strip()
        lines.pop(at)
    if "published" in fields:
        fields.setdefault("date", fields.pop("published"))
    return fields, "\n".join(lines)


def clean_text(text: str, form: str = "NFC") -> str:
    """Text as the models can take it: normalised (`form`), without lone surrogates, control or format characters.

    Lone surrogates come from bytes decoded with surrogateescape or from JSON escapes;
    the tokenizers refuse them. Line breaks and tabs are kept. Articles keep NFC, which
    changes no visible character, so citations quote them faithfully.
    """
    if _has_surrogates(text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize(form, text)  # type: ignore[arg-type]
    return "".join(
        ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co")
    )


def plain(value: str, what: str, most: int = FIELD_MOST_CHARS) -> str:
    """`value` when it is text a person could have typed: at most `most` characters, no lone surrogate (which
    JSON's "\\ud800" escapes and undecodable bytes produce, and which no encoder takes); InputError otherwise."""
    if len(value) > most:
        raise InputError(f"{what} is {len(value):,} characters long; at most {most} are taken.")
    if _has_surrogates(value):
        raise InputError(
            f"{what} holds a lone surrogate (such as \\ud800), which is not text; send UTF-8 text."
        )
    return value


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


MAX_ID_CHARS = 1000  # a JSONL record's own id, kept as given


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "article"


def _read_bytes(path: Path) -> bytes:
    """A file's bytes, refused in one line beyond MAX_FILE_BYTES (never more than that is read into memory)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path} could not be read ({exc.strerror}).") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(
            f"{path} is larger than {MAX_FILE_BYTES // 2**20} MB, more than one file of articles should "
            "be; split it into smaller files (a .jsonl file can hold any number of articles)."
        )
    return data


def _read_text(path: Path) -> str:
    try:
        return clean_text(_read_bytes(path).decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text; convert it to UTF-8 and add it again.") from None


def _looks_like_title(line: str) -> bool:
    """A short line without final punctuation: a headline, not a sentence."""
    return bool(line.strip()) and len(line) <= 150 and not re.search(r"[.!?:;,]$", line.strip())


def _title_and_body(text: str, fallback: str) -> tuple[str, str]:
    """A leading Markdown heading or short first line is the title; otherwise the file name is."""
    stripped = text.lstrip()
    first, _, rest = stripped.partition("\n")
    heading = re.match(r"#+\s+(.*)", first)
    if heading:
        return heading.group(1).strip(), rest.strip()
    if rest.strip() and _looks_like_title(first):
        return first.strip(), rest.strip()
    return fallback, text.strip()


def title_of_name(stem: str) -> str:
    """A title from a file's name, as a person would read it: separators become spaces, the first letter is
    raised, no other letter is changed ("Trump-Putin-summit" keeps its capitals)."""
    name = " ".join(stem.replace("-", " ").replace("_", " ").split())
    return name[:1].upper() + name[1:]


def read_text_file(path: Path, id: str | None = None) -> Article:
    fields, text = _front_matter(_read_text(path))
    title, body = _title_and_body(text, title_of_name(path.stem))
    if not body:
        raise InputError(f"{path} holds no text; add a file with the article's text.")
    return Article(
        id or slug(path.stem),
        fields.get("title") or title,
        body,
        normalise_date(fields.get("date")),
        fields.get("source"),
        fields.get("url"),
        origin=_origin(path),
    )


def read_html_file(path: Path, id: str | None = None) -> Article:
    import trafilatura

    html = _read_text(path)
    text = trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True)
    if not text or not text.strip():
        raise InputError(f"No article text could be found in {path}; save the page's text as .txt instead.")
    meta = trafilatura.extract_metadata(html)
    title = (meta.title if meta and meta.title else None) or path.stem.replace("-", " ").capitalize()
    return Article(
        id or slug(path.stem),
        title,
        text.strip(),
        normalise_date(meta.date) if meta else None,
        meta.sitename if meta else None,
        meta.url if meta else None,
        origin=_origin(path),
    )


def _origin(path: Path) -> str:
    """Where an article whose id is its file's name was read: the file's absolute path."""
    return str(path.absolute())


def distinct_id(article: Article) -> str:
    """The id of an article read from another file of the same name: its name and a hash of its path."""
    return f"{article.id}-{hashlib.sha1((article.origin or article.text).encode()).hexdigest()[:8]}"


def read_jsonl_file(path: Path) -> list[Article]:
    """One article per line, read line by line (no line may exceed MAX_FILE_BYTES; the file may be any size:
    an add reads it in bounded batches through `jsonl_articles`)."""
    articles = list(jsonl_articles(path))
    if not articles:
        raise InputError(f'{path} holds no articles; add one JSON object per line with a "text" field.')
    return articles


def jsonl_articles(path: Path) -> Iterator[Article]:
    """The articles of a .jsonl file, one line at a time; InputError in one line at the first bad line."""
    try:
        with open(path, "rb") as f:
            for n, raw in enumerate(iter(lambda: f.readline(MAX_FILE_BYTES + 1), b""), 1):
                if len(raw) > MAX_FILE_BYTES:
                    raise InputError(
                        f"{path}, line {n}, is longer than {MAX_FILE_BYTES // 2**20} MB; each line must "
                        "be one article."
                    )
                article = _jsonl_article(path, n, raw)
                if article is not None:
                    yield article
    except OSError as exc:
        raise InputError(f"{path} could not be read ({exc.strerror}).") from None


def _jsonl_article(path: Path, n: int, raw: bytes) -> Article | None:
    """Line `n` of a .jsonl file as an article (None for a blank line)."""
    try:
        line = clean_text(raw.decode("utf-8-sig" if n == 1 else "utf-8"))
    except UnicodeDecodeError:
        raise InputError(
            f"{path}, line {n}, is not UTF-8 text; convert the file to UTF-8 and add it again."
        ) from None
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        raise InputError(f"{path}, line {n}, is not valid JSON; each line must be one JSON object.") from None
    if not isinstance(record, dict) or not isinstance(record.get("text"), str) or not record["text"].strip():
        raise InputError(
            f"{path}, line {n}, has no 'text'; each line needs at least a non-empty \"text\" field."
        )
    fields = {
        k: (clean_text(str(record[k])) if record.get(k) is not None else None)
        for k in ("title", "date", "source", "url", "id")
    }
    given = " ".join((fields["id"] or "").split())  # kept as given (one line), as a url id always was
    if len(given) > MAX_ID_CHARS:
        raise InputError(
            f"{path}, line {n}, has an id of {len(given):,} characters; keep ids under {MAX_ID_CHARS}."
        )
    return Article.from_text(
        clean_text(record["text"]).strip(),
        title=fields["title"] or f"{path.stem} #{n}",
        id=given or fields["url"],
        date=normalise_date(fields["date"]),
        source=fields["source"],
        url=fields["url"],
    )


def read_feed_file(path: Path, local_links: bool = True, fetch_pages: bool = False) -> list[Article]:
    """The entries of an RSS or Atom file (feedparser), each an article with its title, date, source and url.

    An entry whose link names an HTML file in the feed's own folder (a relative link, see
    `local_page`) is read in full through the HTML extractor, unless `local_links` is off
    (an uploaded feed); otherwise its content (or summary) is the text. Nothing is fetched
    from the network unless `fetch_pages` (`--fetch-pages`; never for an upload): then an entry's web page is
    fetched and its main text extracted (qa.fetching: public addresses only, a deadline and a size cap); a
    page that cannot be had keeps the feed's own text, said in one warning line. An entry's id is its feed
    id or link, so adding the same feed again adds only new or changed entries.
    """
    import feedparser

    feed = feedparser.parse(_read_bytes(path))
    if not feed.entries:
        reason = f" ({type(feed.bozo_exception).__name__})" if feed.get("bozo") else ""
        raise InputError(f"{path} holds no feed entries{reason}; pass an RSS or Atom file.")
    source = clean_text(feed.feed.get("title", "")).strip() or None
    articles = []
    for n, entry in enumerate(feed.entries, 1):
        link = entry.get("link")
        local = local_page(path, link) if local_links else None
        fetched = fetched_text(link) if fetch_pages and local is None and link else ""
        if local is not None:
            text = read_html_file(local).text
        elif fetched:
            text = fetched
        else:
            html = (
                entry.get("content", [{}])[0].get("value")
                if entry.get("content")
                else entry.get("summary", "")
            )
            text = _html_to_text(html or "")
        if not text.strip():
            continue
        date = entry.get("published") or entry.get("updated")
        articles.append(
            Article.from_text(
                clean_text(text).strip(),
                title=clean_text(entry.get("title", "")).strip() or f"{path.stem} #{n}",
                id=entry.get("id") or link,
                date=normalise_date(date),
                source=source,
                url=link,
            )
        )
    if not articles:
        raise InputError(f"{path} has feed entries but none with text; nothing to add.")
    return articles


def fetched_text(link: str) -> str:
    """The main text of the web page at `link` (qa.fetching.fetch_page, then trafilatura), or "" with a
    warning line when it cannot be had."""
    import trafilatura

    from qa.fetching import fetch_page

    try:
        html = fetch_page(link)
    except InputError as exc:
        logger.warning("%s: page not fetched (%s); the feed's own text is kept", link[:300], exc)
        return ""
    return trafilatura.extract(html, include_comments=False, include_tables=False, favor_precision=True) or ""


def local_page(feed: Path, link: str | None) -> Path | None:
    """The HTML file a feed entry's relative link names inside the feed's own folder, or None.

    A link with a scheme (https:, file:, ...) stays a link; an absolute path, a `..` that
    leaves the folder, or a link through a symbolic link to elsewhere is never opened.
    """
    if not link or re.match(r"^[a-z][a-z0-9+.-]*:", link, re.IGNORECASE) or link.startswith(("/", "\\")):
        return None
    home = feed.parent.resolve()
    try:
        page = (home / link).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not page.is_relative_to(home) or not page.is_file() or page.suffix.lower() not in (".html", ".htm"):
        return None
    return page


def _html_to_text(html: str) -> str:
    """Text of an HTML fragment (a feed entry's content), paragraphs on lines of their own."""
    if "<" not in html:
        return html
    import lxml.html

    try:
        root = lxml.html.fromstring(f"<div>{html}</div>")
    except (ValueError, lxml.etree.ParserError):
        return ""
    for block in root.iter("p", "br", "div", "li", "h1", "h2", "h3", "h4"):
        block.tail = "\n" + (block.tail or "")
    return "\n".join(line.strip() for line in root.text_content().splitlines() if line.strip())


def read_file(path: Path, local_links: bool = True, fetch_pages: bool = False) -> list[Article]:
    """The articles of one file; `local_links` off: a feed's links never open local files (uploads);
    `fetch_pages`: a feed's entries are read from their web pages (see read_feed_file)."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl_file(path)
    if suffix in FEED_SUFFIXES:
        return read_feed_file(path, local_links, fetch_pages)
    if suffix in (".html", ".htm"):
        return [read_html_file(path)]
    if suffix in (".txt", ".md", ".markdown"):
        return [read_text_file(path)]
    raise InputError(f"{path} is not a supported file; use {FILE_TYPES}.")


@dataclass
class Collected:
    """What a set of files and folders held: the articles, and each file that failed or was passed over."""

    articles: list[Article] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)  # (file, the one-line reason)
    skipped: list[Path] = field(
        default_factory=list
    )  # files in folders that are not articles (.pdf, .docx, ...)
    links: list[Path] = field(default_factory=list)  # links in folders that lead out of them: not followed


def collect_articles(
    paths: Iterable[str | Path], local_links: bool = True, fetch_pages: bool = False
) -> Collected:
    """All articles under the given files and folders, in a stable order, ids unique.

    A file that cannot be read is recorded with its reason and the others are still
    read; a path that does not exist, or a folder with no article files, is a
    mistake in the command itself and raises InputError at once.
    """
    collected, files = list_files(paths)
    return gather(collected, [read_one(file, local_links, fetch_pages) for file in files])


def list_files(paths: Iterable[str | Path]) -> tuple[Collected, list[Path]]:
    """The article files under the given files and folders, in a stable order (see collect_articles).

    Returns the Collected to fill, with the files passed over already in it, and the files to read.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not isinstance(paths, Iterable):
        raise InputError(
            f"{paths!r} is not a list of files or folders; pass paths as strings or pathlib.Path objects."
        )
    collected = Collected()
    files: list[Path] = []
    for raw in paths:
        if not isinstance(raw, (str, Path)):
            raise InputError(f"{raw!r} is not a path; pass files or folders as strings or paths.")
        path = Path(raw)
        if path.is_dir():
            if path.resolve() == Path(path.resolve().anchor) or path.resolve() in SYSTEM_FOLDERS:
                raise InputError(
                    f"{path} is a system folder, not a folder of articles; point to the folder that holds them."
                )
            try:
                found, links = files_inside(path)
            except OSError as exc:
                raise InputError(
                    f"{path} could not be read ({exc.strerror or type(exc).__name__}); check its permissions."
                ) from None
            collected.links.extend(links)
            articles = [p for p in found if p.suffix.lower() in SUFFIXES]
            if not articles:
                raise InputError(f"{path} holds no {FILE_TYPES} files; point to a folder of articles.")
            files.extend(articles)
            collected.skipped.extend(p for p in found if p.suffix.lower() not in SUFFIXES)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise InputError(
                f"{path} is not a regular file (a FIFO, a device or a socket); nothing was read."
            )
        else:
            raise InputError(f"{path} does not exist; check the path.")
    return collected, files


def leaves(path: Path, folder: Path) -> bool:
    """Whether `path`, found inside `folder`, leads out of it through a link (the folder itself may be one)."""
    try:
        return not path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a loop of links
        return True


def files_inside(folder: Path) -> tuple[list[Path], list[Path]]:
    """The regular files under `folder` (not hidden) in a stable order, and the links passed over: a link to a
    folder is never entered, and a link to a file is taken only when the file lies inside `folder`."""
    found: list[Path] = []
    links: list[Path] = []

    def fail(exc: OSError) -> None:
        raise exc

    for where, folders, names in os.walk(folder, onerror=fail):
        here = Path(where)
        links += [here / d for d in folders if (here / d).is_symlink() and leaves(here / d, folder)]
        folders[:] = sorted(d for d in folders if not (here / d).is_symlink())
        for name in names:
            p = here / name
            if name.startswith("."):
                continue
            if p.is_symlink() and leaves(p, folder):
                links.append(p)
            elif p.is_file():  # a FIFO or a device is no article
                found.append(p)
    return sorted(found), sorted(links)


def read_one(
    file: Path, local_links: bool = True, fetch_pages: bool = False
) -> tuple[Path, list[Article] | str]:
    """One file's articles, or the one-line reason it could not be read (what a worker runs on each file)."""
    try:
        return file, read_file(file, local_links, fetch_pages)
    except InputError as exc:
        return file, str(exc)
    except (
        OSError,
        ValueError,
        RecursionError,
        MemoryError,
    ) as exc:  # what a strange file can do to a parser
        return file, f"{file} could not be read as an article ({type(exc).__name__})."


def gather(collected: Collected, read: Iterable[tuple[Path, list[Article] | str]]) -> Collected:
    """Files' articles (or failures), in file order, into `collected`; ids made unique in that order."""
    seen: dict[str, int] = {}
    for file, found in read:
        if isinstance(found, str):
            collected.failed.append((file, found))
            continue
        for article in found:
            unique(article, seen)  # two files with the same name in different folders
            collected.articles.append(article)
    return collected


BATCH_CHARS = 4_000_000  # an add reads, embeds and commits at most about this much text at a time ...
BATCH_ARTICLES = 5_000  # ... and at most this many articles (a .jsonl of tiny records)


def batched_articles(paths: Iterable[str | Path], fetch_pages: bool = False) -> Iterator[Collected]:
    """What `collect_articles` finds, in batches of at most BATCH_ARTICLES articles or about BATCH_CHARS
    characters, read as they are needed: memory stays flat whatever the size of a .jsonl file.

    A .jsonl file is read twice, once to check every line (a file with a bad line is left out whole, as
    before) and once for its articles. The first batch also carries the files passed over; ids are made
    unique across the batches as `gather` does. Always yields at least one batch."""
    batch, files = list_files(paths)
    seen: dict[str, int] = {}
    size = 0
    for file in files:
        if file.suffix.lower() == ".jsonl":
            problem = jsonl_problem(file)
            if problem:
                batch.failed.append((file, problem))
                continue
            found: Iterable[Article] = jsonl_articles(file)
        else:
            _, read = read_one(file, fetch_pages=fetch_pages)
            if isinstance(read, str):
                batch.failed.append((file, read))
                continue
            found = read
        for article in found:
            unique(article, seen)
            batch.articles.append(article)
            size += len(article.text)
            if size >= BATCH_CHARS or len(batch.articles) >= BATCH_ARTICLES:
                yield batch
                batch, size = Collected(), 0
    if batch.articles or batch.failed or batch.skipped or batch.links or not seen:
        yield batch


def jsonl_problem(path: Path) -> str | None:
    """Why a .jsonl file cannot be added (its first bad line, or no article at all), or None; read line by line."""
    count = 0
    try:
        for _ in jsonl_articles(path):
            count += 1
    except InputError as exc:
        return str(exc)
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{path} could not be read as an article ({type(exc).__name__})."
    return None if count else f'{path} holds no articles; add one JSON object per line with a "text" field.'


def unique(article: Article, seen: dict[str, int]) -> None:
    """Give `article` an id not yet in `seen` (two files of one name in different folders), and record it."""
    if article.id in seen:
        seen[article.id] += 1
        article.id = distinct_id(article) if article.origin else f"{article.id}-{seen[article.id]}"
    seen.setdefault(article.id, 1)


def load_articles(paths: Iterable[str | Path]) -> list[Article]:
    """All articles under the given files and folders, or InputError for the first file that fails."""
    collected = collect_articles(paths)
    if collected.failed:
        raise InputError(collected.failed[0][1])
    return collected.articles
