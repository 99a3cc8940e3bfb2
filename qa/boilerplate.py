"""News text that is not the news: datelines, bylines, credits, newsletter and ad boilerplate.

A line of an article is boilerplate when it is, as a whole, one of the kinds below. Boilerplate
lines never become passages (qa.passages), so they are neither searched nor offered as answers,
while the article's stored text, and so every cited offset, stays exactly as it was read.

The kinds are general forms, not one outlet's strings: a short line ending in a dash (a dateline,
"Washington CNN —"), a dash or "By" and a name (a byline), a line that credits a photo or an agency,
a line that asks the reader to sign up, subscribe, follow or rate an ad, rules and ornaments.
"""

from __future__ import annotations

import re

DASHES = "\u2014\u2013-"
DATELINE = re.compile(rf"^[^.!?:]{{0,60}}[{DASHES}]\s*$")  # "London CNN Business —", "CNN —"
BYLINE = re.compile(
    rf"^(?:[{DASHES}]\s*|by\s+)[A-Z][\w.'\u2019-]+(?:\s+[A-Z][\w.'\u2019-]+){{0,3}}"
    r"(?:\s*(?:,|and)\s*[A-Z][\w.'\u2019-]+(?:\s+[A-Z][\w.'\u2019-]+){0,3})*\s*$",
    re.IGNORECASE,
)
CREDIT = re.compile(
    r"(getty images|ap photo|/pool/|\bphoto(graph)?s?:|\bcredit:|\bcontributing:|\bwire reports\b"
    r"|^(?:the\s+)?associated press$|^ap$|^reuters$|^usa today(?: sports| network)?$)",
    re.IGNORECASE,
)
CALL_TO_ACTION = re.compile(  # an imperative that opens the line (after an optional "TOPIC:" label) ...
    r"^(?:[A-Z0-9 '!?-]{2,40}:\s*)?(?:sign up|subscribe|click here|follow (?:us|every|the latest)|download"
    r"|want more|never miss|thank you for (?:supporting|reading|listening)|get (?:cnn|the|our) .{0,40}newsletter"
    r"|read more here|for the full story)"
    # ... or a phrase found only in the apparatus around an article
    r"|how relevant is this ad|video player was slow|\bad froze\b|prices were accurate at the time"
    r"|independently chosen|we will use the (?:details|information) you|\btick here\b|in your inbox"
    r"|newsletter provides you|would you like to receive|(?:sign up|subscribe) (?:for|to) (?:our|the|a)\b.{0,60}"
    r"newsletter|scores and schedules",
    re.IGNORECASE,
)
ORNAMENT = re.compile(r"^[\W_]{1,40}$")  # "___", "***", "♦", "—"
SHORT = 12  # words: a credit or call to action is a line of its own, shorter than a paragraph of news
CALL_LONGEST = 60  # words: a call to action is one short paragraph at most


def is_boilerplate(line: str) -> bool:
    """Whether a whole line (without its line break) is boilerplate rather than news."""
    text = " ".join(line.split())
    if not text:
        return False
    words = len(text.split())
    if ORNAMENT.match(text):
        return True
    if words <= 8 and DATELINE.match(text):
        return True
    if words <= 6 and BYLINE.match(text):
        return True
    if words <= SHORT and CREDIT.search(text):
        return True
    return words <= CALL_LONGEST and CALL_TO_ACTION.search(text) is not None


def boilerplate_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each boilerplate line of `text`, in order."""
    return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text) if is_boilerplate(m.group())]


def all_boilerplate(text: str) -> bool:
    """Whether nothing in `text` is news (every non-blank line is boilerplate)."""
    lines = [line for line in text.split("\n") if line.strip()]
    return bool(lines) and all(is_boilerplate(line) for line in lines)
