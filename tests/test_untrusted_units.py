"""Fast unit tests, without models, of the rules that keep untrusted names, links, dates and sizes in bounds."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from qa.articles import iso_day, local_page, read_date, valid_bound
from qa.errors import InputError
from qa.files import replacing, temporary_name
from qa.fulltext import FullText, _footer_sound
from qa.layout import SEGMENT_FILE, TEMPORARY_FILE, own_file, save_failure
from qa.passages import bounded
from ui.service import read_upload


def test_own_file_takes_only_plain_names_of_the_pattern_in_an_unlinked_subfolder(tmp_path: Path):
    (tmp_path / "segments").mkdir()
    assert (
        own_file(tmp_path, "segments", "seg-000001.faiss", SEGMENT_FILE)
        == tmp_path / "segments" / "seg-000001.faiss"
    )
    assert own_file(tmp_path, "segments", "job-0123456789ab-000000000042.faiss", SEGMENT_FILE) is not None
    for name in (
        "/etc/passwd",
        "../seg-000001.faiss",
        "seg-000001.faiss/../../x",
        "seg-1.faiss",
        "",
        None,
        7,
        "seg-000001.faiss\n",
        "SEG-000001.faiss",
    ):
        assert own_file(tmp_path, "segments", name, SEGMENT_FILE) is None, name
    (tmp_path / "segments" / "seg-000002.faiss").symlink_to("/etc/hostname")
    assert own_file(tmp_path, "segments", "seg-000002.faiss", SEGMENT_FILE) is None
    (tmp_path / "linked").symlink_to(tmp_path / "segments")
    assert own_file(tmp_path, "linked", "seg-000001.faiss", SEGMENT_FILE) is None


def test_temporary_names_are_unique_and_of_the_pattern_the_settling_removes(tmp_path: Path):
    names = {temporary_name("seg-000001.faiss") for _ in range(100)}
    assert len(names) == 100 and all(TEMPORARY_FILE.fullmatch(n) for n in names)
    target = tmp_path / "seg-000001.faiss"
    with replacing(target) as first, replacing(target) as second:  # two writers of one file at once
        assert first != second
        first.write_text("one")
        second.write_text("two")
    assert target.read_text() in ("one", "two") and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_feeds_local_links_stay_inside_its_folder(tmp_path: Path):
    feed = tmp_path / "feeds" / "wire.rss"
    (tmp_path / "feeds" / "pages").mkdir(parents=True)
    inside = tmp_path / "feeds" / "pages" / "a.html"
    inside.write_text("<p>x</p>")
    outside = tmp_path / "b.html"
    outside.write_text("<p>x</p>")
    (tmp_path / "feeds" / "c.html").symlink_to(outside)
    assert local_page(feed, "pages/a.html") == inside.resolve()
    assert local_page(feed, "./pages/../pages/a.html") == inside.resolve()
    for link in (
        str(outside),
        "../b.html",
        "c.html",
        f"file://{outside}",
        "https://example.com/a.html",
        "HTTP://example.com/a.html",
        "pages/missing.html",
        "pages",
        "",
        None,
        "\\\\server\\share\\a.html",
    ):
        assert local_page(feed, link) is None, link
    (tmp_path / "feeds" / "notes.txt").write_text("x")
    assert local_page(feed, "notes.txt") is None  # only HTML pages are read through a feed


def test_bounded_cuts_at_spaces_within_both_limits_and_keeps_offsets():
    text = "  one two three four five six seven  "
    pieces = bounded(text, 0, len(text), 3, 100)
    assert [text[s:e] for s, e in pieces] == ["one two three", "four five six", "seven"]
    pieces = bounded(text, 0, len(text), 100, 9)
    assert [text[s:e] for s, e in pieces] == ["one two", "three", "four five", "six seven"]
    word = "x" * 25
    assert [word[s:e] for s, e in bounded(word, 0, 25, 10, 10)] == ["x" * 10, "x" * 10, "x" * 5]
    text = "ab " + "y" * 12 + " cd"
    assert [text[s:e] for s, e in bounded(text, 0, len(text), 10, 5)] == ["ab", "yyyyy", "yyyyy", "yy cd"]
    assert bounded("   ", 0, 3, 5, 5) == []
    assert bounded("skip this part", 5, 14, 1, 100) == [(5, 9), (10, 14)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2025-10-01", "2025-10-01"),
        ("2025-10", "2025-10"),
        ("October 1, 2025", "2025-10-01"),
        (" 2024-02-29 ", "2024-02-29"),
        ("17 October 2025 10:30", "2025-10-17"),  # a time of day is dropped: filters count whole days
        ("", None),
        (None, None),
    ],
)
def test_read_date_reads_real_dates(text: str | None, expected: str | None):
    assert read_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["9999-99-99", "2025-13-01", "2025-02-30", "2022-13-45", "2023-02-29", "2025-00", "yesterday", "soon"],
)
def test_read_date_refuses_impossible_dates_in_one_line(text: str):
    with pytest.raises(InputError, match="date"):
        read_date(text, "Published since:")


def test_valid_bound_and_iso_day():
    assert valid_bound("2025") and valid_bound("2025-12") and valid_bound("2025-12-31")
    assert not any(
        valid_bound(v) for v in ("2025-13", "2025-12-32", "25-12-01", "2025-1-1", 20251201, None, "")
    )
    assert iso_day("2025-1-5") == "2025-01-05" and iso_day("2025-02-29") is None


@pytest.mark.parametrize(
    "error, said",
    [
        (OSError(28, "No space left on device"), "the disk is full"),
        (sqlite3.OperationalError("database or disk is full"), "the disk is full"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "permission denied"),
        (PermissionError(13, "Permission denied"), "permission denied"),
        (sqlite3.OperationalError("database is locked"), "holds its database locked"),
        (OSError(5, "Input/output error"), "could not be written (Input/output error)"),
    ],
)
def test_a_failed_save_names_its_real_cause(tmp_path: Path, error: BaseException, said: str):
    line = save_failure(tmp_path, error)
    assert said in line and "The previous index is unchanged" in line and "\n" not in line


def test_the_bm25_list_of_files_to_delete_is_cut_to_plain_names(tmp_path: Path):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    text = FullText(tmp_path / "text")
    text.change(add=[(1, "harbour grain ships")])
    managed = tmp_path / "text" / ".managed.json"
    names = json.loads(managed.read_text())
    managed.write_text(json.dumps([*names, "../victim.txt", str(victim), "a/../../victim.txt"]))
    text = FullText(tmp_path / "text")  # tantivy reads its list when it opens the folder
    text.change(add=[(2, "ferry to the island")], delete=[1])
    assert victim.read_text() == "mine"
    assert all(re.fullmatch(r"[\w.\-]+", n) for n in json.loads(managed.read_text()))
    assert [r for r, _ in text.search(["ferry island"], 5)[0]] == [2]


def test_a_bm25_files_footer_checksum_catches_one_changed_bit(tmp_path: Path):
    text = FullText(tmp_path / "text")
    text.change(add=[(n, f"passage number {n} about the harbour") for n in range(20)])
    assert text.damaged_files() == []
    files = [p for p in (tmp_path / "text").iterdir() if p.suffix in (".term", ".idx", ".store", ".fast")]
    assert files and all(_footer_sound(p) for p in files)
    data = bytearray(files[0].read_bytes())
    data[0] ^= 0x01
    files[0].write_bytes(bytes(data))
    assert text.damaged_files() == [files[0].name]
    files[1].write_bytes(files[1].read_bytes()[:-3])
    assert set(text.damaged_files()) == {files[0].name, files[1].name}


def test_an_upload_is_read_from_a_copy_under_a_plain_name_inside_the_work_folder(tmp_path: Path):
    sent, work = tmp_path / "sent", tmp_path / "work"
    sent.mkdir()
    work.mkdir()
    upload = sent / "..%2F..%2Fetc passwd .TXT"
    upload.write_text("Harbour news\n\nThe harbour master is Ilse Varga.\n")
    first = read_upload(upload, work, 0, max_bytes=1024)
    second = read_upload(upload, work, 1, max_bytes=1024)  # the same name again: a copy of its own
    assert isinstance(first, list) and isinstance(second, list)
    assert "Ilse Varga" in first[0].text and "Ilse Varga" in second[0].text
    copies = sorted(p.name for p in work.iterdir())
    assert len(copies) == 2 and all(re.fullmatch(r"[a-z0-9-]+\.txt", name) for name in copies)
    assert sorted(p.name for p in sent.iterdir()) == [upload.name]  # the upload itself is left as it was


def test_an_upload_of_another_kind_or_over_the_limit_is_refused_in_one_line(tmp_path: Path):
    (tmp_path / "work").mkdir()
    program = tmp_path / "run.exe"
    program.write_bytes(b"MZ" + b"\0" * 64)
    big = tmp_path / "big.txt"
    big.write_text("word " * 400)
    assert read_upload(program, tmp_path / "work", 0, max_bytes=1 << 20).startswith("not a supported file")
    refused = read_upload(big, tmp_path / "work", 0, max_bytes=1024)
    assert isinstance(refused, str) and "upload limit" in refused and "\n" not in refused
    assert list((tmp_path / "work").iterdir()) == []  # nothing was copied
