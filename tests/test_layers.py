"""The floor plan holds: each module imports only its own room and the layers below it.

Layers, bottom up: the ground floor (``accelsearch.core``: arch, builder, errors, registry,
accounting, kinds, options; and the resource package ``accelsearch.data``), then the rooms
``spaces`` < ``objectives`` < ``scaling`` < ``search``, then the application layer (everything
directly in ``accelsearch/``, ``accelsearch/__init__`` and the old ground-floor paths such as
``accelsearch.arch`` included, ``commands``, ``baselines``). A room that imports an old path
(``accelsearch.arch``) or ``accelsearch`` itself reaches up into the application layer. Imports inside functions count: an
import deferred into a function is still a dependency. The graph is read from the source
(AST), following setuptools' ``package-dir`` mapping.

``KNOWN`` lists the edges that break the rule (issue 17 removed the last of them): a new one
fails this test, and an edge that is gone must be struck from the list, so it only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = {
    "accelsearch": ROOT / "accelsearch",
    "accelsearch.spaces": ROOT / "spaces",
    "accelsearch.objectives": ROOT / "objectives",
    "accelsearch.scaling": ROOT / "scaling",
}
GROUND = {"core", "data"}
ROOMS = ("spaces", "objectives", "scaling", "search")  # bottom up
APP = 5


def source_modules() -> dict[str, Path]:
    found = {}
    for package, folder in SOURCE_DIRS.items():
        for path in folder.rglob("*.py"):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            if (
                package == "accelsearch"
                and parts
                and parts[0] in ("spaces", "objectives", "scaling")
            ):
                continue  # an installed copy's rooms, not the source tree's
            found[".".join([package, *parts])] = path
    return found


MODULES = source_modules()


def room_of(module: str) -> str:
    """``accelsearch.search.driver`` -> ``search``; ``accelsearch.core.arch`` -> ``core``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def level_of(module: str) -> int:
    room = room_of(module)
    if room in GROUND:
        return 0
    return ROOMS.index(room) + 1 if room in ROOMS else APP


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """(imported first-party module, line, inside a function) for every import in ``module``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            names = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(up + ([base] if base else []))
                names = [f"{base}.{a.name}" for a in child.names] or [base]
            for name in names:
                target = _resolve(name) if name.startswith("accelsearch") else None
                if target and target != module:
                    found.append((target, child.lineno, in_function))
            visit(child, inside)

    visit(ast.parse(path.read_text()), False)
    return found


def layer_breaks() -> set[tuple[str, str]]:
    """(importer, imported) where the importer reaches into its own layer's other rooms or up."""
    broken = set()
    for module in MODULES:
        level, room = level_of(module), room_of(module)
        for target, _, _ in imports_of(module):
            t_level = level_of(target)
            if t_level > level or (
                t_level == level and 0 < level < APP and room_of(target) != room
            ):
                broken.add((module, target))
    return broken


KNOWN: set[tuple[str, str]] = set()  # none left: keep it that way


def test_no_new_layer_breaks():
    new = sorted(layer_breaks() - KNOWN)
    assert not new, "imports that reach up a layer or into a sibling room:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in new
    )


def test_known_breaks_are_struck_once_gone():
    gone = sorted(KNOWN - layer_breaks())
    assert not gone, "no longer imported, remove from KNOWN:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in gone
    )


@pytest.mark.parametrize("module", sorted(m for m in MODULES if level_of(m) == 0))
def test_ground_floor_imports_no_room(module):
    above = [t for t, _, _ in imports_of(module) if level_of(t) > 0]
    assert not above, f"{module} (ground floor) imports {above}"


@pytest.mark.parametrize(
    "old, new",
    [
        *[
            (f"accelsearch.{m}", f"accelsearch.core.{m}")
            for m in ("arch", "builder", "errors", "registry", "accounting", "kinds", "options")
        ],
        *[
            (f"accelsearch.baselines.{m}", f"accelsearch.baselines_{m}")
            for m in ("spec", "curve", "preflight", "measure", "output", "step")
        ],
        ("accelsearch.baselines.compare_run", "accelsearch.baselines_compare"),
    ],
)
def test_old_paths_are_the_moved_modules(old, new):
    """Users' imports (``from accelsearch.arch import Head``) and pickles keep working: the old
    path is the same module object as the new one."""
    import importlib

    assert importlib.import_module(old) is importlib.import_module(new)
