"""A recipe's search: :class:`Search` runs it on the search room's driver, with MLflow
tracking and a progress display.

The search room (:mod:`accelsearch.search`) gets a built space, an evaluator, small typed
settings (:func:`accelsearch.recipe_settings.search_settings`) and observers
(:mod:`accelsearch.search_tracking`), never the recipe (:mod:`accelsearch.recipe_driver`).

>>> from accelsearch.recipe_search import Search
>>> result = Search(recipe, "runs/x").run()        # or .resume() after a stop
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accelsearch.recipe import Recipe
from accelsearch.recipe_driver import search_driver
from accelsearch.search.result import SearchResult
from accelsearch.tracking import Tracker


class Search:
    """Runs a recipe's search section on Ray Tune (see :mod:`accelsearch.search.driver`).

    With a ``tracker`` the search and each trial are MLflow runs (failed trials with their
    traceback); progress goes to ``printer``. ``space`` overrides the recipe's (a space
    object that is not registered); ``trust_checkpoints`` resumes without checking the
    snapshot's hashes (a run folder known to be safe).
    """

    def __init__(
        self,
        recipe: Recipe,
        output_dir: str | Path,
        tracker: Tracker | None = None,
        address: str | None = None,
        printer=print,
        space=None,
        trust_checkpoints: bool = False,
    ) -> None:
        self.recipe = recipe
        self.space = space if space is not None else recipe.space.make()
        self.tracker = tracker
        self.driver = search_driver(
            recipe, output_dir, tracker, address, printer, self.space, trust_checkpoints
        )

    @property
    def output_dir(self) -> Path:
        return self.driver.output_dir

    @property
    def summary(self) -> dict[str, Any]:
        """What the strategy concluded (after :meth:`run` or :meth:`resume`)."""
        return self.driver.summary

    def run(self) -> SearchResult:
        return self.driver.run()

    def resume(self) -> SearchResult:
        """Continue the search saved in ``output_dir`` (see :mod:`accelsearch.search.driver`)."""
        return self.driver.resume()
