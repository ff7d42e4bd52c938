"""Search on Ray Tune (``accelsearch.search``).

>>> from accelsearch import search
>>> search.strategies()          # registered strategy names
>>> result = search.Search(recipe, "out").run()
"""

from __future__ import annotations

from accelsearch.search import utilization_filter  # noqa: F401  (registers its strategy)
from accelsearch.search.strategy import STRATEGIES, Objective, register_strategy


def strategies() -> list[str]:
    """Registered search strategy names."""
    return STRATEGIES.names()


def __getattr__(name: str):
    # The driver imports Ray; load it only when asked for.
    if name in ("Search", "TrialLogger"):
        from accelsearch.search import driver

        return getattr(driver, name)
    if name in ("SearchResult", "TrialRecord"):
        from accelsearch.search import result

        return getattr(result, name)
    raise AttributeError(f"module 'accelsearch.search' has no attribute {name!r}")


__all__ = [
    "Objective",
    "STRATEGIES",
    "Search",
    "SearchResult",
    "TrialRecord",
    "register_strategy",
    "strategies",
]
