"""tools/gpu_bundle.py without the network: which requirements it downloads for a node,
what it drops from an unpacked site, and that it packs what is left (the download and the
import check on a real bundle are recorded in docs/gpu.md)."""

from __future__ import annotations

import importlib.util
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("gpu_bundle", ROOT / "tools" / "gpu_bundle.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_node_packages_are_read_from_pip_freeze_or_names(tool, tmp_path):
    path = tmp_path / "node.txt"
    path.write_text(
        "# comment\nTorch==2.11.0\ntyping_extensions==4.12\ntimm @ file:///x\n\nPyYAML\n"
    )
    assert tool.read_node_packages(path) == {"torch", "typing-extensions", "timm", "pyyaml"}


def test_requirements_follow_the_project_and_leave_out_what_the_node_has(tool):
    reqs = tool.project_requirements()
    names = {tool.requirement_name(r) for r in reqs}
    assert {"ray", "optuna", "pymoo", "mlflow-skinny", "pydantic", "timm"} <= names
    assert "ray[tune]" in reqs and "mlflow" not in names  # the lighter variants
    image = tool.read_node_packages(ROOT / "tools" / "gpu_image_packages.txt")
    with_deps, without = tool.wanted(reqs, image)
    assert {tool.requirement_name(r) for r in with_deps} == {
        "ray", "optuna", "pymoo", "mlflow-skinny", "pydantic"
    }  # fmt: skip
    assert without == []
    # a node without timm gets it without its dependencies (pip would fetch torch for it)
    with_deps, without = tool.wanted(reqs, image - {"timm", "safetensors"})
    assert [tool.requirement_name(r) for r in without] == ["timm"]
    assert "safetensors" in with_deps and "torch" not in {
        tool.requirement_name(r) for r in with_deps
    }


def _wheel(folder: Path, name: str, files: dict[str, bytes]) -> Path:
    path = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for rel, data in files.items():
            zf.writestr(rel, data)
        zf.writestr(f"{name}-1.0.dist-info/RECORD", "")
        zf.writestr(f"{name}-1.0.dist-info/METADATA", f"Name: {name}\n")
    return path


def test_unpack_trim_and_pack(tool, tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "ray", {
        "ray/__init__.py": b"", "ray/tune/__init__.py": b"", "ray/rllib/big.py": b"x" * 1000,
        "ray/data/__init__.py": b"", "ray/dashboard/client/build/app.js": b"js",
        "ray/serve/__init__.py": b"",
        "ray/tune/tests/test_x.py": b"", "ray/_raylet.pyx": b"cython",
    })  # fmt: skip
    _wheel(wheels, "numpy", {"numpy/__init__.py": b""})
    _wheel(wheels, "nvidia_cublas", {"nvidia/cublas.so": b""})
    _wheel(wheels, "mlflow_skinny", {"mlflow/__init__.py": b"", "mlflow/server/x.py": b""})
    site = tmp_path / "site"
    kept = tool.unpack(sorted(wheels.glob("*.whl")), site, node={"numpy"})
    assert sorted(k.split("-")[0] for k in kept) == ["mlflow_skinny", "ray"]
    assert not (site / "numpy").exists() and not (site / "nvidia").exists()
    removed = tool.trim(site)
    assert {"ray/rllib/", "ray/serve/", "ray/dashboard/client/", "mlflow/server/"} <= set(removed)
    assert (site / "ray" / "data" / "__init__.py").exists()  # Tune imports Ray Data
    assert (site / "ray" / "tune" / "__init__.py").exists()
    assert not (site / "ray" / "tune" / "tests").exists()
    assert not (site / "ray" / "_raylet.pyx").exists()
    assert not (site / "ray-1.0.dist-info" / "RECORD").exists()
    assert (site / "ray-1.0.dist-info" / "METADATA").exists()
    size = tool.pack(site, tmp_path / "site.tar.xz")
    assert size > 0
    with tarfile.open(tmp_path / "site.tar.xz") as tar:
        names = set(tar.getnames())
    assert "ray/tune/__init__.py" in names and "mlflow/__init__.py" in names
    assert not any(n.startswith("ray/rllib") for n in names)
