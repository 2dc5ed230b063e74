"""The package's layers: what each may import, checked two ways.

* In a fresh interpreter, the pure layers (``verdict``, ``exceptions``,
  ``protocols``, ``policy``) import without Scrapy or Twisted.
* Statically, from the source: the modules of ``scrapy_optout`` import each
  other without a cycle, and each layer imports only from itself and the
  layers below it. Every import counts, including those under
  ``TYPE_CHECKING`` and inside functions.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import scrapy_optout

PACKAGE = Path(scrapy_optout.__file__).parent
ROOT = "scrapy_optout"

#: The layers, lowest first: a module may import from its own layer and the
#: ones before it. ``scrapy_optout/__init__.py`` is exempt (it re-exports the
#: add-on lazily, for users).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("scrapy_optout.verdict", "scrapy_optout.exceptions"),
    ("scrapy_optout.protocols",),
    ("scrapy_optout.policy",),
    ("scrapy_optout.stores",),
    ("scrapy_optout.scrapy",),
    ("scrapy_optout.frontends",),
    ("scrapy_optout.cli", "scrapy_optout.__main__", "scrapy_optout.datatrove"),
)

#: Imports that break the layering today, each ``(importer, imported)`` with
#: the reason it is tolerated. Empty: keep it that way, or name the edge and
#: why here when one has to be accepted for a while.
ALLOWED: dict[tuple[str, str], str] = {}


def test_pure_layers_import_without_scrapy_or_twisted() -> None:
    script = textwrap.dedent(
        """
        import importlib
        import pkgutil
        import sys

        names = ["scrapy_optout.verdict", "scrapy_optout.exceptions"]
        for package in ("scrapy_optout.protocols", "scrapy_optout.policy"):
            module = importlib.import_module(package)
            names.append(package)
            names += [info.name for info in pkgutil.walk_packages(module.__path__, package + ".")]
        for name in names:
            importlib.import_module(name)
        loaded = sorted({name.split(".")[0] for name in sys.modules} & {"scrapy", "twisted"})
        print(len(names), " ".join(loaded))
        """
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE.parent), *filter(None, [env.get("PYTHONPATH")])]
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    count, _, loaded = done.stdout.strip().partition(" ")
    assert int(count) > 10  # the walk found the modules
    assert loaded == "", f"the pure layers loaded {loaded}"


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = [ROOT, *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imports(modules: dict[str, Path]) -> dict[str, dict[str, int]]:
    """Each module's imports of the package's modules, with the line of the first.

    ``from package import name`` imports the module ``package.name`` when
    there is one, else ``package``. Importing a module runs its packages'
    ``__init__`` first, so those count too, except the importer's own
    packages, which are already running.
    """
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*kept, base] if base else kept)
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                if target != ROOT and not target.startswith(ROOT + "."):
                    continue
                while target not in modules:
                    target = target.rpartition(".")[0]
                parts = target.split(".")
                for size in range(1, len(parts) + 1):
                    imported = ".".join(parts[:size])
                    if imported == name or name.startswith(imported + "."):
                        continue  # the importer's own package
                    found.setdefault(imported, node.lineno)
        graph[name] = found
    return graph


def _layer(name: str) -> int | None:
    for index, prefixes in enumerate(LAYERS):
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            return index
    return None


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = [name for name in _modules() if name != ROOT and _layer(name) is None]
    assert unplaced == [], "add these modules to a layer in LAYERS"


def test_layers_import_only_from_below() -> None:
    modules = _modules()
    violations: set[tuple[str, str]] = set()
    messages: list[str] = []
    for name, found in _imports(modules).items():
        if name == ROOT:
            continue
        for imported, line in found.items():
            own, other = _layer(name), _layer(imported)
            assert own is not None and other is not None
            if other > own:
                violations.add((name, imported))
                if (name, imported) not in ALLOWED:
                    messages.append(f"{modules[name]}:{line}: {name} imports {imported}")
    assert messages == []
    stale = sorted(set(ALLOWED) - violations)
    assert stale == [], "these allowed imports are gone: remove them from ALLOWED"


def test_no_import_cycle() -> None:
    graph = {name: sorted(found) for name, found in _imports(_modules()).items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 while on the current path, 2 when done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for imported in graph[name]:
            if state.get(imported) == 1:
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[name] = 2

    for name in graph:
        if name not in state:
            visit(name)
    assert [" -> ".join(cycle) for cycle in cycles] == []


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    # The checks above are only as good as the edges found: these must be.
    source = textwrap.dedent(
        """
        from typing import TYPE_CHECKING

        import scrapy_optout.stores.ledger
        from scrapy_optout.protocols import aipref
        from scrapy_optout.protocols.robots.parsing import RobotsTxt

        if TYPE_CHECKING:
            from scrapy_optout.policy.snapshot import OriginPolicy

        def late():
            from scrapy_optout import verdict
            from . import text
        """
    )
    modules = _modules()
    probe = "scrapy_optout.protocols.probe"
    path = tmp_path / "probe.py"
    path.write_text(source, "utf-8")
    found = _imports({**modules, probe: path})[probe]
    assert set(found) == {
        "scrapy_optout.stores",
        "scrapy_optout.stores.ledger",
        "scrapy_optout.protocols.aipref",
        "scrapy_optout.protocols.robots",
        "scrapy_optout.protocols.robots.parsing",
        "scrapy_optout.policy",
        "scrapy_optout.policy.snapshot",
        "scrapy_optout.verdict",
        "scrapy_optout.protocols.text",
    }
