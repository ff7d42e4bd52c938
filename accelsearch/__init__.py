"""accelsearch: find CNN families that run fast on a specific accelerator.

The rooms of the house are sub-packages: ``accelsearch.spaces`` (architectures and search
spaces), ``accelsearch.objectives`` (latency, accuracy, reward), ``accelsearch.scaling``
(compound scaling and LACS) and ``accelsearch.search`` (the Ray Tune driver); they stand on
the ground floor, ``accelsearch.core`` (``Arch``, the builder, errors, the registry), and
never import this module, which belongs to the application layer. The first
three live at the top level of the repository and are installed under ``accelsearch`` by
setuptools' ``package-dir``; when the package is imported straight from a source checkout
(``python -m pytest`` without an install) the same mapping is made here.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import AccelSearchError

__version__ = "0.1.0"

_TOP_LEVEL_ROOMS = ("spaces", "objectives", "scaling")


def _map_source_tree_rooms() -> None:
    """Make ``accelsearch.spaces`` etc. importable from a source checkout.

    An installed copy has them inside the package already; in a checkout they are siblings
    of this folder, so the repository root joins this package's search path. Only the three
    rooms are reachable that way because only they are named in ``_TOP_LEVEL_ROOMS``.
    """
    here = Path(__file__).resolve().parent
    root = here.parent
    if (here / "spaces").exists() or not (root / "pyproject.toml").exists():
        return
    if all((root / room / "__init__.py").exists() for room in _TOP_LEVEL_ROOMS):
        __path__.append(str(root))  # noqa: F821 - the package's own __path__


_map_source_tree_rooms()


def __getattr__(name: str):
    # `from accelsearch import spaces` etc. without importing heavy rooms at start-up.
    if name in (*_TOP_LEVEL_ROOMS, "search"):
        return importlib.import_module(f"accelsearch.{name}")
    raise AttributeError(f"module 'accelsearch' has no attribute {name!r}")


__all__ = ["AccelSearchError", "Arch", "Head", "Stage", "__version__"]
