"""Sub-commands of the ``accelsearch`` CLI, one module each.

A module here defines ``register(subparsers)``, which adds its parser and sets
``fn=handler`` (``handler(args) -> int``); :mod:`accelsearch.cli` finds every module in this
package, so adding a command touches no other file.
"""

from __future__ import annotations

import importlib
import pkgutil


def command_modules() -> list:
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        if not info.name.startswith("_")
    ]


def add_set_option(parser) -> None:
    """``--set KEY=VALUE`` (repeatable): the recipe overrides every recipe-taking command has."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe field, e.g. --set search.num_samples=2",
    )
