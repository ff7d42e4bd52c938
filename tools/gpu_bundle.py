#!/usr/bin/env python3
"""Packages for an offline GPU node, in one compressed file that fits a 64 MiB carry.

A GPU node without network has PyTorch and its CUDA stack in its image, but usually not Ray
Tune, Optuna, pymoo, the MLflow client (and accelsearch itself). This tool, run on a machine
that can reach PyPI, downloads the wheels of what the node lacks for the node's Python,
unpacks them, drops the parts of Ray and MLflow a run never imports, strips debug symbols
from the compiled libraries and packs the rest as ``site.tar.xz`` (see ``docs/gpu.md``)::

    # on the GPU node (offline): which packages its image already has
    python3 -m pip list --format=freeze > node-packages.txt
    # here (online): the bundle for that node, accelsearch included
    python tools/gpu_bundle.py build --node-packages node-packages.txt --python-version 3.12
    # on the GPU node: unpack, put it on PYTHONPATH, check the imports
    mkdir -p /tmp/site && tar -xJf .bundle/site.tar.xz -C /tmp/site
    export PYTHONPATH=/tmp/site:$PYTHONPATH
    python3 tools/gpu_bundle.py check --site /tmp/site

``build`` writes ``site.tar.xz`` and ``bundle.json`` (contents, what was dropped, sizes);
``check`` imports what a run needs from the site (``--smoke``: and runs a tiny CPU job), so a
bundle that lacks something fails before the GPU is started. Torch, triton and ``nvidia-*``
are never bundled: the node's image provides its CUDA build.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
#: what one device call may carry (the working tree and everything taken along)
CARRY_LIMIT_MIB = 64
#: the accelsearch dependencies whose lighter variant serves a run
LIGHTER = {"mlflow": "mlflow-skinny", "ray": "ray[tune]"}
#: never bundled: the node's image brings its own CUDA builds (and ``nvidia-*``)
NEVER = ("torch", "triton")
#: installed with --no-deps (their own dependencies are listed beside them), so that pip
#: does not fetch torch for them
NO_DEPS = {"timm": ["huggingface-hub", "safetensors", "pyyaml"], "torchvision": ["pillow"]}

#: trees a run never reads, found by a trace (docs/gpu.md): Ray's jars, RLlib, Serve, LLM and
#: web client; MLflow's server, assistant, pyfunc, LangChain; the Databricks SDK (only the
#: namespace ``__init__`` is probed), Google auth, GitPython, ASN.1, cffi, CMA-ES, uvicorn,
#: tensorboardX, SQLAlchemy's tests. Ray Data, MLflow GenAI, FastAPI, Starlette and
#: cryptography are read by a run and stay.
DROP = (
    "ray/jars", "ray/rllib", "ray/serve", "ray/llm", "ray/dashboard/client",
    "mlflow/server", "mlflow/assistant", "mlflow/pyfunc", "mlflow/langchain",
    "databricks/sdk", "google", "git", "gitdb", "smmap", "pyasn1", "pyasn1_modules",
    "cffi", "pycparser", "cma", "uvicorn", "tensorboardX", "sqlalchemy/testing",
)  # fmt: skip
#: file suffixes never imported (sources of compiled extensions, type stubs)
DROP_SUFFIXES = (".pyx", ".pxd", ".cpp", ".c", ".h", ".hpp", ".pyi")


# -- requirements -------------------------------------------------------------------------
def normalise(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def never(name: str) -> bool:
    return name in NEVER or name.startswith("nvidia-")


def requirement_name(req: str) -> str:
    return normalise(re.split(r"[\s\[<>=!~;]", req.strip(), maxsplit=1)[0])


def read_node_packages(path: Path | None) -> set[str]:
    """Names from ``pip list --format=freeze`` / ``pip freeze`` output or one name a line."""
    if path is None:
        return set()
    names = set()
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(requirement_name(line.split("@", 1)[0]))
    return names


def project_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The project's runtime dependencies, with the lighter variants a run needs."""
    import tomllib  # Python >= 3.11: the machine that builds the bundle, not the node

    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    out = []
    for dep in deps:
        name = requirement_name(dep)
        out.append(LIGHTER.get(name, dep))
    return out


def wanted(requirements: list[str], node: set[str]) -> tuple[list[str], list[str]]:
    """(requirements pip resolves with their dependencies, ones fetched without), leaving
    out what the node has and what is never bundled."""
    with_deps, without = [], []
    for req in requirements:
        name = requirement_name(req)
        if name in node or never(name):
            continue
        if name in NO_DEPS:
            without.append(req)
            with_deps += [d for d in NO_DEPS[name] if normalise(d) not in node]
        else:
            with_deps.append(req)
    return list(dict.fromkeys(with_deps)), without


def pip_download(reqs: list[str], dest: Path, python_version: str, deps: bool) -> None:
    if not reqs:
        return
    platforms = [f"manylinux_2_{n}_x86_64" for n in (17, 24, 27, 28, 31, 34)]
    platforms += ["manylinux2014_x86_64", "manylinux1_x86_64", "any"]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
           "--python-version", python_version, "--implementation", "cp", "-d", str(dest)]  # fmt: skip
    for p in platforms:
        cmd += ["--platform", p]
    cmd += [] if deps else ["--no-deps"]
    res = subprocess.run(cmd + reqs, stderr=subprocess.PIPE, text=True)
    noise = "WARNING: Location"  # pip's note on each index folder it may not read
    sys.stderr.write("".join(ln for ln in res.stderr.splitlines(True) if noise not in ln))
    if res.returncode != 0:
        raise SystemExit(f"[bundle] pip download failed (exit {res.returncode})")


def project_wheel(dest: Path) -> Path:
    """accelsearch itself as a wheel (pure Python; its packaged data included)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(ROOT)],
        check=True,
    )
    return next(dest.glob("accelsearch-*.whl"))


# -- unpack, trim, strip, pack --------------------------------------------------------------
def wheel_name(path: Path) -> str:
    return normalise(path.name.split("-", 1)[0])


def unpack(wheels: list[Path], site: Path, node: set[str]) -> list[str]:
    """Unzip the wheels the node lacks into ``site``; returns the distributions unpacked."""
    kept = []
    for whl in sorted(wheels):
        name = wheel_name(whl)
        if name in node or never(name):
            continue
        with zipfile.ZipFile(whl) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, site))
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():  # Ray's raylet and gcs_server are executables
                    path.chmod(mode)
        kept.append(whl.name)
    return kept


def trim(site: Path, drop: tuple[str, ...] = DROP) -> list[str]:
    """Remove the parts a run never imports; returns what was removed (relative paths)."""
    removed = []
    for rel in drop:
        path = site / rel
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(rel + "/")
        elif path.exists():
            path.unlink()
            removed.append(rel)
    for path in sorted(site.rglob("*")):
        if path.is_file() and path.name.endswith(DROP_SUFFIXES):
            path.unlink()
        elif path.is_dir() and path.name in ("tests", "test") and path.parent != site:
            shutil.rmtree(path, ignore_errors=True)
    for info in site.glob("*.dist-info"):  # RECORD lists files no longer there
        (info / "RECORD").unlink(missing_ok=True)
    return removed


def strip_binaries(site: Path) -> int:
    """Strip symbol tables from ELF files (``strip --strip-unneeded``); bytes saved."""
    strip = shutil.which("strip")
    if strip is None:
        return 0
    saved = 0
    for path in site.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        with path.open("rb") as fh:
            if fh.read(4) != b"\x7fELF":
                continue
        before = path.stat().st_size
        if (
            subprocess.run([strip, "--strip-unneeded", str(path)], capture_output=True).returncode
            == 0
        ):
            saved += before - path.stat().st_size
    return saved


def pack(site: Path, out: Path) -> int:
    """``site`` as ``out`` (tar, xz -9e); the ``xz`` program when there is one (all cores)."""
    xz = shutil.which("xz")
    if xz is None:
        with tarfile.open(out, "w:xz", preset=9 | lzma.PRESET_EXTREME) as tar:
            _add_all(tar, site)
        return out.stat().st_size
    with out.open("wb") as fh:
        proc = subprocess.Popen([xz, "-T0", "-9e", "-c"], stdin=subprocess.PIPE, stdout=fh)
        with tarfile.open(fileobj=proc.stdin, mode="w|") as tar:
            _add_all(tar, site)
        proc.stdin.close()
        if proc.wait() != 0:
            raise SystemExit(f"[bundle] xz failed (exit {proc.returncode})")
    return out.stat().st_size


def _add_all(tar: tarfile.TarFile, site: Path) -> None:
    for path in sorted(site.iterdir()):
        tar.add(path, arcname=path.name)


def largest(site: Path, n: int = 12) -> list[tuple[str, float]]:
    """The ``n`` largest top-level entries of ``site`` (MiB, unpacked)."""
    sizes = []
    for path in site.iterdir():
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        sizes.append((path.name, sum(p.stat().st_size for p in files) / MIB))
    return sorted(sizes, key=lambda s: -s[1])[:n]


def build(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    node = read_node_packages(args.node_packages) | {normalise(n) for n in args.node_has}
    reqs = project_requirements() + list(args.extra)
    with_deps, without = wanted(reqs, node)
    with tempfile.TemporaryDirectory(prefix="gpu-bundle-") as tmp:
        wheels = Path(args.wheels) if args.wheels else Path(tmp) / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        if not args.reuse_wheels:
            print(f"[bundle] downloading for Python {args.python_version}: {' '.join(with_deps)}")
            pip_download(with_deps, wheels, args.python_version, deps=True)
            pip_download(without, wheels, args.python_version, deps=False)
        # an accelsearch wheel left in --wheels by an earlier build is never reused
        found = [w for w in wheels.glob("*.whl") if wheel_name(w) != "accelsearch"]
        if not args.no_project:
            for old in wheels.glob("accelsearch-*.whl"):
                old.unlink()
            found.append(project_wheel(wheels))
        site = Path(tmp) / "site"
        kept = unpack(found, site, node)
        unpacked_mib = sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / MIB
        removed = [] if args.no_trim else trim(site)
        stripped = 0 if args.no_strip else strip_binaries(site)
        top = largest(site)
        size = pack(site, out / "site.tar.xz")
    manifest = {
        "python_version": args.python_version,
        "node_packages": sorted(node),
        "requirements": with_deps + without,
        "wheels": kept,
        "removed": removed,
        "stripped_mib": stripped / MIB,
        "unpacked_mib": unpacked_mib,
        "largest_unpacked_mib": top,
        "size_bytes": size,
        "size_mib": size / MIB,
        "seconds": time.perf_counter() - t0,
    }
    (out / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"[bundle] {out / 'site.tar.xz'}: {size / MIB:.1f} MiB ({len(kept)} wheels; "
          f"{unpacked_mib:.0f} MiB unpacked before trimming; {stripped / MIB:.0f} MiB of "
          f"symbols stripped; {len(removed)} parts dropped)")  # fmt: skip
    print("[bundle] largest parts (MiB unpacked): " + ", ".join(f"{n} {s:.1f}" for n, s in top))
    parts = [("bundle", size)] + [(str(p), Path(p).stat().st_size) for p in args.data]
    total = sum(s for _, s in parts) / MIB
    print("[bundle] to carry: " + ", ".join(f"{n} {s / MIB:.1f} MiB" for n, s in parts)
          + f" = {total:.1f} MiB of {CARRY_LIMIT_MIB} MiB")  # fmt: skip
    return 0


# -- check ----------------------------------------------------------------------------------
#: what ``accelsearch run`` / ``resume`` / ``compare`` import, in the driver and in Ray workers
IMPORTS = (
    "accelsearch.cli", "accelsearch.pipeline", "accelsearch.recipe_search", "accelsearch.search.driver",
    "accelsearch.search.trial", "accelsearch.search.tune_adapter",
    "accelsearch.search.optuna_strategies", "accelsearch.search.pymoo_strategies",
    "accelsearch.baselines.compare_run", "accelsearch.tracking", "accelsearch.objectives.latency",
    "accelsearch.objectives.accuracy", "accelsearch.objectives.roofline",
    "accelsearch.scaling.lacs", "ray.tune", "ray.tune.search.optuna", "optuna",
    "pymoo.algorithms.moo.nsga2", "mlflow", "mlflow.tracking",
    "mlflow.store.tracking.sqlalchemy_store", "timm", "torch",
)  # fmt: skip

SMOKE_RECIPE = """\
name: bundle_smoke
num_classes: 10
space: {name: efficientnet_x, options: {width_mult: 0.25, resolutions: [32], depth_deltas: [-1, 0]}}
latency: {backend: torch, device: cpu, batch_size: 2, protocol: {warmup: 1, min_reps: 3, max_reps: 10, max_seconds: 0.2}}
accuracy: {evaluator: train, options: {dataset: digits, epochs: 1, data_fraction: 0.2, threads: 1}}
reward: {target_ms: 3.0}
search: {strategy: STRATEGY, num_samples: 2, cpus_per_trial: 1}
scaling: {grid: [[1.0, 1.2, 1.2]], targets: [1.5], tolerance: 0.3, max_measurements: 3}
baselines: {models: [resnet10t], resolution: 32}
"""


def check(args: argparse.Namespace) -> int:
    """Import what a run needs with ``--site`` first on the path (and run a smoke job)."""
    site = Path(args.site).resolve()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), *args.also_path])
    env["PYTHONNOUSERSITE"] = "1"
    code = "import importlib, sys\n" + "".join(
        f"importlib.import_module({m!r})\n" for m in IMPORTS
    ) + "import accelsearch, ray, mlflow, optuna, pymoo\n" + (
        "print('imports ok:', accelsearch.__file__, 'ray', ray.__version__, 'mlflow', "
        "mlflow.__version__, 'optuna', optuna.__version__)\n"
    )  # fmt: skip
    python = args.python or sys.executable
    res = subprocess.run([python, "-c", code], env=env, cwd=tempfile.gettempdir())
    if res.returncode != 0:
        print("[check] imports FAILED", file=sys.stderr)
        return 1
    for strategy in args.smoke:
        if run_smoke(python, env, strategy) != 0:
            return 1
    return 0


def run_smoke(python: str, env: dict[str, str], strategy: str) -> int:
    with tempfile.TemporaryDirectory(prefix="bundle-smoke-") as tmp:
        recipe = Path(tmp) / "smoke.yaml"
        recipe.write_text(SMOKE_RECIPE.replace("STRATEGY", strategy))
        cmd = [python, "-m", "accelsearch", "run", str(recipe), "--output", str(Path(tmp) / "ws")]
        t0 = time.perf_counter()
        res = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True)
        ok = res.returncode == 0 and any(Path(tmp, "ws").glob("*/baselines.json"))
        print(f"[check] smoke run ({strategy}): {'ok' if ok else 'FAILED'} in "
              f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
        if not ok:
            print(res.stdout[-3000:], res.stderr[-3000:], file=sys.stderr)
        return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="download, trim and pack the bundle (needs network)")
    b.add_argument("--out", default=".bundle", help="folder for site.tar.xz and bundle.json")
    b.add_argument("--python-version", default="3.12", help="the GPU node's Python (3.12)")
    b.add_argument("--node-packages", type=Path, help="`pip list --format=freeze` of the node")
    b.add_argument("--node-has", nargs="*", default=[], help="more names the node has")
    b.add_argument("--extra", nargs="*", default=[], help="more requirements to bundle")
    b.add_argument("--data", nargs="*", default=[], help="files to count against the limit")
    b.add_argument("--wheels", help="keep downloaded wheels in this folder")
    b.add_argument("--reuse-wheels", action="store_true", help="use --wheels, download none")
    b.add_argument("--no-project", action="store_true", help="leave accelsearch itself out")
    b.add_argument("--no-trim", action="store_true", help="keep every file of every wheel")
    b.add_argument("--no-strip", action="store_true", help="keep symbols of compiled files")
    b.set_defaults(fn=build)
    c = sub.add_parser("check", help="import what a run needs from an unpacked bundle")
    c.add_argument("--site", required=True, help="the unpacked bundle")
    c.add_argument("--python", help="interpreter to check with (default: this one)")
    c.add_argument("--also-path", nargs="*", default=[], help="more folders after the site")
    c.add_argument("--smoke", nargs="*", default=[], metavar="STRATEGY",
                   help="also run a tiny CPU job per search strategy, e.g. random pymoo-nsga2")  # fmt: skip
    c.set_defaults(fn=check)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
