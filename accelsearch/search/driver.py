"""The search driver: a Ray Tune ``Tuner`` over a space, one trial function for every strategy.

``Search(recipe, output_dir, tracker).run()`` starts (or joins) Ray, builds the strategy's
search algorithm, runs the trials with the resources the recipe asks for, logs each trial
to MLflow as a child of the search run (failed ones with their traceback), prints progress,
and returns a :class:`~accelsearch.search.result.SearchResult`.

``Search(...).resume()`` continues a search whose driver was stopped (Ctrl-C, SIGKILL, a
lost head node) from Ray Tune's experiment snapshot in ``output_dir/ray/search``: finished
trials are not run again, unfinished ones start over, the searcher's state (Optuna study,
pymoo population, ...) and this module's trial records come back, and MLflow logging goes
on in the same search run. With ``search.resumable`` (the default) a trial's final report
carries a small checkpoint, which makes Ray Tune snapshot the experiment right then
(``CheckpointConfig(num_to_keep=1)``), so a snapshot is never older than the last result.
Ray Tune reads its snapshot back with pickle: the hash of every snapshot file is recorded
as it is written, and a resume refuses files that do not match
(:mod:`accelsearch.search.checkpoints`).
"""

from __future__ import annotations

import json
import os
import time
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

from ray.tune import Callback  # noqa: E402
from ray.tune.logger import JsonLoggerCallback  # noqa: E402

from accelsearch import pipeline  # noqa: E402 - Search(..., tracker=WORKSPACE) runs through it
from accelsearch.errors import ConfigError  # noqa: E402
from accelsearch.progress import (  # noqa: E402
    SearchProgress,
    TrialTable,
    show_progress,
    show_row,
    show_status,
)
from accelsearch.recipe import Recipe, ScalingSpec  # noqa: E402
from accelsearch.search import budget_report, checkpoints, strategy  # noqa: E402
from accelsearch.search.budget import Budget  # noqa: E402
from accelsearch.search.result import SearchResult, TrialRecord  # noqa: E402
from accelsearch.search.screen_setup import make_screen  # noqa: E402
from accelsearch.search.trial import REPORTED_METRICS, TrialContext, run_trial  # noqa: E402
from accelsearch.search.tune_adapter import LIVE_SCREENS, ScreenedSearch  # noqa: E402
from accelsearch.tracking import Tracker  # noqa: E402

EXPERIMENT = "search"  # Ray Tune's experiment folder inside <output_dir>/ray
STATE_FILE = "search_state.json"  # MLflow ids and settings that resume needs
SUMMARY_FILE = "strategy_summary.json"


def objective_for(recipe: Recipe) -> strategy.Objective:
    return strategy.objective_from_options(recipe.search.options)


# Trackers and printers do not travel in Ray Tune's pickled experiment state; the driver
# attaches them again by output folder when it restores a search. The logger Ray Tune
# actually calls registers itself in _LIVE when the experiment starts.
_ATTACHED: dict[str, tuple[Tracker | None, Any]] = {}
_LIVE: dict[str, TrialLogger] = {}


class BackgroundWriter:
    """Runs tracker calls in one background thread, in the order they were given.

    A write to MLflow's SQLite store takes ~30 ms (one commit each); done in Ray Tune's
    event loop they would add ~130 ms to every trial. Calls for one trial run in order, so
    a trial's run exists before its metrics are logged. ``flush()`` waits for all of them.
    """

    def __init__(self, printer=print) -> None:
        import queue
        import threading

        self.queue: queue.Queue = queue.Queue()
        self.print = printer
        self.errors = 0
        self.thread = threading.Thread(target=self._loop, name="accelsearch-mlflow", daemon=True)
        self.thread.start()

    def submit(self, fn) -> None:
        self.queue.put(fn)

    def flush(self) -> None:
        self.queue.join()

    def _loop(self) -> None:
        while True:
            fn = self.queue.get()
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - tracking must not stop the search
                self.errors += 1
                if self.errors <= 3:
                    self.print(f"[search] warning: MLflow logging failed: {exc}")
            finally:
                self.queue.task_done()


class TrialLogger(Callback):
    """Collects trial records, logs them to MLflow and reports progress: a status when a
    trial starts (and, to a live printer, each epoch), one table row when it ends.

    Its state (records with their MLflow run ids) is saved in every Ray Tune snapshot, so a
    resumed search logs into the same MLflow runs. MLflow calls run in a
    :class:`BackgroundWriter`; :meth:`flush` waits for them.
    """

    def __init__(
        self,
        space,
        tracker: Tracker | None,
        parent_run_id: str | None,
        total: int,
        printer=print,
        attach_key: str | None = None,
    ) -> None:
        self.space = space
        self.tracker = tracker
        self.parent = parent_run_id
        self.total = total
        self.records: dict[str, TrialRecord] = {}
        self.running: set[str] = set()
        self.t0 = time.perf_counter()
        self.print = printer
        self.attach_key = attach_key
        self.restarts = 0
        self.epochs: int | None = None  # the evaluator's epochs, for "epoch e/E" statuses
        self._table = TrialTable(total)
        self._rows = 0  # rows printed by this process (the header goes before the first)
        self._writer: BackgroundWriter | None = None
        self._params_logged: set[str] = set()  # trials whose params are in MLflow

    def _do(self, fn) -> None:
        """Run a tracker call in the background writer (nothing without a tracker)."""
        if self.tracker is None:
            return
        if self._writer is None:
            self._writer = BackgroundWriter(self.print)
        self._writer.submit(fn)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def _params_once(self, rec: TrialRecord) -> dict[str, Any]:
        """The trial's parameters the first time they are asked for, then nothing."""
        if rec.trial_id in self._params_logged:
            return {}
        self._params_logged.add(rec.trial_id)
        return dict(rec.params)

    # -- pickling and Ray Tune's callback state ---------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["tracker"] = None
        state["print"] = None
        state["_writer"] = None
        state["_params_logged"] = set()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        tracker, printer = _ATTACHED.get(self.attach_key or "", (None, print))
        self.tracker = tracker
        self.print = printer or print
        self.t0 = time.perf_counter()  # a clock of another process means nothing here
        self._rows = 0

    def get_state(self) -> dict[str, Any]:
        return {
            "records": {k: r.to_dict() for k, r in self.records.items()},
            "parent": self.parent,
            "restarts": self.restarts,
        }

    def setup(self, **info) -> None:
        _LIVE[self.attach_key or ""] = self

    def set_state(self, state: dict[str, Any]) -> None:
        _LIVE[self.attach_key or ""] = self
        self.records = {k: TrialRecord.from_dict(d) for k, d in state["records"].items()}
        self.parent = state.get("parent", self.parent)
        self.restarts = int(state.get("restarts", 0))
        self.running = set()

    # -- helpers ---------------------------------------------------------------------------
    def _record(self, trial) -> TrialRecord:
        rec = self.records.get(trial.trial_id)
        if rec is None:
            arch, err = None, None
            try:
                arch = self.space.decode(dict(trial.config))
            except Exception as exc:  # noqa: BLE001 - an undecodable config is the trial's failure
                err = f"decode failed: {exc}"
            rec = TrialRecord(trial.trial_id, dict(trial.config), "running", arch=arch, error=err)
            self.records[trial.trial_id] = rec
        return rec

    def _progress(self) -> None:
        done = [r for r in self.records.values() if r.status in ("ok", "infeasible")]
        failed = [r for r in self.records.values() if r.status == "failed"]
        best = max(
            (r.metrics.get("reward", float("-inf")) for r in done if r.ok and r.feasible),
            default=None,
        )
        show_progress(
            self.print,
            SearchProgress(len(done), len(failed), len(self.running), self.total, best, self.t0),
        )

    def _number(self, rec: TrialRecord) -> int:
        """The trial's number, in the order trials started (kept across a resume)."""
        return list(self.records).index(rec.trial_id) + 1

    def _row(self, rec: TrialRecord) -> None:
        if not self._rows:
            show_row(self.print, self._table.header())
        self._rows += 1
        show_row(self.print, self._table.row(self._number(rec), rec))

    def _fail(self, rec: TrialRecord, text: str) -> None:
        rec.status = "failed"
        rec.error = text
        tracker = self.tracker

        params = self._params_once(rec)

        def write() -> None:
            if rec.mlflow_run_id:
                tracker.log_text(rec.mlflow_run_id, text, "error.txt")
                tracker.log_batch(
                    rec.mlflow_run_id, params=params, tags={"accelsearch.error": _last_line(text)}
                )
                tracker.end_run(rec.mlflow_run_id, "FAILED")

        self._do(write)
        self._row(rec)

    # -- Ray Tune hooks --------------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._take_screened()  # rejected while the strategy looked for this trial's config
        rec = self._record(trial)
        self.running.add(trial.trial_id)
        k = self._number(rec)
        first = " (its Ray worker starts first: it imports PyTorch and loads the data)"
        show_status(
            self.print,
            f"[search] trial {k}/{self.total} started: {rec.trial_id}" + (first if k == 1 else ""),
        )
        self._progress()
        tracker, parent = self.tracker, self.parent

        def write() -> None:
            if rec.mlflow_run_id is None:
                rec.mlflow_run_id = tracker.start_run(  # params come with the first metrics
                    "trial",
                    f"trial-{rec.trial_id}",
                    parent_id=parent,
                    tags={
                        "accelsearch.trial_id": rec.trial_id,
                        "accelsearch.arch": str(rec.arch) if rec.arch else "",
                    },
                )
                if rec.arch is not None:
                    tracker.log_text(rec.mlflow_run_id, rec.arch.to_json(), "arch.json")
            else:  # restarted after a resume or a worker failure: same MLflow run
                tracker.set_tags(rec.mlflow_run_id, {"accelsearch.restarted": "true"})

        self._do(write)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        rec = self._record(trial)
        if result.get("replayed") or result.get("repeat"):
            return  # a stored result reported again, or the last epoch's report repeated
        step = int(result.get("epoch", result.get("training_iteration", 0)))
        metrics = {k: result[k] for k in REPORTED_METRICS if k in result}
        if "accuracy" in metrics and not result.get("final"):
            of = f"/{self.epochs}" if self.epochs else ""
            show_status(
                self.print,
                f"trial {self._number(rec)}/{self.total} at epoch {step}{of}: "
                f"accuracy {metrics['accuracy']:.1f} %, latency {metrics.get('latency_ms', 0):.3f} ms",
                plain=False,
            )
        params = self._params_once(rec)
        tags = {f"accelsearch.{k}": result[k] for k in _TAG_KEYS if k in result} if params else {}
        tracker = self.tracker

        def write() -> None:  # one commit: metrics (+ params and latency tags the first time)
            if rec.mlflow_run_id and (metrics or params):
                tracker.log_batch(rec.mlflow_run_id, metrics, params, tags, step)

        self._do(write)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        rec = self._record(trial)
        self.running.discard(trial.trial_id)
        result = dict(trial.last_result or {})
        if result.get("trial_error"):
            rec.metrics = {}
            self._fail(rec, str(result["trial_error"]))
            self._progress()
            return
        rec.metrics = {k: v for k, v in result.items() if k in _KEEP or k in REPORTED_METRICS}
        over = "accuracy" not in result and result.get("feasible") == 0
        rec.status = "ok" if "accuracy" in result else ("infeasible" if over else "failed")
        if rec.status == "failed" and not rec.error:
            rec.error = "trial ended without reporting accuracy"
        params = self._params_once(rec)
        tags = {f"accelsearch.{k}": result[k] for k in _TAG_KEYS if k in result} if params else {}
        tags.update(budget_report.trial_tags(result))
        if rec.error:
            tags["accelsearch.error"] = rec.error
        status = "FINISHED" if rec.ok or over else "FAILED"
        times = {k: result[k] for k in ("measure_s", "train_s") if k in result}
        tracker = self.tracker

        def write() -> None:
            if rec.mlflow_run_id:
                if params or tags or times:
                    tracker.log_batch(rec.mlflow_run_id, times, params=params, tags=tags)
                tracker.end_run(rec.mlflow_run_id, status)

        self._do(write)
        self._row(rec)
        self._take_screened()
        self._progress()

    def _take_screened(self) -> None:
        """Record the candidates the screen rejected since the last call (and log them)."""
        screen = LIVE_SCREENS.get(self.attach_key or "")
        if screen is None:
            return
        tracker, parent = self.tracker, self.parent
        first = sum(1 for r in self.records.values() if r.status == "screened")
        for n, entry in enumerate(screen.drain_screened(), start=first):
            rec = budget_report.screened_record(self.space, n, entry)
            self.records[rec.trial_id] = rec

            def write(rec=rec) -> None:
                rec.mlflow_run_id = budget_report.log_screened(tracker, parent, rec)

            self._do(write)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        rec = self._record(trial)
        self.running.discard(trial.trial_id)
        rec.metrics = {k: v for k, v in (trial.last_result or {}).items() if k in REPORTED_METRICS}
        self._fail(rec, _error_text(trial))
        self._progress()

    def on_experiment_end(self, trials, **info) -> None:
        self._take_screened()
        self.flush()


_KEEP = {
    *budget_report.BUDGET_KEYS,
    "epoch",
    "latency_cv",
    "latency_noisy",
    "eval_s",
    "arch",
    "latency_backend",
    "latency_device",
    "latency_precision",
    "latency_batch_size",
}
_TAG_KEYS = ("latency_backend", "latency_device", "latency_precision", "latency_batch_size")


def _error_text(trial) -> str:
    try:
        text = trial.get_error()
    except Exception:  # noqa: BLE001 - storage may be gone; fall back below
        text = None
    if not text and getattr(trial, "error_file", None) and os.path.exists(trial.error_file):
        text = Path(trial.error_file).read_text()
    return text or "trial failed (Ray recorded no error text)"


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else text[:500]


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
    around it is then the caller's).
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
        self.recipe = recipe
        #: resume without checking the snapshot's hashes (a run folder known to be safe)
        self.trust_checkpoints = trust_checkpoints
        self.space = space if space is not None else recipe.space.make()
        self.output_dir = Path(output_dir).resolve()
        self.workspace = self.output_dir if isinstance(tracker, str) else None
        if isinstance(tracker, str) and tracker != WORKSPACE:
            raise ConfigError(f"Search tracker {tracker!r}: give a Tracker, None or {WORKSPACE!r}")
        self.tracker = None if isinstance(tracker, str) else tracker
        self.address = address
        self.print = printer
        self.summary: dict[str, Any] = {}
        self.budget = Budget.of_search(recipe.search)
        #: how the strategy takes the budget (native, own, screen)
        self.constraint_kind = strategy.STRATEGIES.get(recipe.search.strategy).constraints
        #: the screen made (and checked) before any trial; ``prepare_screen`` makes it
        self.screen = screen

    # -- setup ---------------------------------------------------------------------------------
    @property
    def experiment_path(self) -> Path:
        return Path(self.storage_path) / EXPERIMENT

    @property
    def storage_path(self) -> str:
        return self.recipe.search.storage_path or str(self.output_dir / "ray")

    def _init_ray(self) -> None:
        import ray

        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {
            "ignore_reinit_error": True,
            "logging_level": "ERROR",
            "log_to_driver": bool(int(os.environ.get("ACCELSEARCH_RAY_LOGS", "0"))),
        }
        where = f"joining the Ray cluster at {self.address}" if self.address else "starting Ray"
        show_status(self.print, f"[search] {where} ...")
        t0 = time.perf_counter()
        if self.address:
            kwargs["address"] = self.address
        else:
            kwargs["include_dashboard"] = False
            kwargs["num_cpus"] = os.cpu_count()
            # a search moves small results only; keep the local object store small so that
            # several local searches (tests, notebooks) fit on one machine
            kwargs["object_store_memory"] = (
                int(os.environ.get("ACCELSEARCH_OBJECT_STORE_MB", "256")) * 1024 * 1024
            )
        ctx = ray.init(**kwargs)
        res = ray.cluster_resources()
        what = (
            f"joined Ray cluster at {ctx.address_info.get('gcs_address', self.address)}"
            if self.address
            else f"Ray ready in {time.perf_counter() - t0:.0f} s"
        )
        self.print(f"[search] {what} ({res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs)")

    def _check_resources(self) -> None:
        """A trial asking for more GPUs or CPUs than any node has would wait forever."""
        import ray

        spec = self.recipe.search
        total = ray.cluster_resources()
        for key, need in (("GPU", spec.gpus_per_trial), ("CPU", spec.cpus_per_trial)):
            have = float(total.get(key, 0.0))
            if need > have:
                msg = (
                    f"search.{key.lower()}s_per_trial is {need:g} but the Ray cluster has "
                    f"{have:g} {key}(s); lower it, or run on a machine/cluster with more"
                )
                if self.address:  # an autoscaling cluster may add nodes: say so, go on
                    self.print(f"[search] warning: {msg}")
                else:
                    raise ConfigError(msg)

    def prepare_screen(self):
        """The screen for the recipe's budget, with every check that runs before any trial
        (a lookup table for the device, a reachable budget); ``None`` when none applies."""
        if self.screen is None:
            self.screen = make_screen(self.recipe, self.space, self.constraint_kind, self.print)
        return self.screen

    @property
    def gate(self) -> bool:
        """Trials stop before training when measured over the budget."""
        spec = self.recipe.search
        return self.budget is not None and spec.screen.enabled and self.constraint_kind != "own"

    def _strategy(self):
        rec = self.recipe
        objective = objective_for(rec)
        options = strategy.strategy_options(rec.search.options)
        search_alg, param_space = strategy.make(
            rec.search.strategy,
            self.space,
            objective,
            rec.search.seed,
            options,
            budget=self.budget,
            screen=rec.search.screen.enabled,
        )
        screen = self.prepare_screen()
        if screen is not None:
            search_alg = ScreenedSearch(
                search_alg, screen, rec.search.screen.max_per_trial, str(self.output_dir)
            )
            self.print(
                f"[search] budget: {self.budget.describe()}; screen: {screen.summary()['predictor']}"
            )
        if hasattr(search_alg, "summary_path"):
            search_alg.summary_path = str(self.output_dir / SUMMARY_FILE)
        return objective, search_alg, param_space

    def _scheduler(self, objective: strategy.Objective):
        """Ray Tune scheduler from ``search.scheduler`` (``asha`` or none)."""
        spec = self.recipe.search.scheduler
        if spec is None or spec.name == "fifo":
            return None
        from ray.tune.schedulers import ASHAScheduler

        metric = spec.metric or ("accuracy" if objective.multi else objective.metrics[0])
        mode = strategy.METRIC_MODES.get(metric, "max")
        max_t = spec.max_t or _evaluator_epochs(self.recipe) or 100
        if spec.grace_period > max_t:
            raise ConfigError(
                f"search.scheduler.grace_period ({spec.grace_period}) is above max_t ({max_t} "
                "epochs); lower grace_period or raise max_t"
            )
        return ASHAScheduler(
            time_attr="epoch",
            metric=metric,
            mode=mode,
            max_t=max_t,
            grace_period=spec.grace_period,
            reduction_factor=spec.reduction_factor,
            stop_last_trials=False,
        )

    def _trainable(self):
        from ray import tune

        rec = self.recipe
        ctx = TrialContext.for_recipe(rec, self.space)
        scheduled = rec.search.scheduler is not None and rec.search.scheduler.name != "fifo"
        ctx.checkpoint_result = rec.search.resumable
        ctx.checkpoint_epochs = rec.search.resumable and scheduled
        ctx.budget, ctx.gate = self.budget, self.gate
        resources = {"cpu": rec.search.cpus_per_trial, "gpu": rec.search.gpus_per_trial}
        return tune.with_resources(tune.with_parameters(run_trial, ctx=ctx), resources)

    def _start_search_run(self, objective) -> str | None:
        rec = self.recipe
        if self.tracker is None:
            return None
        run = self.tracker.start_run(
            "search",
            f"{rec.name}-search",
            tags={
                "accelsearch.space": rec.space.name,
                "accelsearch.strategy": rec.search.strategy,
                "accelsearch.objectives": ",".join(objective.metrics),
                "accelsearch.output_dir": str(self.output_dir),
            },
            params={
                "space": rec.space.name,
                "strategy": rec.search.strategy,
                "num_samples": rec.search.num_samples,
                "reward_target_ms": rec.reward.target_ms,
                "reward_w": rec.reward.w,
                "latency_backend": rec.latency.backend,
                "latency_batch_size": rec.latency.batch_size,
                "accuracy_evaluator": rec.accuracy.evaluator,
                **(
                    {f"budget_{k}": v for k, v in self.budget.to_dict().items()}
                    if self.budget is not None
                    else {}
                ),
            },
        )
        self.tracker.log_text(run, rec.model_dump_json(indent=2), "recipe.json")
        return run

    # -- run / resume ----------------------------------------------------------------------
    def run(self) -> SearchResult:
        if self.workspace is not None:
            return self._in_workspace(
                pipeline.run_recipe,
                self.recipe.model_copy(update={"scaling": ScalingSpec(enabled=False)}),
            )
        from ray import tune

        _quiet_optuna()
        rec = self.recipe
        objective, search_alg, param_space = self._strategy()  # bad input fails here
        scheduler = self._scheduler(objective)
        self._init_ray()
        self._check_resources()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        search_run = self._start_search_run(objective)
        self._write_state(search_run)
        key = str(self.output_dir)
        _ATTACHED[key] = (self.tracker, self.print)
        logger = TrialLogger(
            self.space, self.tracker, search_run, rec.search.num_samples, self.print, key
        )
        logger.epochs = _evaluator_epochs(rec)
        metric, mode = (
            (None, None) if objective.multi else (objective.metrics[0], objective.modes[0])
        )
        tuner = tune.Tuner(
            self._trainable(),
            param_space=param_space,
            tune_config=tune.TuneConfig(
                search_alg=search_alg,
                scheduler=scheduler,
                metric=None if scheduler is not None else metric,
                mode=None if scheduler is not None else mode,
                num_samples=rec.search.num_samples,
                max_concurrent_trials=rec.search.max_concurrent,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=EXPERIMENT,
                storage_path=self.storage_path,
                failure_config=tune.FailureConfig(max_failures=rec.search.max_failures),
                # a trial's result checkpoint makes Tune snapshot the experiment at once
                checkpoint_config=tune.CheckpointConfig(
                    num_to_keep=1 if rec.search.resumable else None
                ),
                callbacks=[
                    logger,
                    JsonLoggerCallback(),
                    checkpoints.CheckpointHasher(self._state_path),
                ],
                verbose=0,
            ),
        )
        checkpoints.record(self._state_path, checkpoints.hash_folder(self.experiment_path))
        return self._fit(tuner, key, search_run, search_alg)

    def resume(self) -> SearchResult:
        """Continue the search saved in ``output_dir`` (see the module docstring); in a
        workspace, its ``latest`` run."""
        if self.workspace is not None:
            return self._in_workspace(pipeline.resume_run, trust_checkpoints=self.trust_checkpoints)
        from ray import tune

        _quiet_optuna()
        path = self.experiment_path
        if not tune.Tuner.can_restore(str(path)):
            raise ConfigError(
                f"no resumable Ray Tune experiment in {str(path)!r}; pass the run folder "
                "that `accelsearch run` wrote (it holds ray/search/), or start a new run"
            )
        if not self.trust_checkpoints:  # before Ray Tune unpickles anything
            checkpoints.verify(self._state_path, path)
        state = self._read_state()
        search_run = state.get("search_run_id")
        objective_for(self.recipe)  # the recipe is still valid
        self._init_ray()
        self._check_resources()
        key = str(self.output_dir)
        _ATTACHED[key] = (self.tracker, self.print)
        if self.tracker is not None and search_run:
            resumes = int(state.get("resumes", 0)) + 1
            state["resumes"] = resumes
            self._write_state(search_run, resumes)
            self.tracker.set_tags(
                search_run,
                {"accelsearch.resumed": str(resumes), "accelsearch.resumed_at": _now()},
            )
        self.print(f"[search] resuming {path}")
        tuner = tune.Tuner.restore(
            str(path),
            trainable=self._trainable(),
            resume_unfinished=True,
            resume_errored=False,
            restart_errored=False,
        )
        return self._fit(tuner, key, search_run, None)

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

    def _fit(self, tuner, key: str, search_run, search_alg) -> SearchResult:
        rec = self.recipe
        t0 = time.perf_counter()
        _LIVE.pop(key, None)
        try:
            grid = tuner.fit()
        except BaseException:
            live = _LIVE.get(key)
            if live is not None:
                live.flush()
            if self.tracker is not None and search_run:
                self.tracker.end_run(search_run, "KILLED")
            raise
        # every snapshot file as Tune left it (a resumed search of a run made before the
        # hashes were recorded has no CheckpointHasher among its restored callbacks)
        checkpoints.record(self._state_path, checkpoints.hash_folder(self.experiment_path))
        logger = _LIVE.pop(key, None)
        if logger is not None:
            logger.flush()
        records = logger.records if logger is not None else _records_from_grid(grid, self.space)
        if logger is not None and self.tracker is not None and search_run:
            _close_orphans(self.tracker, search_run, logger.records)
        self.summary = _read_summary(self.output_dir) or (
            search_alg.summary() if hasattr(search_alg, "summary") else {}
        )
        self.summary.pop("screen", None)
        screen = LIVE_SCREENS.pop(key, None)
        if screen is not None:
            self.summary["screen"] = screen.summary()["screen"]
        result = SearchResult(
            trials=sorted(records.values(), key=lambda r: r.trial_id),
            strategy=rec.search.strategy,
            space=rec.space.name,
            mlflow_run_id=search_run,
            wall_s=time.perf_counter() - t0,
            summary=self.summary,
        )
        if self.budget is not None:
            self.summary["budget"] = self._spending(result)
        best = [t for t in result.completed if t.feasible and "reward" in t.metrics]
        if self.tracker is not None and search_run:
            spent = self.summary.get("budget")
            self.tracker.log_metrics(
                search_run,
                {
                    "trials_completed": len(result.completed),
                    "trials_failed": len(result.failed),
                    "wall_s": result.wall_s,
                    **({"best_reward": result.best().metrics["reward"]} if best else {}),
                    **(budget_report.spending_metrics(spent) if spent else {}),
                },
            )
            if self.summary:
                self.tracker.log_json(search_run, self.summary, SUMMARY_FILE)
            self.tracker.end_run(search_run, "FINISHED")
        return result

    def _spending(self, result: SearchResult) -> dict[str, Any]:
        """Counts and GPU-seconds of the budgeted search (``budget_report.spending``)."""
        report = budget_report.spending(result.trials, self.recipe.search.gpus_per_trial)
        report["describe"] = self.budget.describe()
        metric = objective_for(self.recipe).metrics[0]
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
        data = {
            **self._read_state(),  # keeps what others record there (checkpoint hashes)
            "search_run_id": search_run,
            "tracking_uri": self.tracker.uri if self.tracker is not None else None,
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


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _evaluator_epochs(recipe: Recipe) -> int | None:
    epochs = recipe.accuracy.options.get("epochs")
    return int(epochs) if isinstance(epochs, int) and epochs > 0 else None


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
            metrics={k: v for k, v in metrics.items() if k in _KEEP or k in REPORTED_METRICS},
            arch=space.decode(cfg) if ok else None,
            error=None if ok else str(res.error or metrics.get("trial_error", "")),
        )
    return out


def _close_orphans(tracker: Tracker, search_run: str, records: dict[str, TrialRecord]) -> None:
    """Trial runs left RUNNING by a stopped driver that the resumed search did not continue."""
    # ids as the active store knows them (a tracker gone offline keeps stand-ins locally)
    known = {tracker.resolve(r.mlflow_run_id) for r in records.values() if r.mlflow_run_id}
    for run_id in tracker.running_children(search_run):
        if run_id in known:
            continue
        tracker.set_tags(
            run_id,
            {
                "accelsearch.error": "the driver stopped before this trial was recorded; the "
                "resumed search ran a new trial in its place"
            },
        )
        tracker.end_run(run_id, "KILLED")


def _read_summary(output_dir: Path) -> dict[str, Any]:
    path = output_dir / SUMMARY_FILE
    return json.loads(path.read_text()) if path.exists() else {}
