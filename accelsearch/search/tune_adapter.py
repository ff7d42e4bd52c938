"""``TuneSearcher``: drives any ask/tell :class:`~accelsearch.search.searcher.Searcher` from Ray Tune.

Ray Tune asks ``suggest(trial_id)`` whenever it may start a trial and reports
``on_trial_complete(trial_id, result, error)`` in whatever order trials end; this adapter
maps trial ids to suggestion ids, returns ``None`` while the searcher waits for running
trials (a generational algorithm between two generations) and ``FINISHED`` when it has no
more to ask. Its state (the whole searcher, pickled) is what Tune saves with every
experiment snapshot, so ``accelsearch resume`` continues the same search.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

from ray.tune.search import Searcher as _TuneBase
from ray.tune.search.optuna import OptunaSearch

from accelsearch.search.searcher import Searcher


class TuneSearcher(_TuneBase):
    """Ray Tune ``Searcher`` over an accelsearch ask/tell searcher."""

    def __init__(self, searcher: Searcher, objective) -> None:
        super().__init__(
            metric=None if objective.multi else objective.metrics[0],
            mode=None if objective.multi else objective.modes[0],
        )
        # not called "searcher": Ray Tune takes any object with that attribute for a wrapper
        self.ask_tell = searcher
        self.objective = objective
        self.trial_ids: dict[str, int] = {}
        #: where the searcher's summary is written after every result (set by the driver)
        self.summary_path: str | None = None

    # -- Ray Tune's Searcher interface -----------------------------------------------------
    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        # the searcher knows its own space and objective; Tune's param_space is empty
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.ask_tell.is_finished():
            return _TuneBase.FINISHED
        sug = self.ask_tell.ask()
        if sug is None:
            return _TuneBase.FINISHED if self.ask_tell.is_finished() else None
        self.trial_ids[trial_id] = sug.id
        return dict(sug.params)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        sid = self.trial_ids.pop(trial_id, None)
        if sid is None:
            return
        ok = bool(result) and not error and not result.get("trial_error")
        self.ask_tell.tell(sid, dict(result) if ok else None)
        self.write_summary()

    def save(self, checkpoint_path: str) -> None:
        from ray import cloudpickle  # a predictor given from Python may be a lambda

        with open(checkpoint_path, "wb") as fh:
            cloudpickle.dump(self.__dict__, fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            self.__dict__.update(pickle.load(fh))

    # -- accelsearch ------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        return self.ask_tell.summary()

    def write_summary(self) -> None:
        if not self.summary_path:
            return
        data = self.ask_tell.summary()
        if not data:
            return
        path = Path(self.summary_path)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str))
        os.replace(tmp, path)


class FailureAwareOptunaSearch(OptunaSearch):
    """Ray Tune's ``OptunaSearch`` that tells Optuna a trial *failed* when the trial reported
    an error instead of its objectives (Ray's class would tell it as complete with missing
    values, which Optuna refuses, leaving the trial "running" in the study)."""

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if isinstance(self.metric, str) and self.metric not in result:
            return  # an error report: there is no intermediate value to give Optuna
        super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        if result and (result.get("trial_error") or any(m not in result for m in metrics)):
            result, error = None, True
        super().on_trial_complete(trial_id, result, error)
