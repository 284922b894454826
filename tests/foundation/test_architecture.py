"""The layout holds: no import cycle between modules, and every package imports only what it may.

Read from the source (every `import`, at the top or inside a function, and every
`importlib.import_module("literal")`), so a lazy import cannot hide a cycle. The rules are
the ones the package docstrings state; the first tests show the checker finds what it must.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shop", "firmware_bridge", "db", "handheld", "server")

# Which other ShopGo packages each may import: the dependency between them goes one way.
ALLOWED = {
    "shop": set(),
    "firmware_bridge": set(),
    "db": set(),
    "handheld": {"shop", "firmware_bridge"},
    "server": {"shop", "db", "firmware_bridge"},
}
# Only these run both sides (the demo and the store-day simulation), so only they import the handheld.
RUNS_BOTH_SIDES = ("server.demo", "server.simulate")
# The store's services stay below the layers that use them.
STORE_NEVER = ("server.api", "server.staff", "server.cli", "server.demo", "server.simulate", "server.scheduler",
               "server.app", "server.wsgi", "server.importer", "server.offers")
STORE_HEAD_OFFICE = ("server.head_office.wire", "server.head_office.signing", "server.head_office.link_secret",
                     "server.head_office.compiler")
# The offers engine is pure; only its nightly build and its CLI reach beyond it.
OFFERS_OPEN = ("server.offers.build", "server.offers.cli")


def modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Every module of the given packages by dotted name (migration scripts are Alembic's, not ours)."""
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            rel = path.relative_to(root).with_suffix("")
            if "versions" in rel.parts:
                continue
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            found[".".join(parts)] = path
    return found


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of ours it imports (`from pkg import submodule` names the submodule)."""

    def ours(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        targets: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods]
                targets += subs if len(subs) == len(node.names) else [node.module, *subs]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None))
                  == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
                targets.append(str(node.args[0].value))
        graph[name] = {t for t in map(ours, targets) if t is not None and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected set of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a package's rule, as 'a -> b (why)'."""
    bad = []
    for source, targets in sorted(graph.items()):
        top = source.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != top and other not in ALLOWED[top]:
                if not (other == "handheld" and _within(source, RUNS_BOTH_SIDES)):
                    bad.append(f"{source} -> {target} ({top} may import {sorted(ALLOWED[top]) or 'no other package'})")
            if _within(source, ("server.store",)):
                if _within(target, STORE_NEVER) or (_within(target, ("server.head_office",))
                                                    and not _within(target, STORE_HEAD_OFFICE)):
                    bad.append(f"{source} -> {target} (the store's services stay below the layers that use them)")
            if _within(source, ("server.offers",)) and not _within(source, OFFERS_OPEN):
                if other != "server" or not _within(target, ("server.offers",)):
                    bad.append(f"{source} -> {target} (the offers engine imports no other ShopGo package)")
    return bad


def _tree(tmp_path: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return imports(modules(tmp_path, PACKAGES))


def test_the_checker_finds_a_cycle_through_a_lazy_import(tmp_path: Path) -> None:
    graph = _tree(tmp_path, {
        "server/__init__.py": "", "server/store/__init__.py": "",
        "server/store/a.py": "from server.store import b\n",
        "server/store/b.py": "def f():\n    from server.store.c import g\n",
        "server/store/c.py": "import importlib\nimportlib.import_module('server.store.a')\n",
    })
    assert cycles(graph) == [["server.store.a", "server.store.b", "server.store.c"]]


def test_the_checker_finds_imports_the_wrong_way(tmp_path: Path) -> None:
    graph = _tree(tmp_path, {
        "shop/__init__.py": "", "shop/pricing.py": "from server.store.trips import x\n",
        "handheld/__init__.py": "", "handheld/device.py": "from server import config\nimport shop.pricing\n",
        "server/__init__.py": "", "server/store/__init__.py": "", "server/store/trips.py": "",
        "server/config.py": "", "server/simulate/__init__.py": "", "server/simulate/run.py": "import handheld.device\n",
        "server/store/ingest.py": "from handheld.device import y\nfrom server.api import handheld\n",
        "server/api/__init__.py": "", "server/api/handheld.py": "",
    })
    assert wrong_way(graph) == [
        "handheld.device -> server.config (handheld may import ['firmware_bridge', 'shop'])",
        "server.store.ingest -> handheld.device (server may import ['db', 'firmware_bridge', 'shop'])",
        "server.store.ingest -> server.api.handheld (the store's services stay below the layers that use them)",
        "shop.pricing -> server.store.trips (shop may import no other package)",
    ]


def test_no_module_imports_itself_in_a_circle() -> None:
    found = cycles(imports(modules(ROOT, PACKAGES)))
    assert found == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_every_package_imports_only_what_it_may() -> None:
    assert wrong_way(imports(modules(ROOT, PACKAGES))) == []
