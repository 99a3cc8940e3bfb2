"""Benchmarks, probes and build scripts still name what exists (fast: their sources are read, none is run).

They are not imported by the product or its other tests, so a rename in `qa/` can leave one failing only
when someone next runs it (bench/legacy_index.py imported a lock helper removed weeks before). Each name a
file in bench/, bench/experiments/ or scripts/ takes from `qa` (`from qa.x import y`, `qa.x.y`) must be
in that module, and each name it takes from a sibling in bench/ (`from common import ROOT`) must be
defined there.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("bench", "bench/experiments", "scripts")


def sources() -> list[Path]:
    return sorted(path for folder in FOLDERS for path in (ROOT / folder).glob("*.py"))


def top_level_names(path: Path) -> set[str]:
    """What a module defines at its top level: functions, classes, assignments and imports."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def named(tree: ast.AST) -> list[tuple[str, str]]:
    """(module, name) for every `from module import name` and every `qa.module.name` attribute."""
    pairs = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            pairs += [(node.module, alias.name) for alias in node.names if alias.name != "*"]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "qa"
        ):
            pairs.append((f"qa.{node.value.attr}", node.attr))
    return pairs


def missing_names(path: Path, siblings: dict[str, Path]) -> list[str]:
    """The names `path` takes from qa or from a bench/ sibling that are not there."""
    missing = []
    for module, name in named(ast.parse(path.read_text(encoding="utf-8"))):
        if module == "qa" or module.startswith("qa."):
            found = importlib.import_module(module)
            if not hasattr(found, name):
                try:
                    importlib.import_module(f"{module}.{name}")
                except ModuleNotFoundError:
                    missing.append(f"{module}.{name}")
        elif module in siblings and name not in top_level_names(siblings[module]):
            missing.append(f"{module}.{name}")
    return missing


def test_the_checker_finds_a_name_that_is_gone(tmp_path: Path):
    sibling = tmp_path / "helpers.py"
    sibling.write_text("from pathlib import Path\nROOT = Path('.')\n\ndef run():\n    pass\n")
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import qa.passages\n"
        "from qa.files import fsync, locked\n"
        "from helpers import ROOT, run, gone\n"
        "limit = qa.passages.CHARS_PER_WORD + qa.engine.CHARS_PER_WORD\n"
    )
    assert missing_names(probe, {"helpers": sibling}) == [
        "qa.files.locked",
        "helpers.gone",
        "qa.engine.CHARS_PER_WORD",
    ]


def test_every_benchmark_probe_and_script_names_what_exists():
    siblings = {path.stem: path for path in (ROOT / "bench").glob("*.py")}
    missing = {
        str(path.relative_to(ROOT)): gone for path in sources() if (gone := missing_names(path, siblings))
    }
    assert len(sources()) > 30
    assert missing == {}
