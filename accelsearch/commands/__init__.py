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
