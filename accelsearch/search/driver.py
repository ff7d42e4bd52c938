"""The search driver: a Ray Tune ``Tuner`` over a space, one trial function for every strategy.

``SearchDriver(settings, space, evaluator, output_dir, observers).run()`` starts (or joins)
Ray, builds the strategy's search algorithm, runs the trials with the resources the
settings ask for, tells its observers of every trial event (the application layer's log
each trial to MLflow as a child of the search run, failed ones with their traceback, and
print progress; see :mod:`accelsearch.search.observer`), and returns a
:class:`~accelsearch.search.result.SearchResult`. A recipe's search is run through
:class:`accelsearch.recipe_search.Search`, which translates the recipe into these settings.

``SearchDriver(...).resume()`` continues a search whose driver was stopped (Ctrl-C,
SIGKILL, a lost head node) from Ray Tune's experiment snapshot in ``output_dir/ray/search``:
finished trials are not run again, unfinished ones start over, the searcher's state (Optuna
study, pymoo population, ...) and the trial records come back, and the observers go on with
the same search (MLflow: the same search run). With ``search.resumable`` (the default) a trial's final report
carries a small checkpoint, which makes Ray Tune snapshot the experiment right then
(``CheckpointConfig(num_to_keep=1)``), so a snapshot is never older than the last result.
Ray Tune reads its snapshot back with pickle: the hash of every snapshot file is recorded
as it is written, and a resume refuses files that do not match
(:mod:`accelsearch.search.checkpoints`). Starting Ray and building the scheduler, the
trainable and the ``Tuner`` are in :mod:`accelsearch.search.tune_setup`.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the progress lines below replace Tune's tables
# a snapshot per trial report is on purpose (see the module docstring): no warning about it
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
# a failed trial reports {"trial_error": ...} without the objectives, on purpose
os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")
# MLflow and search.json hold the results: Tune's CSV and TensorBoard loggers (~15 ms per
# trial) are left out, its JSON logger kept (see Search.run)
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")

from ray.tune.logger import JsonLoggerCallback  # noqa: E402

from accelsearch.core.errors import ConfigError  # noqa: E402
from accelsearch.search import budget_report, checkpoints, strategy  # noqa: E402
from accelsearch.search.observer import SearchObserver, SearchStart  # noqa: E402
from accelsearch.search.result import SearchResult, TrialRecord  # noqa: E402
from accelsearch.search.settings import SearchSettings  # noqa: E402
from accelsearch.search.trial import REPORTED_METRICS  # noqa: E402
from accelsearch.search.trial import TrialContext as TrialContext  # noqa: E402  (re-export)
from accelsearch.search.trial import run_trial as run_trial  # noqa: E402  (re-export)
from accelsearch.search.trial_log import ATTACHED, KEEP, LIVE, TrialLogger  # noqa: E402
from accelsearch.search.tune_adapter import LIVE_SCREENS, ScreenedSearch  # noqa: E402
from accelsearch.search.tune_setup import (  # noqa: E402
    check_resources,
    init_ray,
    make_scheduler,
    make_trainable,
    make_tuner,
)

EXPERIMENT = "search"  # Ray Tune's experiment folder inside <output_dir>/ray
STATE_FILE = "search_state.json"  # tracking ids and settings that resume needs
SUMMARY_FILE = "strategy_summary.json"


class SearchDriver:
    """Runs a search on Ray Tune: ``settings`` over ``space``, trials evaluated by
    ``evaluator``, events told to ``observers`` (see the module docstring)."""

    def __init__(
        self,
        settings: SearchSettings,
        space,
        evaluator,
        output_dir: str | Path,
        observers: Sequence[SearchObserver] = (),
        address: str | None = None,
        printer=print,
        trust_checkpoints: bool = False,
        screen=None,
        make_screen: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.space = space
        self.evaluator = evaluator
        #: resume without checking the snapshot's hashes (a run folder known to be safe)
        self.trust_checkpoints = trust_checkpoints
        self.output_dir = Path(output_dir).resolve()
        self.observers = tuple(observers)
        self.address = address
        self.print = printer
        self.summary: dict[str, Any] = {}
        self.budget = settings.budget
        #: how the strategy takes the budget (native, own, screen)
        self.constraint_kind = strategy.STRATEGIES.get(settings.strategy).constraints
        #: the screen made (and checked) before any trial, or what makes it when first
        #: needed (``prepare_screen``); None: the budget, if any, has no screen
        self.screen = screen
        self._make_screen = make_screen

    # -- setup ---------------------------------------------------------------------------------
    @property
    def experiment_path(self) -> Path:
        return Path(self.storage_path) / EXPERIMENT

    @property
    def storage_path(self) -> str:
        return self.settings.storage_path or str(self.output_dir / "ray")

    @property
    def objective(self) -> strategy.Objective:
        return strategy.objective_from_options(self.settings.options)

    def _status(self, text: str) -> None:
        for observer in self.observers:
            observer.on_status(text)

    def prepare_screen(self):
        """The screen for the search's budget, with every check that runs before any trial
        (a lookup table for the device, a reachable budget); ``None`` when none applies."""
        if self.screen is None and self._make_screen is not None:
            self.screen = self._make_screen()
        return self.screen

    @property
    def gate(self) -> bool:
        """Trials stop before training when measured over the budget."""
        spec = self.settings
        return self.budget is not None and spec.screen_enabled and self.constraint_kind != "own"

    def _strategy(self):
        spec = self.settings
        objective = self.objective
        options = strategy.strategy_options(spec.options)
        search_alg, param_space = strategy.make(
            spec.strategy,
            self.space,
            objective,
            spec.seed,
            options,
            budget=self.budget,
            screen=spec.screen_enabled,
        )
        screen = self.prepare_screen()
        if screen is not None:
            search_alg = ScreenedSearch(
                search_alg, screen, spec.screen_max_per_trial, str(self.output_dir)
            )
            self.print(
                f"[search] budget: {self.budget.describe()}; screen: {screen.summary()['predictor']}"
            )
        if hasattr(search_alg, "summary_path"):
            search_alg.summary_path = str(self.output_dir / SUMMARY_FILE)
        return objective, search_alg, param_space

    def _trainable(self):
        return make_trainable(self.settings, self.space, self.evaluator, self.budget, self.gate)

    def _start(self, objective, run_id: str | None = None, resumes: int = 0) -> str | None:
        """Tell the observers the search starts; the first tracking run id they return."""
        spec = self.settings
        start = SearchStart(
            self.output_dir,
            tuple(objective.metrics),
            run_id,
            resumes,
            total=spec.num_samples,
            epochs=spec.evaluator_epochs,
        )
        found = None
        for observer in self.observers:
            found = observer.on_search_start(start) or found
        return found

    @property
    def tracking_uri(self) -> str | None:
        return next((o.tracking_uri for o in self.observers if o.tracking_uri), None)

    # -- run / resume ----------------------------------------------------------------------
    def run(self, search_run: str | None = None, resumes: int = 0) -> SearchResult:
        """Start the search (``search_run``: the tracking run of an earlier start of it)."""
        _quiet_optuna()
        spec = self.settings
        objective, search_alg, param_space = self._strategy()  # bad input fails here
        scheduler = make_scheduler(spec, objective)
        init_ray(self.address, self.print, self._status)
        check_resources(spec, self.address, self.print)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        search_run = self._start(objective, search_run, resumes) or search_run
        self._write_state(search_run, resumes)
        key = str(self.output_dir)
        ATTACHED[key] = (self.observers, self.print)
        logger = TrialLogger(self.space, self.observers, spec.num_samples, self.print, key)
        trainable = self._trainable()
        callbacks = [logger, JsonLoggerCallback(), checkpoints.CheckpointHasher(self._state_path)]
        tuner = make_tuner(
            spec,
            trainable,
            param_space,
            search_alg,
            scheduler,
            objective,
            EXPERIMENT,
            self.storage_path,
            callbacks,
        )
        checkpoints.record(self._state_path, checkpoints.hash_folder(self.experiment_path))
        return self._fit(tuner, key, search_run, search_alg)

    def resume(self) -> SearchResult:
        """Continue the search saved in ``output_dir`` (see the module docstring)."""
        from ray import tune

        _quiet_optuna()
        path = self.experiment_path
        snapshot = any(path.glob("experiment_state*.json"))  # Tune's record of its trials
        if not (tune.Tuner.can_restore(str(path)) and snapshot):
            if self._state_path.exists():  # stopped before Tune's first snapshot
                return self._restart(path)
            raise ConfigError(
                f"no resumable Ray Tune experiment in {str(path)!r}; pass the run folder "
                "that `accelsearch run` wrote (it holds ray/search/), or start a new run"
            )
        if not self.trust_checkpoints:  # before Ray Tune unpickles anything
            checkpoints.verify(self._state_path, path)
        state = self._read_state()
        search_run = state.get("search_run_id")
        objective = self.objective  # the settings are still valid
        init_ray(self.address, self.print, self._status)
        check_resources(self.settings, self.address, self.print)
        # the key the snapshot's TrialLogger was pickled with: the folder the run was made in
        key = state.get("attach_key") or str(self.output_dir)
        ATTACHED[key] = (self.observers, self.print)
        resumes = int(state.get("resumes", 0)) + 1
        if self._start(objective, search_run, resumes) and search_run:
            self._write_state(search_run, resumes)
        self.print(f"[search] resuming {path}")
        tuner = tune.Tuner.restore(
            str(path),
            trainable=self._trainable(),
            resume_unfinished=True,
            resume_errored=False,
            restart_errored=False,
        )
        return self._fit(tuner, key, search_run, None)

    def _restart(self, path: Path) -> SearchResult:
        """The search again from its start, in the same folder and tracking run: it was
        stopped before Ray Tune's first snapshot, which a finished trial would have forced
        (``CheckpointConfig``), so no trial had finished. What Tune left is moved aside."""
        state = self._read_state()
        if path.exists():
            path.rename(path.with_name(f"{path.name}.incomplete-{int(time.time())}"))
        self.print(
            "[search] stopped before Ray Tune saved anything (no trial had finished): "
            "starting the search again in this folder"
        )
        return self.run(state.get("search_run_id"), int(state.get("resumes", 0)) + 1)

    def _fit(self, tuner, key: str, search_run, search_alg) -> SearchResult:
        t0 = time.perf_counter()
        LIVE.pop(key, None)
        try:
            grid = tuner.fit()
        except BaseException:
            live = LIVE.get(key)
            if live is not None:
                live.flush()
            for observer in self.observers:
                observer.on_search_stopped()
            raise
        # every snapshot file as Tune left it (a resumed search of a run made before the
        # hashes were recorded has no CheckpointHasher among its restored callbacks)
        checkpoints.record(self._state_path, checkpoints.hash_folder(self.experiment_path))
        logger = LIVE.pop(key, None)
        if logger is not None:
            logger.flush()
        records = logger.records if logger is not None else _records_from_grid(grid, self.space)
        self.summary = _read_summary(self.output_dir) or (
            search_alg.summary() if hasattr(search_alg, "summary") else {}
        )
        self.summary.pop("screen", None)
        screen = LIVE_SCREENS.pop(key, None)
        if screen is not None:
            self.summary["screen"] = screen.summary()["screen"]
        result = SearchResult(
            trials=sorted(records.values(), key=lambda r: r.trial_id),
            strategy=self.settings.strategy,
            space=self.settings.space_name,
            mlflow_run_id=search_run,
            wall_s=time.perf_counter() - t0,
            summary=self.summary,
        )
        if self.budget is not None:
            self.summary["budget"] = self._spending(result)
        for observer in self.observers:
            observer.on_search_end(result, trials_tracked=logger is not None)
        return result

    def _spending(self, result: SearchResult) -> dict[str, Any]:
        """Counts and GPU-seconds of the budgeted search (``budget_report.spending``)."""
        report = budget_report.spending(result.trials, self.settings.gpus_per_trial)
        report["describe"] = self.budget.describe()
        metric = self.objective.metrics[0]
        mode = strategy.METRIC_MODES.get(metric, "max")
        feasible = [t for t in result.completed if t.feasible and metric in t.metrics]
        if feasible:
            report["best_feasible"] = result.best(metric, mode).trial_id
        return report

    # -- the run folder's state file --------------------------------------------------------
    @property
    def _state_path(self) -> Path:
        return self.output_dir / STATE_FILE

    def _write_state(self, search_run: str | None, resumes: int = 0) -> None:
        old = self._read_state()  # keeps what others record there (checkpoint hashes)
        data = {
            **old,
            "attach_key": old.get("attach_key", str(self.output_dir)),  # where it was made
            "search_run_id": search_run,
            "tracking_uri": self.tracking_uri,
            "experiment_path": str(self.experiment_path),
            "resumes": resumes,
        }
        self.output_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path.with_name(f".{STATE_FILE}.tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self._state_path)

    def _read_state(self) -> dict[str, Any]:
        path = self.output_dir / STATE_FILE
        return json.loads(path.read_text()) if path.exists() else {}


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # a trial restarted by a resume reports its epochs again to the same Optuna trial, which
    # keeps the first value of each step and warns once per epoch: nothing to act on
    warnings.filterwarnings(
        "ignore", message="The reported value is ignored because this", category=UserWarning
    )


def _records_from_grid(grid, space) -> dict[str, TrialRecord]:
    out = {}
    for res in grid:
        metrics = dict(res.metrics or {})
        tid = metrics.get("trial_id", str(len(out)))
        cfg = dict(res.config or {})
        ok = "accuracy" in metrics and not res.error and not metrics.get("trial_error")
        out[tid] = TrialRecord(
            tid,
            cfg,
            "ok" if ok else "failed",
            metrics={k: v for k, v in metrics.items() if k in KEEP or k in REPORTED_METRICS},
            arch=space.decode(cfg) if ok else None,
            error=None if ok else str(res.error or metrics.get("trial_error", "")),
        )
    return out


def check_not_moved(output_dir: Path) -> None:
    """Refuse to resume a run folder that was made at another absolute path.

    Ray Tune's snapshot and the MLflow store name the path a run was made at: resumed
    elsewhere, Tune writes its trial folders and MLflow its artifacts under the old path,
    which a fresh node does not carry back. Raised before any work, with the fix."""
    path = Path(output_dir) / STATE_FILE
    state = json.loads(path.read_text()) if path.exists() else {}
    made_at = state.get("attach_key")
    if made_at is None and state.get("experiment_path"):  # a run made before attach_key
        made_at = str(Path(state["experiment_path"]).parent.parent)
    if made_at is None or os.path.realpath(made_at) == os.path.realpath(output_dir):
        return
    raise ConfigError(
        f"this run was made at {made_at!r} and is now at {str(output_dir)!r}; Ray Tune's "
        "snapshot and the MLflow store name the first path, so a resume here would write "
        "trial folders and artifacts there. Resume it at its first path (mkdir -p "
        f"{str(Path(made_at).parent.parent)!r} and move the workspace back) or link that "
        f"path to this one (ln -s {str(Path(output_dir).parent)!r} "
        f"{str(Path(made_at).parent)!r}), then resume again"
    )


def _read_summary(output_dir: Path) -> dict[str, Any]:
    path = output_dir / SUMMARY_FILE
    return json.loads(path.read_text()) if path.exists() else {}
