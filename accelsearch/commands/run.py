"""``accelsearch run RECIPE.yaml``: search, then LACS, tracked in MLflow."""

from __future__ import annotations

import argparse
import os

from accelsearch.commands import add_set_option


def register(sub) -> None:
    r = sub.add_parser("run", help="search a space, then grow the best model into a family")
    r.add_argument("recipe", help="recipe YAML file (see recipes/)")
    r.add_argument("--output", help="workspace folder (default: runs/<recipe name>)")
    r.add_argument("--tracking-uri", help="MLflow tracking URI (default: SQLite in the workspace)")
    r.add_argument(
        "--offline",
        action="store_true",
        help="log to the workspace's SQLite store even when a tracking URI is set; "
        "upload later with `accelsearch sync --output DIR`",
    )
    r.add_argument("--address", help="Ray cluster to join ('auto' or host:port); default: local")
    add_set_option(r)
    r.set_defaults(fn=run)


def run(args: argparse.Namespace) -> int:
    from accelsearch.progress import console_printer, show_status

    printer = console_printer()
    try:
        # the first line comes before the imports (PyTorch, Ray, MLflow take seconds)
        show_status(printer, f"[run] reading {args.recipe} (loading PyTorch: a few seconds)")
        from accelsearch.pipeline import run_recipe
        from accelsearch.recipe import load_recipe

        recipe = load_recipe(args.recipe, args.set)
        output = args.output or os.path.join("runs", recipe.name)
        outcome = run_recipe(
            recipe,
            output,
            tracking_uri=args.tracking_uri,
            address=args.address,
            offline=args.offline,
            printer=printer,
        )
    finally:
        getattr(printer, "close", lambda: None)()
    print(f"[run] finished in {outcome.wall_s:.0f} s", flush=True)
    return 0
