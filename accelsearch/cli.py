"""The ``accelsearch`` command.

accelsearch run RECIPE.yaml [--output DIR] [--tracking-uri URI] [--set a.b=v ...]
accelsearch validate RECIPE.yaml ...
accelsearch ui [--output DIR] [--port 5000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from accelsearch.errors import AccelSearchError, ConfigError


def _cmd_run(args: argparse.Namespace) -> int:
    from accelsearch.pipeline import run_recipe
    from accelsearch.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.set)
    output = args.output or os.path.join("runs", recipe.name)
    outcome = run_recipe(recipe, output, tracking_uri=args.tracking_uri, address=args.address)
    print(f"[run] finished in {outcome.wall_s:.0f} s")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from accelsearch.recipe import load_recipe

    failed = 0
    for path in args.recipes:
        try:
            load_recipe(path, args.set)
            print(f"ok: {path}")
        except ConfigError as exc:
            failed += 1
            print(str(exc), file=sys.stderr)
    return 1 if failed else 0


def find_store(output: str) -> Path:
    """The ``mlflow.db`` of a workspace (or of the only workspace under ``output``)."""
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


def _cmd_ui(args: argparse.Namespace) -> int:
    store = find_store(args.output)
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        f"sqlite:///{store.resolve()}",
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
    ]
    print(f"[ui] MLflow UI on http://127.0.0.1:{args.port} for {store}")
    return subprocess.call(cmd)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="accelsearch",
        description="Find CNN families that run fast on your accelerator.",
    )
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="search a space, then grow the best model into a family")
    r.add_argument("recipe", help="recipe YAML file (see recipes/)")
    r.add_argument("--output", help="workspace folder (default: runs/<recipe name>)")
    r.add_argument("--tracking-uri", help="MLflow tracking URI (default: SQLite in the workspace)")
    r.add_argument("--address", help="Ray cluster to join ('auto' or host:port); default: local")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe field, e.g. --set search.num_samples=2",
    )
    r.set_defaults(fn=_cmd_run)

    v = sub.add_parser("validate", help="check recipes without running them")
    v.add_argument("recipes", nargs="+")
    v.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    v.set_defaults(fn=_cmd_validate)

    u = sub.add_parser("ui", help="open the MLflow UI on a workspace's store (127.0.0.1)")
    u.add_argument("--output", default="runs", help="workspace folder (default: runs)")
    u.add_argument("--port", type=int, default=5000)
    u.set_defaults(fn=_cmd_ui)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except AccelSearchError as exc:
        print(f"accelsearch: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
