"""One vocabulary for programs: the CLI's JSON (Result.to_dict) and the API's and MCP's view (qa.tools)
use the names docs/guide.md's table gives them (pure logic, on a hand-made result)."""

from __future__ import annotations

import re

from conftest import ROOT

from qa.answers import Answer, Evidence, Result
from qa.tools import answer_view


def result(confidence: float, confident: bool, likely: bool = False) -> Result:
    sentence = "US Secretary of State Marco Rubio will lead the talks next week."
    evidence = Evidence(
        "seed",
        "Talks",
        "2025-10-17",
        "Wire",
        None,
        "p1",
        sentence,
        0,
        23,
        34,
        sentence,
        0,
        len(sentence),
        0.9,
        0.1,
        2.0,
    )
    best = Answer("Marco Rubio", confidence, [evidence], 2.0)
    return Result(
        "Who leads next week's talks?",
        confident,
        [best],
        confident=confident,
        asked_as_of="2025-10-20",
        likely=best if likely else None,
    )


def documented_names() -> set[str]:
    guide = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    table = guide.split("## Field names", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(\w+)` \|", table, flags=re.M))


def test_the_cli_json_and_the_api_view_say_confidence_and_asked_as_of():
    given = result(0.8, True)
    cli, api = given.to_dict(), answer_view(given)
    assert cli["answer"]["confidence"] == cli["answer"]["score"] == 0.8  # the first name kept one release
    assert api["confidence"] == 0.8 and "score" not in api
    assert cli["asked_as_of"] == api["asked_as_of"] == "2025-10-20"
    assert cli["article_date"] == cli["as_of"] == "2025-10-17"  # "next week" speaks from the article's day
    assert cli["tier"] == api["tier"] == "answer"
    probably = result(0.3, False, likely=True)
    assert probably.to_dict()["likely"]["confidence"] == answer_view(probably)["likely"]["confidence"] == 0.3


def test_every_name_the_programs_use_is_documented_once():
    given = result(0.8, True)
    used = {"tier", "confident", "likely", "asked_as_of", "article_date"} | {
        k for k in ("confidence", "score", "as_of") if k in given.to_dict()["answer"] or k in given.to_dict()
    }
    assert used <= documented_names()
    assert {"confidence", "asked_as_of", "article_date", "tier", "date"} <= documented_names()
