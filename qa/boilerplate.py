"""News text that is not the news: datelines, bylines, credits, newsletter and ad boilerplate.

A line of an article is boilerplate when it is, as a whole, one of the kinds below. Boilerplate
lines never become passages (qa.passages), so they are neither searched nor offered as answers,
while the article's stored text, and so every cited offset, stays exactly as it was read.

The kinds are general forms, not one outlet's strings: a short line ending in a dash (a dateline,
"Washington CNN —"), a dash or "By" and a name (a byline), a line that credits a photo, an agency or the
contributors, a line that asks the reader to sign up, subscribe, follow or rate an ad, a line that links
elsewhere under a label ("More:", "Read more:", "What people are saying:"), a newsletter's greeting or
sign-off, rules and ornaments.
Inside a line of news, an opening dateline ("NEW YORK (AP) —") and a photo credit left in the text
after a caption ("... on January 5. Jens Meyer/AP") are never answers (qa.answers).
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
    r"newsletter|scores and schedules|\bbrands as detailed here\b|as described in our privacy policy",
    re.IGNORECASE,
)
# A dateline that opens a paragraph of news: "NEW YORK (AP) — The ...", "Lviv, Ukraine (CNN) — ...".
OPENING = re.compile(
    rf"^(?P<place>[^.!?:\n{DASHES}]{{1,60}}?)[ \t]*[{DASHES}]{{1,2}}[ \t]+(?=\S)", re.MULTILINE
)
AGENCY = re.compile(r"(?:\((?:AP|CNN|Reuters|AFP)\)|\bCNN(?: [A-Z][a-z]+)?|\bReuters|\bAFP)$")
CAPITAL_PLACE = re.compile(
    r"^[A-Z][A-Z.'\u2019-]{2,}(?: [A-Z][A-Z.'\u2019-]*)*(?:,[^,()]{1,30})?(?: \(\w+\))?$"
)
# A photo credit inside a line: a name, then "/" and an agency, as "Jens Meyer/AP", "Yui Mok/Pool/AFP/Getty
# Images", "Minnesota Historical Society/Corbis/Getty Images", "Luke Sharrett/Bloomberg via Getty Images".
CREDIT_WORD = r"(?:[A-Z][\w'\u2019-]*|[A-Z]\.)"  # a capitalised word or an initial ("Phelan M. Ebenhack")
CREDIT_NAME = rf"{CREDIT_WORD}(?: {CREDIT_WORD}){{0,3}}"
PHOTO_AGENCY = (
    r"(?:AP|AFP|Reuters|Pool|EPA(?:-EFE)?|Getty Images|Bloomberg|Shutterstock|Sipa(?: USA)?|NurPhoto"
    r"|Anadolu(?: Agency)?|ZUMA(?: Press| Wire)?|Imagn|Alamy|Xinhua|Kyodo|TASS|SOPA Images|LightRocket"
    r"|USA TODAY(?: Sports| Network)?|CNN|NASA)"
)
INLINE_CREDIT = re.compile(
    rf"\b{CREDIT_NAME}(?:/{CREDIT_NAME})*/{PHOTO_AGENCY}(?: via Getty Images)?(?![\w'\u2019-])"
)
# A line that links elsewhere, under a label: "More:Headline", "Read more: ...", "READ MORE:", "Related: ...",
# "What people are saying about X: ..." (a link list's heading), "Opinion in your inbox: ...".
RELATED_LINK = re.compile(
    r"^(?:(?:read |see )?more|related|see also|also read|recommended|trending|watch|listen)"
    r"(?: (?:commentary|coverage|stories|news|reading|here|on this|from [\w .]{1,30}))?\s*:"
    r"|^what (?:\w+ ){0,4}(?:is|are) saying(?: about [^:]{1,60})?:|^[\w ]{1,30} in your inbox:",
    re.IGNORECASE,
)
# A newsletter's opening or sign-off, not news: "Hey, it's Spencer, filling in for Laura today.", "Thanks for
# reading, see you tomorrow."
NEWSLETTER_VOICE = re.compile(
    r"^(?:(?:hey|hi|hello|good morning|good evening)(?: there| all| everyone| again)?[,!.]?\s+(?:it'?s|i'?m|this is)"
    r"\s+[A-Z][\w'\u2019-]+|thanks for reading\b|see you (?:tomorrow|next week|monday)\b|until next time\b)",
    re.IGNORECASE,
)
RELATED_LONGEST = 40  # words: a link's headline, or a newsletter's greeting line
ORNAMENT = re.compile(r"^[\W_]{1,40}$")  # "___", "***", "♦", "—"
CONTRIBUTORS = re.compile(r"^(?:contributing|contributors?|additional reporting(?: by)?)\s*:", re.IGNORECASE)
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
    if words <= 2 * SHORT and CONTRIBUTORS.match(text):  # "Contributing: five names and their outlets"
        return True
    if words <= RELATED_LONGEST and (RELATED_LINK.match(text) or NEWSLETTER_VOICE.match(text)):
        return True
    return words <= CALL_LONGEST and CALL_TO_ACTION.search(text) is not None


def boilerplate_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each boilerplate line of `text`, in order."""
    return [(m.start(), m.end()) for m in re.finditer(r"[^\n]+", text) if is_boilerplate(m.group())]


def opening_datelines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each dateline that opens a line of news, its dash included: a place in capitals
    ("WASHINGTON —", "ZHANGJIAKOU, China —") or a place with an agency ("Lviv, Ukraine (CNN) —")."""
    spans = []
    for m in OPENING.finditer(text):
        place = m.group("place").strip()
        if len(place.split()) <= 6 and (AGENCY.search(place) or CAPITAL_PLACE.match(place)):
            spans.append((m.start(), m.end()))
    return spans


def inline_credits(text: str) -> list[tuple[int, int]]:
    """(start, end) of each photo credit inside the lines of `text` ("Jens Meyer/AP"), in order."""
    return [(m.start(), m.end()) for m in INLINE_CREDIT.finditer(text)]


def never_answers(text: str) -> list[tuple[int, int]]:
    """(start, end) of the pieces of a line of news that are no answer: opening datelines, photo credits."""
    return sorted(opening_datelines(text) + inline_credits(text))


def in_apparatus(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] overlaps a boilerplate line, an opening dateline or a photo credit of `text`."""
    return any(s < end and start < e for s, e in boilerplate_spans(text) + never_answers(text))


def all_boilerplate(text: str) -> bool:
    """Whether nothing in `text` is news (every non-blank line is boilerplate)."""
    lines = [line for line in text.split("\n") if line.strip()]
    return bool(lines) and all(is_boilerplate(line) for line in lines)
