"""Average the weights of readers fine-tuned one after another into a new reader.

The shipped reader is the average of runs `i` and `j` (see qa/models/reader/README.md):

    python scripts/average_readers.py runs/i runs/j --output runs/ij
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qa.training import average_readers  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Average the weights of readers of one architecture (a model soup)."
    )
    parser.add_argument(
        "readers",
        nargs="+",
        type=Path,
        help="two or more reader folders, as `qa train-reader --output` writes them",
    )
    parser.add_argument("--output", type=Path, required=True, help="folder for the averaged reader")
    args = parser.parse_args()
    try:
        average_readers(args.readers, args.output)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"Averaged {len(args.readers)} readers into {args.output}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
