"""The layout DESIGN.md promises: top-level rooms installed as accelsearch.* sub-packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
ROOMS = {
    "accelsearch.spaces": "spaces",
    "accelsearch.objectives": "objectives",
    "accelsearch.scaling": "scaling",
}


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_rooms_map_to_top_level_folders():
    cfg = _pyproject()["tool"]["setuptools"]
    for pkg, folder in ROOMS.items():
        assert cfg["package-dir"][pkg] == folder


def test_every_package_folder_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    found = set()
    for init in ROOT.glob("**/__init__.py"):
        rel = init.parent.relative_to(ROOT)
        parts = rel.parts
        if not parts or parts[0] in ("tests", "benchmarks", "build") or "egg-info" in str(rel):
            continue
        if parts[0] in ROOMS.values():
            found.add("accelsearch." + ".".join(parts))
        elif parts[0] == "accelsearch":
            found.add(".".join(parts))
    assert found == listed, (
        f"add to pyproject packages: {sorted(found - listed)}; stale: {sorted(listed - found)}"
    )


def test_rooms_import_as_subpackages():
    from accelsearch import objectives, scaling, spaces

    assert Path(spaces.__file__).parent.name == "spaces"
    assert Path(objectives.__file__).parent.name == "objectives"
    assert Path(scaling.__file__).parent.name == "scaling"


def test_import_does_not_load_heavy_optional_packages():
    code = (
        "import sys, accelsearch\n"
        "from accelsearch import spaces, scaling\n"
        "from accelsearch.objectives import latency\n"
        "assert 'tensorrt' not in sys.modules\n"
        "assert 'ray' not in sys.modules, 'importing the rooms must not start Ray'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_console_script_is_declared():
    assert _pyproject()["project"]["scripts"]["accelsearch"] == "accelsearch.cli:main"


def test_tensorrt_is_an_optional_extra():
    proj = _pyproject()["project"]
    assert not any(d.startswith("tensorrt") for d in proj["dependencies"])
    assert any(d.startswith("tensorrt") for d in proj["optional-dependencies"]["tensorrt"])
