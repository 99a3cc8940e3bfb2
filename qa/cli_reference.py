"""The CLI reference (docs/cli.md), written from the parser itself so that it cannot drift from `--help`.

    python -m qa.cli_reference > docs/cli.md

tests/test_architecture.py checks that docs/cli.md is what this writes.
"""

from __future__ import annotations

import argparse
import os

WIDTH = "100"  # argparse wraps at $COLUMNS: fixed, so the file is the same on every terminal


def commands(parser: argparse.ArgumentParser, name: str = "qa") -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command and subcommand with its parser, depth first, in the order `--help` lists them."""
    found = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found += commands(sub, f"{name} {sub_name}")
    return found


def reference() -> str:
    os.environ["COLUMNS"] = WIDTH
    from qa.cli import build_parser

    parts = [
        "# The command line, every help text",
        "",
        "Written by `python -m qa.cli_reference > docs/cli.md` from the parser itself (a test checks it is",
        "current); [guide.md](guide.md#the-command-line) explains the commands with examples.",
    ]
    for name, parser in commands(build_parser()):
        parts += ["", f"## `{name}`", "", "```text", parser.format_help().rstrip(), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(reference(), end="")
