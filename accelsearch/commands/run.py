"""``accelsearch run RECIPE.yaml``: search, then LACS, tracked in MLflow."""

from __future__ import annotations

import argparse
import os

from accelsearch.progress import console_printer, show_status
from accelsearch.recipe import load_recipe


def run(args: argparse.Namespace) -> int:
    printer = console_printer()
    try:
        show_status(printer, f"[run] reading {args.recipe} (loading PyTorch: a few seconds)")
        # heavy (PyTorch, Ray, MLflow take seconds to import): imported after the first line
        from accelsearch.pipeline import run_recipe

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
