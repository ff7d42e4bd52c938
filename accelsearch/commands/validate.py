"""``accelsearch validate RECIPE.yaml ...``: check recipes without running them (with a
search budget, also its latency predictor and that the budget is reachable)."""

from __future__ import annotations

import argparse
import sys

from accelsearch.commands import add_set_option


def register(sub) -> None:
    v = sub.add_parser("validate", help="check recipes without running them")
    v.add_argument("recipes", nargs="+")
    add_set_option(v)
    v.set_defaults(fn=validate)


def validate(args: argparse.Namespace) -> int:
    from accelsearch.errors import ConfigError
    from accelsearch.recipe import load_recipe
    from accelsearch.search.screen_setup import check_search_budget

    failed = 0
    for path in args.recipes:
        try:
            recipe = load_recipe(path, args.set)
            check_search_budget(recipe, printer=lambda *a: None)  # predictor, reachability
            print(f"ok: {path}")
        except ConfigError as exc:
            failed += 1
            print(str(exc), file=sys.stderr)
    return 1 if failed else 0
