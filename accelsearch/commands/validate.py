"""``accelsearch validate RECIPE.yaml ...``: check recipes without running them."""

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

    failed = 0
    for path in args.recipes:
        try:
            load_recipe(path, args.set)
            print(f"ok: {path}")
        except ConfigError as exc:
            failed += 1
            print(str(exc), file=sys.stderr)
    return 1 if failed else 0
