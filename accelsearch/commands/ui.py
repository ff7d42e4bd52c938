"""``accelsearch ui [--output DIR]``: the MLflow UI on a workspace's store, on 127.0.0.1."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def register(sub) -> None:
    u = sub.add_parser("ui", help="open the MLflow UI on a workspace's store (127.0.0.1)")
    u.add_argument("--output", default="runs", help="workspace folder (default: runs)")
    u.add_argument("--port", type=int, default=5000)
    u.add_argument("--workers", type=int, default=1, help="server processes (default: 1)")
    u.set_defaults(fn=ui)


def find_store(output: str) -> Path:
    """The ``mlflow.db`` of a workspace (or of the only workspace under ``output``)."""
    from accelsearch.errors import ConfigError

    root = Path(output)
    if (root / "mlflow.db").exists():
        return root / "mlflow.db"
    found = sorted(root.glob("*/mlflow.db")) if root.is_dir() else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(
            f"no MLflow store (mlflow.db) in {str(root)!r}; run `accelsearch run RECIPE.yaml` "
            "first or pass --output with the run's output folder"
        )
    raise ConfigError(
        f"several MLflow stores under {str(root)!r}: "
        + ", ".join(str(p.parent) for p in found)
        + "; pass --output with one of them"
    )


def ui_command(store: Path, port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        f"sqlite:///{store.resolve()}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def ui(args: argparse.Namespace) -> int:
    store = find_store(args.output)
    print(f"[ui] MLflow UI on http://127.0.0.1:{args.port} for {store}")
    return subprocess.call(ui_command(store, args.port, args.workers))
