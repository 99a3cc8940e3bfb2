"""What every benchmark starts with: this checkout's `qa` first on the import path, models offline.

from common import ROOT  # first, before importing qa
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQUAD = ROOT.parent / "shared" / "data" / "squad"  # SQuAD v1.1 and v2.0, CC BY-SA 4.0
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def json_of_process(command: list[str]) -> dict | None:
    """The JSON object a measuring subprocess prints last, or None (its error's end printed) if it failed."""
    import json
    import subprocess

    out = subprocess.run(command, capture_output=True, text=True)
    if out.returncode:
        print(out.stderr[-3000:], file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])
