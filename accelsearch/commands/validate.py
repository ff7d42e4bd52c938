"""``accelsearch validate RECIPE.yaml ...``: check recipes without running them (with a
search budget, also its latency predictor and that the budget is reachable).

A recipe is valid when its fields, types and names are; data it names that is not here
(CIFAR-10 archives, the NATS-Bench table under ``.data/``) is a warning that says how to get
it, or an error with ``--check-data``, as it is for ``accelsearch run``. An invalid recipe
exits with the code ``run`` exits with for it (2).
"""

from __future__ import annotations

import argparse
import sys

from accelsearch.core.errors import ConfigError
from accelsearch.recipe import load_recipe
from accelsearch.search.screen_setup import check_search_budget

#: the exit code of a recipe error, in ``validate`` as in ``run`` (see accelsearch.cli.main)
EXIT_INVALID = 2


def validate(args: argparse.Namespace) -> int:
    failed, without_data = 0, 0
    for path in args.recipes:
        try:
            recipe = load_recipe(path, args.set, check_data=args.check_data)
            check_search_budget(recipe, printer=lambda *a: None)  # predictor, reachability
        except ConfigError as exc:
            failed += 1
            print(f"accelsearch: error: {exc}", file=sys.stderr)
            continue
        for gap in recipe.missing_data:
            print(
                f"warning: {path}: {gap.field}: {gap.problem()}; {gap.how_to_get()}",
                file=sys.stderr,
            )
        without_data += bool(recipe.missing_data)
        gaps = len(recipe.missing_data)
        print(f"ok: {path}" + (f" (valid; {gaps} input file(s) missing)" if gaps else ""))
    if without_data:
        print(
            f"{without_data} valid recipe(s) name data that is not here: `accelsearch run` stops "
            "on it before any trial; `validate --check-data` makes it an error",
            file=sys.stderr,
        )
    return EXIT_INVALID if failed else 0
