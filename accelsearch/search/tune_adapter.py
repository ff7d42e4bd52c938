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

from ray import cloudpickle
from ray.tune.search import Searcher as _TuneBase
from ray.tune.search.optuna import OptunaSearch

from accelsearch.search.budget import CONSTRAINTS_ATTR
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
        with open(checkpoint_path, "wb") as fh:  # cloudpickle: a predictor may be a lambda
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
    values, which Optuna refuses, leaving the trial "running" in the study).

    With a ``budget`` (:class:`~accelsearch.search.budget.Budget`) every completed trial
    carries its constraint values (``Trial.set_constraint``: relative violations, <= 0
    feasible), which Optuna's TPE, NSGA-II/III and GP samplers use. A trial over the budget
    that was not trained (rejected by the screen or by its measured latency) has no
    accuracy: it is told as complete and infeasible, its missing objectives standing in with
    the worst value seen so far (the samplers rank infeasible trials by their violation,
    below every feasible one).
    """

    def __init__(self, *args: Any, budget=None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.budget = budget
        self.worst: dict[str, float] = {}  # worst value seen per objective metric

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if isinstance(self.metric, str) and self.metric not in result:
            return  # an error report: there is no intermediate value to give Optuna
        super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        if result and result.get("trial_error"):
            result, error = None, True
        elif result and self.budget is not None and trial_id in self._ot_trials:
            result = self._constrained(trial_id, dict(result), metrics)
        if result and any(m not in result for m in metrics):
            result, error = None, True
        if result:
            self._remember_worst(result, metrics)
        super().on_trial_complete(trial_id, result, error)

    def _constrained(self, trial_id: str, result: dict[str, Any], metrics: list[str]):
        """Set the trial's constraints; fill an untrained infeasible trial's objectives."""
        names = self.budget.names()
        found = self.budget.violations(result)
        values = [found[n] if found[n] is not None else 0.0 for n in names]
        infeasible = any(v > 0 for v in values)
        missing = [m for m in metrics if m not in result]
        if missing and not infeasible:
            return result  # a trial that ended without its objectives: failed
        ot_trial = self._ot_trials[trial_id]
        if hasattr(ot_trial, "set_constraint"):
            for name, value in zip(names, values):
                ot_trial.set_constraint(name, value)
        else:
            ot_trial.set_user_attr(CONSTRAINTS_ATTR, values)
        for m in missing:
            result[m] = self.worst.get(m, 0.0)
        return result

    def _remember_worst(self, result: dict[str, Any], metrics: list[str]) -> None:
        modes = self.mode if isinstance(self.mode, list) else [self.mode]
        for m, mode in zip(metrics, modes):
            v = result.get(m)
            if not isinstance(v, (int, float)) or v != v:
                continue
            old = self.worst.get(m)
            if old is None or (v < old if mode == "max" else v > old):
                self.worst[m] = float(v)


#: the screened search Ray Tune is driving, by the driver's attach key (its output folder):
#: after a resume Ray Tune drives a restored copy, which registers itself here
LIVE_SCREENS: dict[str, ScreenedSearch] = {}


class ScreenedSearch(_TuneBase):
    """Puts the screen (:class:`~accelsearch.search.screen.Screen`) between any Ray Tune
    searcher and the trials.

    Every configuration the inner searcher proposes is judged on the CPU first; a rejected
    one is told back to the inner searcher at once as infeasible (with its predicted latency,
    so a constrained strategy learns how far over it was) and the next one is asked for, up
    to ``max_per_trial`` in a row - after that the last one goes to a trial anyway, whose
    latency measurement decides. The rejected candidates wait in :attr:`screened` until the
    driver takes them (:meth:`drain_screened`) to record them.
    """

    def __init__(
        self, inner, screen, max_per_trial: int = 200, attach_key: str | None = None
    ) -> None:
        super().__init__(metric=inner.metric, mode=inner.mode)
        #: the driver finds the live screen (the one Ray Tune calls) in LIVE_SCREENS by it
        self.attach_key = attach_key
        self.inner = inner
        self.screen = screen
        self.max_per_trial = int(max_per_trial)
        self.live: dict[str, tuple[str, dict[str, Any]]] = {}  # trial id -> (inner id, config)
        self.asked = 0
        self.forced = 0  # candidates sent to a trial after max_per_trial rejections
        self.screened: list[dict[str, Any]] = []

    @property
    def summary_path(self) -> str | None:
        return getattr(self.inner, "summary_path", None)

    @summary_path.setter
    def summary_path(self, path: str | None) -> None:
        if hasattr(self.inner, "summary_path"):
            self.inner.summary_path = path

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.attach_key is not None:
            LIVE_SCREENS[self.attach_key] = self
        for k in range(self.max_per_trial):
            inner_id = f"{trial_id}/{self.asked}"
            self.asked += 1
            config = self.inner.suggest(inner_id)
            if config is None or config == _TuneBase.FINISHED:
                return config
            verdict = self.screen.judge(config)
            if not verdict.passed and k == self.max_per_trial - 1:
                self.forced += 1  # the measurement decides
                self.screen.rejected -= 1
            elif not verdict.passed:
                self.inner.on_trial_complete(inner_id, dict(verdict.metrics))
                self.screened.append({"params": dict(config), **verdict.metrics})
                continue
            self.live[trial_id] = (inner_id, dict(config))
            return config
        return None

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        entry = self.live.get(trial_id)
        if entry is not None:
            self.inner.on_trial_result(entry[0], result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        entry = self.live.pop(trial_id, None)
        if entry is None:
            return
        inner_id, config = entry
        if result and not error and not result.get("trial_error"):
            self.screen.observe(config, result)
        self.inner.on_trial_complete(inner_id, result, error)

    def drain_screened(self) -> list[dict[str, Any]]:
        """The candidates rejected since the last call (the driver records them)."""
        out, self.screened = self.screened, []
        return out

    def summary(self) -> dict[str, Any]:
        inner = self.inner.summary() if hasattr(self.inner, "summary") else {}
        screen = {**self.screen.summary(), "sent_to_a_trial_after_max_per_trial": self.forced}
        return {**(inner or {}), "screen": screen}

    def write_summary(self) -> None:
        if hasattr(self.inner, "write_summary"):
            self.inner.write_summary()

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as fh:  # cloudpickle: predictors may be lambdas
            cloudpickle.dump(self.__dict__, fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            self.__dict__.update(pickle.load(fh))
        if self.attach_key is not None:
            LIVE_SCREENS[self.attach_key] = self
