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

from accelsearch import pipeline
from accelsearch.core.errors import ConfigError
from accelsearch.recipe import Recipe, ScalingSpec
from accelsearch.recipe_driver import search_driver
from accelsearch.search.driver import SearchDriver
from accelsearch.search.result import SearchResult
from accelsearch.tracking import Tracker

#: ``Search(..., tracker=WORKSPACE)``, the default: ``output_dir`` is a workspace
WORKSPACE = "workspace"


class Search:
    """Runs a recipe's search section on Ray Tune.

    With ``tracker=WORKSPACE`` (the default) ``output_dir`` is a workspace, written as
    ``accelsearch run --output`` writes it (:func:`accelsearch.pipeline.run_recipe` with the
    recipe's ``scaling`` off): the MLflow store in it, the search and its trials as MLflow
    runs, a ``<name>-<stamp>/`` folder with ``recipe.json``, ``search.json`` and
    ``summary.md``, ``latest`` pointing at it; :attr:`output_dir` is that folder after
    :meth:`run`. With a :class:`Tracker` (or ``None``: no MLflow) ``output_dir`` is the
    search's own folder and only Ray Tune's state is written there (what ``run_recipe`` does
    around it is then the caller's); the search runs on
    :class:`~accelsearch.search.driver.SearchDriver` (:attr:`driver`).
    ``space`` overrides the recipe's (a space object that is not registered);
    ``trust_checkpoints`` resumes without checking the snapshot's hashes.
    """

    def __init__(
        self,
        recipe: Recipe,
        output_dir: str | Path,
        tracker: Tracker | None | str = WORKSPACE,
        address: str | None = None,
        printer=print,
        space=None,
        screen=None,
        trust_checkpoints: bool = False,
    ) -> None:
        if isinstance(tracker, str) and tracker != WORKSPACE:
            raise ConfigError(f"Search tracker {tracker!r}: give a Tracker, None or {WORKSPACE!r}")
        self.recipe = recipe
        self.space = space if space is not None else recipe.space.make()
        self.output_dir = Path(output_dir).resolve()
        self.workspace = self.output_dir if isinstance(tracker, str) else None
        self.tracker = None if isinstance(tracker, str) else tracker
        self.address = address
        self.print = printer
        self.trust_checkpoints = trust_checkpoints
        self.summary: dict[str, Any] = {}
        self.driver: SearchDriver | None = None
        if self.workspace is None:
            self.driver = search_driver(
                recipe,
                self.output_dir,
                self.tracker,
                address,
                printer,
                self.space,
                trust_checkpoints,
                screen=screen,
            )

    def run(self) -> SearchResult:
        if self.driver is None:
            recipe = self.recipe.model_copy(update={"scaling": ScalingSpec(enabled=False)})
            return self._in_workspace(pipeline.run_recipe, recipe)
        return self._done(self.driver.run())

    def resume(self) -> SearchResult:
        """Continue the search saved in ``output_dir`` (see :mod:`accelsearch.search.driver`);
        in a workspace, its ``latest`` run."""
        if self.driver is None:
            return self._in_workspace(pipeline.resume_run, trust_checkpoints=self.trust_checkpoints)
        return self._done(self.driver.resume())

    def _done(self, result: SearchResult) -> SearchResult:
        self.summary = self.driver.summary
        return result

    def _in_workspace(self, how, *recipe, **options) -> SearchResult:
        """Run or resume as ``accelsearch run`` does, in the workspace; then
        :attr:`output_dir` is the run's folder."""
        outcome = how(
            *recipe,
            self.workspace,
            address=self.address,
            printer=self.print,
            space=self.space,
            **options,
        )
        self.output_dir = outcome.output_dir
        self.summary = outcome.search.summary
        return outcome.search
