"""The search driver for a recipe: its settings, its space and evaluator, and the observers
that log the search to MLflow and print its progress.

What ``accelsearch run`` (:mod:`accelsearch.pipeline`) and
:class:`accelsearch.recipe_search.Search` run; the search room itself never reads a recipe.
"""

from __future__ import annotations

from pathlib import Path

from accelsearch.recipe import Recipe
from accelsearch.recipe_settings import resolve_strategy, search_settings
from accelsearch.search import strategy
from accelsearch.search.driver import SearchDriver
from accelsearch.search.observer import SearchObserver
from accelsearch.search.screen_setup import make_screen
from accelsearch.search_tracking import MlflowSearchObserver, ProgressObserver
from accelsearch.tracking import Tracker


def search_driver(
    recipe: Recipe,
    output_dir: str | Path,
    tracker: Tracker | None = None,
    address: str | None = None,
    printer=print,
    space=None,
    trust_checkpoints: bool = False,
    screen=None,
) -> SearchDriver:
    """A :class:`SearchDriver` for ``recipe``'s search in ``output_dir``: MLflow runs with a
    ``tracker`` (none without), progress through ``printer``; ``space`` overrides the
    recipe's (a space object that is not registered). ``screen``: the budget's screen made
    and checked already (``check_search_budget``); else it is made when the search starts."""
    space = space if space is not None else recipe.space.make()
    recipe = resolve_strategy(recipe, space, printer)  # 'auto' (run_recipe resolved it first)
    kind = strategy.STRATEGIES.get(recipe.search.strategy).constraints
    observers: list[SearchObserver] = [ProgressObserver(printer)]
    if tracker is not None:
        observers.insert(0, MlflowSearchObserver(tracker, recipe, printer))
    return SearchDriver(
        search_settings(recipe),
        space,
        recipe.accuracy.make(),
        output_dir,
        observers=observers,
        address=address,
        printer=printer,
        trust_checkpoints=trust_checkpoints,
        screen=screen,
        make_screen=lambda: make_screen(recipe, space, kind, printer),
    )
