"""A long fuzzing run: generated questions, files and command lines, counted by outcome.

    .venv/bin/python bench/fuzz.py --examples 5000

Every outcome must be an answer, an honest "the articles don't say", or the
project's own one-line error; the run prints how many of each, and any raw
exception or traceback (the target is 0 of both). It uses the strategies of
tests/test_fuzz.py, drawn at random (hypothesis's `example()`), over the seed index
built in a temporary folder. Command lines run in this process through
`qa.cli.main` (ask, index info/add/remove, eval) against that index.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    warnings.filterwarnings(
        "ignore"
    )  # hypothesis warns that example() is meant for the console; here it is the point

    from hypothesis import strategies as st
    from test_fuzz import ANY_TEXT, FILES, OPTIONS, QUESTIONS

    from qa.answers import Result
    from qa.articles import collect_articles
    from qa.cli import main as cli_main
    from qa.config import SEEDS_DIR
    from qa.engine import Engine
    from qa.errors import QAError

    rng = random.Random(args.seed)
    counts: collections.Counter[str] = collections.Counter()
    raw: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        # Whatever a generated command line names, it writes only here: the default index too.
        os.environ["QA_INDEX_DIR"] = str(Path(tmp) / "default-index")
        os.chdir(tmp)
        index = Path(tmp) / "index"
        engine = Engine.build([SEEDS_DIR], index)
        # `serve` would start a server and wait; the page is fuzzed through its API in tests/test_ui.py.
        words = st.sampled_from([o for o in OPTIONS if o != "serve"])
        options = st.lists(
            st.one_of(words, ANY_TEXT.filter(lambda t: "\x00" not in t and t.strip() != "serve")), max_size=5
        )
        started = time.perf_counter()
        for n in range(args.examples):
            kind = rng.choices(["question", "file", "cli"], weights=[6, 3, 1])[0]
            try:
                if kind == "question":
                    result = engine.ask(QUESTIONS.example())
                    assert isinstance(result, Result)
                    counts[
                        "question: answered" if result.answered else "question: the articles don't say"
                    ] += 1
                elif kind == "file":
                    folder = Path(tmp) / f"files{n}"
                    folder.mkdir()
                    for i, (suffix, data) in enumerate(FILES.example() for _ in range(rng.randint(1, 3))):
                        (folder / f"f{i}{suffix}").write_bytes(data)
                    collected = collect_articles([folder])
                    for article in collected.articles:
                        _ = article.checksum
                    counts["file: read"] += len(collected.articles) > 0
                    counts["file: reported in one line"] += len(collected.failed)
                else:
                    argv = options.example()
                    err = io.StringIO()
                    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                        try:
                            status = cli_main(
                                [*argv, "--index-dir", str(index)]
                                if argv[:1] in (["ask"], ["index"])
                                else argv
                            )
                            # (other commands never reach an index: `eval` wants a SQuAD file, the rest are usage errors)
                        except SystemExit as exc:
                            status = exc.code
                    text = err.getvalue()
                    if "Traceback" in text or any(
                        line.startswith("error: ") and ":" in line[7:].split(" ")[0]
                        for line in text.splitlines()
                    ):
                        counts["cli: traceback or raw error"] += 1
                        raw.append(f"cli {argv!r}: {text.strip()[:200]}")
                    else:
                        counts[f"cli: exit {status}"] += 1
            except QAError as exc:
                counts[f"{kind}: refused in one line"] += 1
                if "\n" in str(exc):
                    counts[f"{kind}: refused in several lines"] += 1
            except BaseException as exc:  # noqa: BLE001  (the point is to count these)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                counts[f"{kind}: raw exception"] += 1
                raw.append(f"{kind}: {type(exc).__name__}: {str(exc)[:200]}")
        seconds = time.perf_counter() - started
    print(f"{args.examples} generated inputs in {seconds:.0f} s")
    for key, value in sorted(counts.items()):
        print(f"  {key:<40} {value}")
    bad = sum(v for k, v in counts.items() if "raw" in k or "traceback" in k or "several lines" in k)
    print(f"raw exceptions and tracebacks: {bad}")
    for line in raw[:20]:
        print("  " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
