"""Property-based fuzzing (hypothesis): whatever a user or a file sends, the outcome is an answer, an honest
"the articles don't say", or the project's own error with one line — never another exception."""

from __future__ import annotations

import atexit
import contextlib
import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis keeps caches (Unicode tables, examples) in ./.hypothesis; tests write only into temporary folders.
HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="qa-hypothesis-")
set_hypothesis_home_dir(HYPOTHESIS_HOME)
atexit.register(shutil.rmtree, HYPOTHESIS_HOME, True)

from qa.answers import Result  # noqa: E402 (after hypothesis is told where its home is)
from qa.articles import collect_articles  # noqa: E402
from qa.cli import build_parser  # noqa: E402
from qa.errors import QAError  # noqa: E402

pytestmark = pytest.mark.slow

# No example database: tests write only into temporary folders, never into the repository.
# Derandomized: CI sees the same examples every run; bench/fuzz.py explores at random.
FAST = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)

# Any code point, lone surrogates, control and format characters included.
ANY_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=400)
QUESTIONS = st.one_of(
    ANY_TEXT,
    st.text(st.sampled_from("誰は何ですか？\u200b\u202e\x00\x1b 🤝"), min_size=1, max_size=600),
    st.lists(st.sampled_from(["who", "leads", "the", "talks", "?", "Marco", "\udce2"]), max_size=900).map(
        " ".join
    ),
)


def outcome_of(call) -> str:
    try:
        result = call()
    except QAError as exc:
        assert str(exc).strip() and "\n" not in str(exc), repr(str(exc))
        return "refused"
    assert isinstance(result, Result)
    return "answered" if result.answered else "dont-know"


@FAST
@given(question=QUESTIONS)
def test_any_question_is_answered_or_refused_in_one_line(engine, question):
    outcome_of(lambda: engine.ask(question))


@FAST
@given(
    top_k=st.one_of(
        st.none(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=5), st.booleans()
    ),
    retrieval=st.one_of(st.none(), st.sampled_from(["hybrid", "dense", "bm25"]), st.text(max_size=8)),
    filters=st.one_of(st.none(), st.text(max_size=5), st.integers()),
)
def test_any_options_through_the_api_are_taken_or_refused_in_one_line(engine, top_k, retrieval, filters):
    outcome_of(lambda: engine.ask("Who leads the talks?", top_k=top_k, retrieval=retrieval, filters=filters))


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ANY_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(ANY_TEXT, inner, max_size=4)),
    max_leaves=20,
)
RECORDS = st.fixed_dictionaries(
    {},
    optional={
        "text": st.one_of(ANY_TEXT, JSON_VALUES),
        "title": JSON_VALUES,
        "date": JSON_VALUES,
        "url": JSON_VALUES,
        "id": JSON_VALUES,
    },
)
FILES = st.one_of(
    st.tuples(st.sampled_from([".txt", ".md", ".html", ".jsonl"]), st.binary(max_size=2000)),
    st.tuples(
        st.just(".jsonl"),
        st.lists(RECORDS, max_size=4).map(
            lambda rs: "\n".join(json.dumps(r) for r in rs).encode("utf-8", "surrogatepass")
        ),
    ),
    st.tuples(st.just(".jsonl"), st.integers(1, 200_000).map(lambda depth: b"[" * depth + b"]" * depth)),
    st.tuples(st.sampled_from([".txt", ".md"]), ANY_TEXT.map(lambda t: t.encode("utf-8", "surrogatepass"))),
)


@FAST
@given(files=st.lists(FILES, min_size=1, max_size=4))
def test_any_file_content_is_read_or_reported_in_one_line(files):
    with tempfile.TemporaryDirectory() as tmp:
        for n, (suffix, data) in enumerate(files):
            (Path(tmp) / f"file{n}{suffix}").write_bytes(data)
        collected = collect_articles([tmp])
        assert len(collected.articles) + len(collected.failed) >= 1
        for path, reason in collected.failed:
            assert str(path) in reason and "\n" not in reason
        for article in collected.articles:
            _ = article.checksum  # what broke on lone surrogates
            article.text.encode("utf-8")


OPTIONS = [
    "ask",
    "index",
    "build",
    "add",
    "info",
    "remove",
    "serve",
    "eval",
    "reader",
    "open",
    "--top-k",
    "--threshold",
    "--port",
    "--max-upload-mb",
    "--retrieval",
    "--json",
    "--limit",
    "--sample",
    "--orphan",
    "--mix",
    "-h",
]


@FAST
@given(
    argv=st.lists(st.one_of(st.sampled_from(OPTIONS), ANY_TEXT.filter(lambda t: "\x00" not in t)), max_size=6)
)
def test_any_command_line_parses_or_is_refused_in_one_line(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            assert exc.code in (0, 2), exc.code
            if exc.code == 2:
                assert len(err.getvalue().splitlines()) == 1 and err.getvalue().startswith("error: "), (
                    err.getvalue()
                )


def test_system_folders_and_non_paths_are_refused_without_a_walk(engine):
    for paths in ("/", ["/proc"], 5, [None]):
        with pytest.raises(QAError) as info:
            engine.add(paths)
        assert "\n" not in str(info.value)
