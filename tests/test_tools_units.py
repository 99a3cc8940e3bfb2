"""Fast tests of the pure logic behind the API, the MCP tools, the sign-in and `qa watch`, on hand-made inputs."""

from __future__ import annotations

import argparse
import base64
import os
import time
from pathlib import Path

import pytest

from qa.adding import AddReport
from qa.errors import Forbidden, IndexUnusable, InputError, NoIndex, QAError, SaveFailed
from qa.tools import whole_number
from qa.watching import Pending, Watcher, change_line, is_article_file


@pytest.mark.parametrize("value,expected", [(5, 5), ("5", 5), (5.0, 5), ("20", 20), (1, 1)])
def test_whole_number_takes_numbers_in_any_json_form(value, expected):
    assert whole_number(value, "top_k", 1, 20) == expected


@pytest.mark.parametrize("value", [0, 21, 2.5, "five", None, True, float("inf"), float("nan")])
def test_whole_number_refuses_the_rest_in_one_line(value):
    with pytest.raises(InputError, match=r"top_k must be a whole number from 1 to 20"):
        whole_number(value, "top_k", 1, 20)


@pytest.mark.parametrize(
    "name,wanted",
    [
        ("report.txt", True),
        ("feed.XML", True),
        ("story.html", True),
        ("report.txt.part", False),
        ("report.txt.crdownload", False),
        ("report.txt~", False),
        (".report.txt.swp", False),
        (".hidden.txt", False),
        ("#report.txt#", False),
        ("photo.jpg", False),
    ],
)
def test_is_article_file_passes_over_partial_and_hidden_files(name, wanted):
    assert is_article_file(Path("/news") / name) is wanted


def test_pending_gives_a_file_only_once_it_has_stopped_changing(tmp_path: Path):
    path = tmp_path / "a.txt"
    path.write_text("first part")
    pending = Pending(settle=0.0)
    pending.changed(path)
    assert pending.settled() == []  # first look: its size and time are noted
    path.write_text("first part, and more")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert pending.settled() == []  # it changed since: not yet
    assert pending.settled() == [path]  # unchanged since the last look
    assert pending.settled() == []  # and given once
    pending.changed(tmp_path / "gone.txt")
    pending.settled()
    assert pending.seen == {}  # a file gone again is dropped


def test_pending_waits_for_quiet_seconds(tmp_path: Path):
    path = tmp_path / "a.txt"
    path.write_text("x")
    pending = Pending(settle=60.0)
    pending.changed(path)
    assert pending.settled() == [] and pending.settled() == []


def test_change_line_says_what_changed_and_nothing_for_no_change():
    assert change_line("a.txt", AddReport(added=1, passages=3)) == "a.txt: 1 added (3 new passage(s))"
    assert (
        change_line("a.txt", AddReport(added=2, updated=1, passages=5))
        == "a.txt: 2 added, 1 updated (5 new passage(s))"
    )
    assert change_line("a.txt", AddReport(unchanged=1)) is None
    assert (
        change_line("a.txt", AddReport(failed=[(Path("a.txt"), "not UTF-8")])) == "a.txt: failed — not UTF-8"
    )


def test_the_sign_in_guard_checks_basic_credentials():
    from ui.api import SignInGuard

    guard = SignInGuard(app=None, credentials=[("ann", "secret"), ("bo", "pa:ss")])

    def scope(header: bytes | None) -> dict:
        return {"headers": [(b"authorization", header)] if header is not None else []}

    def basic(text: str) -> bytes:
        return b"Basic " + base64.b64encode(text.encode())

    assert guard.signed_in(scope(basic("ann:secret")))
    assert guard.signed_in(scope(basic("bo:pa:ss")))  # a password may hold colons
    assert not guard.signed_in(scope(basic("ann:wrong")))
    assert not guard.signed_in(scope(basic("ann:secret2")))
    assert not guard.signed_in(scope(basic("bo:secret")))
    assert not guard.signed_in(scope(None))
    assert not guard.signed_in(scope(b"Bearer abc"))
    assert not guard.signed_in(scope(b"Basic not-base64!"))


def test_api_statuses_match_the_clis_exit_codes():
    from ui.api import status_of

    assert status_of(InputError("x")) == 400 and InputError.exit_code == 2
    assert status_of(NoIndex("x")) == 503  # the server's own index gone: not the request's fault
    assert status_of(Forbidden("x")) == 403
    assert status_of(IndexUnusable("x")) == 503 and IndexUnusable.exit_code == 1
    assert status_of(SaveFailed("x")) == 507 and SaveFailed.exit_code == 1
    assert status_of(QAError("x")) == 500


def test_credentials_are_read_from_auth_and_auth_file(tmp_path: Path):
    from qa.cli import read_credentials

    team = tmp_path / "team.txt"
    team.write_text("# the desk\nann:secret\n\n  bo:pa:ss  \n")
    args = argparse.Namespace(auth="cy:pw", auth_file=team)
    assert read_credentials(args) == [("cy", "pw"), ("ann", "secret"), ("bo", "pa:ss")]
    team.write_text("ann\n")
    with pytest.raises(InputError, match="line 1: give a user name and password as USER:PASSWORD"):
        read_credentials(argparse.Namespace(auth=None, auth_file=team))
    with pytest.raises(InputError, match="Cannot read --auth-file"):
        read_credentials(argparse.Namespace(auth=None, auth_file=tmp_path / "missing.txt"))
    with pytest.raises(InputError, match="--auth: give a user name"):
        read_credentials(argparse.Namespace(auth=":pw", auth_file=None))


def test_the_watcher_takes_article_files_in_its_places_outside_hidden_folders(tmp_path: Path):
    news, single = tmp_path / "news", tmp_path / "one.md"
    news.mkdir()
    single.write_text("# One")
    watcher = Watcher(
        engine=None, paths=[str(news), str(single), "https://example.org/feed.xml"], settle=1, feed_every=60
    )  # type: ignore[arg-type]
    assert watcher.feeds == ["https://example.org/feed.xml"]
    assert watcher.watched(news / "a.txt") and watcher.watched(news / "2025" / "b.html")
    assert watcher.watched(single) and not watcher.watched(tmp_path / "two.md")
    assert not watcher.watched(news / ".git" / "a.txt") and not watcher.watched(news / "a.txt.part")
    assert not watcher.watched(tmp_path / "elsewhere" / "a.txt")
    with pytest.raises(InputError, match="does not exist"):
        Watcher(engine=None, paths=[str(tmp_path / "missing")], settle=1, feed_every=60)  # type: ignore[arg-type]
