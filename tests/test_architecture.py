"""The house rules that a reader of the code relies on, checked on the source (fast: no import is run).

- No import cycles among the project's own modules in `qa/` and `ui/`, counting every import: at the top,
  inside functions and under `TYPE_CHECKING` (docs/architecture.md: every arrow points down the page).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("qa", "ui")


def own_imports() -> dict[str, set[str]]:
    """Each own module's name -> the own modules it imports, anywhere in its source."""
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle_and_only_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_in_qa_and_ui():
    assert cycles(own_imports()) == []


def test_the_cli_reference_is_what_the_parser_says():
    from qa.cli_reference import reference

    written = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert written == reference(), "docs/cli.md is stale: run `python -m qa.cli_reference > docs/cli.md`"


def test_every_command_is_in_the_guide():
    """Each command of the CLI is explained in docs/guide.md, not only listed in the reference."""
    from qa.cli import build_parser
    from qa.cli_reference import commands

    guide = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    missing = [name for name, _ in commands(build_parser())[1:] if name not in guide]
    assert missing == []


def own_bases() -> dict[str, list[str]]:
    """Each class of qa/ and ui/ -> the names of its bases that are classes of the project's own; the typed
    errors of qa/errors.py left out (a hierarchy by design: callers catch them by kind)."""
    classes: dict[str, list[str]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if path == ROOT / "qa" / "errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    classes[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]
    return {name: [b for b in bases if b in classes] for name, bases in classes.items()}


def test_no_class_stands_on_a_chain_of_more_than_two_own_classes():
    """Parts are composed, not stacked: a class may extend one of the project's own classes, which
    extends none (the store is its snapshot reader and has its other parts; the engine is an archive)."""
    bases = own_bases()

    def depth(name: str) -> int:
        return 1 + max((depth(b) for b in bases.get(name, [])), default=0)

    assert {name: depth(name) for name in bases if depth(name) > 2} == {}


def test_the_model_cards_say_what_ships_as_the_models_own_metadata_records():
    """The cards' "what ships" parts are written from training.json, ranker.json and passages.json by
    scripts/model_cards.py: a model rebuilt without its card written again fails here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("model_cards", ROOT / "scripts" / "model_cards.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for card, text in module.cards().items():
        assert card.read_text() == text, f"{card} is out of date: run python scripts/model_cards.py"
    assert "| rebuild | `python scripts/build_reader.py" in (ROOT / "qa/models/reader/README.md").read_text()
