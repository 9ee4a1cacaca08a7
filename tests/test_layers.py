"""The shape of the code: layers, no import circles, small modules.

Each top-level module or package of ``stackwright`` sits on one floor of :data:`LAYERS`. A module may
import from its own floor or below, never from above, and the imports between the parts of one floor
and between modules form no circle. Every import counts, also those inside functions (the ones that
keep ``stackwright --help`` fast): an arrow is an arrow whether it runs at start-up or later.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from helpers import REPO_ROOT

SRC = REPO_ROOT / "src"
PACKAGE = "stackwright"

# Bottom to top. A new top-level module or package must be given a floor here.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("ground floor", frozenset({"__init__", "errors", "files", "records", "names"})),
    ("settings, problem sets and opt-out storage", frozenset({"config", "evalsets", "registry"})),
    ("sources and crawling", frozenset({"sources", "crawl"})),
    ("pipeline", frozenset({"pipeline", "dataset"})),
    ("curation steps", frozenset({"curate", "dedup"})),
    ("builds", frozenset({"build"})),
    ("releases and the portal", frozenset({"release", "portal"})),
    ("models", frozenset({"model"})),
    ("evaluation and serving", frozenset({"evaluate", "serve"})),
    ("workflows across stages", frozenset({"demo"})),
    ("command line", frozenset({"cli"})),
)

MAX_LINES = 600
# Modules that hold one algorithm that reads best whole; each says why.
LONG_MODULES = {
    "stackwright/release/attribution.py": "one index: the build, the query and the exact confirmation share "
                                          "its hashing, winnowing and block layout",
}


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(root, p): p for p in sorted((root / PACKAGE).rglob("*.py"))}


def imports(root: Path, known: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in the file). ``from pkg import sub`` names
    the submodule ``pkg.sub``; the parent packages Python runs on the way are not counted."""
    found = set(known)
    out: dict[str, set[str]] = {}
    for name, path in modules(root).items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                if module.split(".")[0] != PACKAGE:
                    continue
                subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in found]
                targets.update(subs)
                if len(subs) < len(node.names):
                    targets.add(module)
        out[name] = {t for t in targets if t in found and t != name}
    return out


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def violations(root: Path) -> list[str]:
    """Every broken rule of the house in the source tree under ``root``, as readable lines."""
    floor = {name: i for i, (_, names) in enumerate(LAYERS) for name in names}
    graph = imports(root, modules(root))
    problems = [f"{m}: top-level {unit(m)!r} has no floor in LAYERS" for m in graph if unit(m) not in floor]
    units: dict[str, set[str]] = {}
    for source, targets in graph.items():
        for target in targets:
            a, b = unit(source), unit(target)
            if a == b or a not in floor or b not in floor:
                continue
            if floor[b] > floor[a]:
                problems.append(f"{source} imports {target}: {LAYERS[floor[a]][0]} -> {LAYERS[floor[b]][0]} "
                                "is an arrow upwards")
            units.setdefault(a, set()).add(b)
    problems += [f"import circle between packages: {' -> '.join(c)}" for c in cycles(units)]
    problems += [f"import circle between modules: {' -> '.join(c)}" for c in cycles(graph)]
    return problems


def test_no_arrow_upwards_and_no_circle() -> None:
    assert violations(SRC) == []


def test_modules_are_small() -> None:
    long = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and relative not in LONG_MODULES:
            long[relative] = lines
    assert long == {}, f"modules over {MAX_LINES} lines (split them, or say in LONG_MODULES why not)"
    missing = [m for m in LONG_MODULES if not (SRC / m).is_file()]
    assert missing == [], "LONG_MODULES names modules that are gone"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_check_sees_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    """The checker itself: a records module importing the CLI, and two modules importing each other."""
    root = _tree(tmp_path, {
        "stackwright/__init__.py": "",
        "stackwright/records.py": "def f():\n    from stackwright.cli import app\n",
        "stackwright/cli/__init__.py": "from stackwright import records\n",
        "stackwright/curate/__init__.py": "",
        "stackwright/curate/a.py": "from stackwright.curate import b\n",
        "stackwright/curate/b.py": "from . import a\n",
        "stackwright/oddity.py": "",
    })
    found = violations(root)
    assert any("stackwright.records imports stackwright.cli" in p and "upwards" in p for p in found)
    assert any("between packages" in p and "cli" in p and "records" in p for p in found)
    assert any("between modules" in p and "stackwright.curate.a" in p for p in found)
    assert any("'oddity' has no floor" in p for p in found)
