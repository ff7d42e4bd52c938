"""Search on Ray Tune (``accelsearch.search``).

>>> from accelsearch import search
>>> search.strategies()          # registered strategy names

A recipe's search runs through :class:`accelsearch.recipe_search.Search` (the application
layer translates the recipe into :mod:`accelsearch.search.settings` and drives
:class:`~accelsearch.search.driver.SearchDriver`); this room never reads a recipe.
"""

from __future__ import annotations

from accelsearch.search import utilization_filter  # noqa: F401  (registers its strategy)
from accelsearch.search.strategy import STRATEGIES, Objective, register_strategy


def strategies() -> list[str]:
    """Registered search strategy names."""
    return STRATEGIES.names()


def __getattr__(name: str):
    # The driver imports Ray; load it only when asked for.
    if name in ("SearchDriver", "TrialLogger"):
        from accelsearch.search import driver  # sets Ray Tune's environment before Ray loads

        return getattr(driver, name)
    if name == "Search":  # moved up a layer: it takes a recipe
        raise AttributeError(
            "accelsearch.search.Search moved to accelsearch.recipe_search.Search "
            "(from accelsearch.recipe_search import Search)"
        )
    if name in ("SearchResult", "TrialRecord"):
        # heavy (PyTorch, through accelsearch.objectives): loaded when asked for, as the driver
        from accelsearch.search import result

        return getattr(result, name)
    raise AttributeError(f"module 'accelsearch.search' has no attribute {name!r}")


__all__ = [
    "Objective",
    "STRATEGIES",
    "SearchDriver",
    "SearchResult",
    "TrialRecord",
    "register_strategy",
    "strategies",
]
