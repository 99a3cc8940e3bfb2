"""Dates and day arithmetic, and time as a reader reads it: the window a question asks about, and the times
a sentence speaks of.

A question's "this week", "last month" or "yesterday" is read against the day it is asked (`as_of`) into a
window of days; a sentence's "on Feb. 24", "in March", "next month" or "tomorrow" against its article's
date into windows of its own. An answer whose cited sentence speaks only of times outside the question's
window ("Holi", a March festival, for a February "this month" question; next month's primary for a "this
week" one) is about another time; the answer ranker (qa.answer_ranking) reads that as a feature. Days are
`datetime.date.toordinal()` numbers, windows inclusive (first, last).
"""

from __future__ import annotations

import calendar
import datetime
import re

Window = tuple[int, int]

# The question or sentence speaks relative to its own day ("next week", "on Monday", "three days ago").
RELATIVE_TIME = re.compile(
    r"\b(today|tonight|yesterday|tomorrow|(this|next|last|coming|past) "
    r"(week|weekend|month|year|spring|summer|autumn|fall|winter)"
    r"|(on|next|last|this) "
    r"(monday|tuesday|wednesday|thursday|friday|saturday|sunday)|(\d+|a|two|three) (days?|weeks?|months?) "
    r"(ago|from now)|week'?s|month'?s|year'?s)\b",
    re.IGNORECASE,
)


# The question asks for the present ("current", "latest"): the newest report counts.
PRESENT = re.compile(
    r"\b(current(ly)?|latest|now|nowadays|today|present(ly)?|newest|most recent(ly)?|at the moment|"
    r"these days|still)\b",
    re.IGNORECASE,
)

MONTH_NUMBERS = {
    name: n
    for n, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        1,
    )
    for name in names
}
_MONTH = (
    r"(january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|"
    r"mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)"
)
# "Feb. 24", "March 3", "in March", "March 2024"; "May" alone is too often the verb, so it needs a day or year
MONTH_MENTION = re.compile(
    r"\b" + _MONTH + r"\b\.?(?:\s+(\d{1,2})(?:st|nd|rd|th)?\b)?(?:,?\s+((?:19|20)\d\d)\b)?", re.I
)
QUESTION_WINDOWS = (  # phrase -> (days back from as_of to the window's first day, to its last), or a month
    (re.compile(r"\b(today|tonight)\b", re.I), (1, 0)),
    (re.compile(r"\byesterday\b", re.I), (2, 1)),
    (re.compile(r"\b(this|past) week(end)?\b|\b(recent|past few|last few) days\b", re.I), (8, 0)),
    (re.compile(r"\blast week(end)?\b", re.I), (15, 0)),
    (re.compile(r"\b(next|coming) week(end)?\b", re.I), (-1, -15)),
)
SENTENCE_SHIFTS = (  # phrase -> (first, last) days from the article's date
    (re.compile(r"\btomorrow\b", re.I), (1, 1)),
    (re.compile(r"\byesterday\b", re.I), (-1, -1)),
    (re.compile(r"\bnext week(end)?\b", re.I), (2, 14)),
    (re.compile(r"\blast week(end)?\b", re.I), (-14, -2)),
)


def _month_window(year: int, month: int) -> Window:
    while month < 1:
        year, month = year - 1, month + 12
    while month > 12:
        year, month = year + 1, month - 12
    last = calendar.monthrange(year, month)[1]
    return datetime.date(year, month, 1).toordinal(), datetime.date(year, month, last).toordinal()


def question_window(question: str, as_of: str | None) -> Window | None:
    """The days a question asks about, read against the day asked; None without a day or a time phrase."""
    day = day_number(as_of)
    if day is None:
        return None
    for pattern, (back, to) in QUESTION_WINDOWS:
        if pattern.search(question):
            return day - back, day - to
    date = datetime.date.fromordinal(day)
    for phrase, months in (("this month", 0), ("last month", -1), ("next month", 1)):
        if phrase in question.lower():
            return _month_window(date.year, date.month + months)
    return None


def sentence_windows(sentence: str, article_date: str | None) -> list[Window]:
    """The times a sentence speaks of, each read against its article's date (months without a year: the
    one nearest that date)."""
    day = day_number(article_date)
    if day is None:
        return []
    date = datetime.date.fromordinal(day)
    windows = []
    for match in MONTH_MENTION.finditer(sentence):
        name, number, year = match.group(1).lower(), match.group(2), match.group(3)
        if name == "may" and not (number or year):
            continue
        month = MONTH_NUMBERS[name]
        if year:
            in_year = int(year)
        else:  # the nearest: a January date in a December article is next year's
            in_year = min(
                (date.year - 1, date.year, date.year + 1),
                key=lambda y: abs((y - date.year) * 12 + month - date.month),
            )
        first, last = _month_window(in_year, month)
        if number and 1 <= int(number) <= last - first + 1:
            first = last = first + int(number) - 1
        windows.append((first, last))
    lowered = sentence.lower()
    for phrase, months in (("next month", 1), ("last month", -1)):
        if phrase in lowered:
            windows.append(_month_window(date.year, date.month + months))
    for pattern, (start, end) in SENTENCE_SHIFTS:
        if pattern.search(sentence):
            windows.append((day + start, day + end))
    return windows


def outside(window: Window | None, spoken: list[Window], slack: int = 1) -> tuple[float, float]:
    """(the sentence speaks of a time inside the question's window, it speaks only of times outside it)."""
    if window is None or not spoken:
        return 0.0, 0.0
    first, last = window[0] - slack, window[1] + slack
    inside = any(s <= last and e >= first for s, e in spoken)
    return (1.0, 0.0) if inside else (0.0, 1.0)


def day_number(date: str | None) -> int | None:
    """A date's day number (`datetime.date.toordinal`), from its first ten characters; None if it has none."""
    try:
        return datetime.date.fromisoformat((date or "")[:10]).toordinal()
    except ValueError:
        return None


def how_read(question: str, as_of: str | None, expected: str | None) -> str:
    """One line on how a question's type and time words were read (`qa ask --verbose`); `as_of`: the day they
    were read against (qa.assembly.newest_day where the question was not asked as of one)."""
    kind_only = as_of is None
    day = as_of or ""
    window = question_window(question, as_of)
    from qa.answer_types import DESCRIBED

    kind = f"wants {DESCRIBED[expected]}" if expected else "its words name no answer type"
    if kind_only:
        return f"Read as: {kind}; no dated article to read its time words against."
    if window is None:
        return f"Read as: {kind}; no time words to read against {day}."
    first, last = (datetime.date.fromordinal(d).isoformat() for d in window)
    return f"Read as: {kind}; its time words name {first} to {last} (asked as of {day})."
