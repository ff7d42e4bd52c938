"""The search driver: a Ray Tune ``Tuner`` over a space, one trial function for every strategy.

``Search(recipe, output_dir, tracker).run()`` starts (or joins) Ray, builds the strategy's
search algorithm, runs the trials with the resources the recipe asks for, logs each trial
to MLflow as a child of the search run (failed ones with their traceback), prints progress,
and returns a :class:`~accelsearch.search.result.SearchResult`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the progress lines below replace Tune's tables

from ray.tune import Callback  # noqa: E402

from accelsearch.recipe import Recipe
from accelsearch.search import strategy
from accelsearch.search.result import SearchResult, TrialRecord
from accelsearch.search.trial import REPORTED_METRICS, TrialContext, run_trial, ship_by_value
from accelsearch.tracking import Tracker

_MODES = {
    "accuracy": "max",
    "reward": "max",
    "latency_ms": "min",
    "params_m": "min",
    "gflops": "min",
}


def objective_for(recipe: Recipe) -> strategy.Objective:
    metrics = tuple(recipe.search.options.get("objectives", ["reward"]))
    return strategy.Objective(metrics, tuple(_MODES.get(m, "max") for m in metrics))


class TrialLogger(Callback):
    """Collects trial records, logs them to MLflow and prints one progress line per event."""

    def __init__(
        self, space, tracker: Tracker | None, parent_run_id: str | None, total: int, printer=print
    ) -> None:
        self.space = space
        self.tracker = tracker
        self.parent = parent_run_id
        self.total = total
        self.records: dict[str, TrialRecord] = {}
        self.running: set[str] = set()
        self.t0 = time.perf_counter()
        self.print = printer

    # -- helpers -------------------------------------------------------------------------
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
        from accelsearch import report

        done = [r for r in self.records.values() if r.status == "ok"]
        failed = [r for r in self.records.values() if r.status == "failed"]
        best = max((r.metrics.get("reward", float("-inf")) for r in done), default=None)
        report.show_progress(
            self.print,
            report.SearchProgress(
                len(done), len(failed), len(self.running), self.total, best, self.t0
            ),
        )

    # -- Ray Tune hooks ------------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        rec = self._record(trial)
        self.running.add(trial.trial_id)
        self._progress()
        if self.tracker is not None and rec.mlflow_run_id is None:
            rec.mlflow_run_id = self.tracker.start_run(
                "trial",
                f"trial-{trial.trial_id}",
                parent_id=self.parent,
                tags={
                    "accelsearch.trial_id": trial.trial_id,
                    "accelsearch.arch": str(rec.arch) if rec.arch else "",
                },
                params=rec.params,
            )
            if rec.arch is not None:
                self.tracker.log_text(rec.mlflow_run_id, rec.arch.to_json(), "arch.json")

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        rec = self._record(trial)
        if self.tracker is not None and rec.mlflow_run_id:
            step = int(result.get("epoch", result.get("training_iteration", 0)))
            self.tracker.log_metrics(
                rec.mlflow_run_id, {k: result[k] for k in REPORTED_METRICS if k in result}, step
            )

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        rec = self._record(trial)
        self.running.discard(trial.trial_id)
        result = dict(trial.last_result or {})
        rec.metrics = {k: v for k, v in result.items() if k in _KEEP or k in REPORTED_METRICS}
        rec.status = "ok" if "accuracy" in result else "failed"
        if rec.status == "failed" and not rec.error:
            rec.error = "trial ended without reporting accuracy"
        if self.tracker is not None and rec.mlflow_run_id:
            self.tracker.set_tags(
                rec.mlflow_run_id,
                {f"accelsearch.{k}": result[k] for k in _TAG_KEYS if k in result},
            )
            if rec.error:
                self.tracker.set_tags(rec.mlflow_run_id, {"accelsearch.error": rec.error})
            self.tracker.end_run(rec.mlflow_run_id, "FINISHED" if rec.ok else "FAILED")
        self._progress()

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        rec = self._record(trial)
        self.running.discard(trial.trial_id)
        rec.status = "failed"
        text = _error_text(trial)
        rec.error = text
        rec.metrics = {k: v for k, v in (trial.last_result or {}).items() if k in REPORTED_METRICS}
        if self.tracker is not None and rec.mlflow_run_id:
            self.tracker.log_text(rec.mlflow_run_id, text, "error.txt")
            self.tracker.set_tags(rec.mlflow_run_id, {"accelsearch.error": _last_line(text)})
            self.tracker.end_run(rec.mlflow_run_id, "FAILED")
        self.print(f"[search] trial {trial.trial_id} failed: {_last_line(text)}")
        self._progress()


_KEEP = {
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


class Search:
    """Runs a recipe's search section on Ray Tune."""

    def __init__(
        self,
        recipe: Recipe,
        output_dir: str | Path,
        tracker: Tracker | None = None,
        address: str | None = None,
        printer=print,
        space=None,
    ) -> None:
        self.recipe = recipe
        self.space = space if space is not None else recipe.space.make()
        self.output_dir = Path(output_dir).resolve()
        self.tracker = tracker
        self.address = address
        self.print = printer

    def _init_ray(self) -> None:
        import ray

        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "ignore_reinit_error": True,
            "logging_level": "ERROR",
            "log_to_driver": bool(int(os.environ.get("ACCELSEARCH_RAY_LOGS", "0"))),
        }
        if self.address:
            kwargs["address"] = self.address
        else:
            kwargs["num_cpus"] = os.cpu_count()
            # a search moves small results only; keep the local object store small so that
            # several local searches (tests, notebooks) fit on one machine
            kwargs["object_store_memory"] = (
                int(os.environ.get("ACCELSEARCH_OBJECT_STORE_MB", "256")) * 1024 * 1024
            )
        ray.init(**kwargs)

    def run(self) -> SearchResult:
        import optuna
        from ray import tune

        optuna.logging.set_verbosity(optuna.logging.WARNING)

        rec = self.recipe
        space = self.space
        objective = objective_for(rec)
        options = {k: v for k, v in rec.search.options.items() if k != "objectives"}
        search_alg, param_space = strategy.make(
            rec.search.strategy, space, objective, rec.search.seed, options
        )
        self._init_ray()
        search_run = None
        if self.tracker is not None:
            search_run = self.tracker.start_run(
                "search",
                f"{rec.name}-search",
                tags={
                    "accelsearch.space": rec.space.name,
                    "accelsearch.strategy": rec.search.strategy,
                    "accelsearch.objectives": ",".join(objective.metrics),
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
                },
            )
            self.tracker.log_text(search_run, rec.model_dump_json(indent=2), "recipe.json")
        logger = TrialLogger(space, self.tracker, search_run, rec.search.num_samples, self.print)
        ship_by_value(space)
        ctx = TrialContext(recipe=rec, space=space)
        resources = {"cpu": rec.search.cpus_per_trial, "gpu": rec.search.gpus_per_trial}
        trainable = tune.with_resources(tune.with_parameters(run_trial, ctx=ctx), resources)
        if objective.multi:
            metric, mode = None, None
        else:
            metric, mode = objective.metrics[0], objective.modes[0]
        tuner = tune.Tuner(
            trainable,
            param_space=param_space,
            tune_config=tune.TuneConfig(
                search_alg=search_alg,
                metric=metric,
                mode=mode,
                num_samples=rec.search.num_samples,
                max_concurrent_trials=rec.search.max_concurrent,
            ),
            run_config=tune.RunConfig(
                name="search",
                storage_path=str(self.output_dir / "ray"),
                failure_config=tune.FailureConfig(max_failures=rec.search.max_failures),
                callbacks=[logger],
                verbose=0,
            ),
        )
        t0 = time.perf_counter()
        try:
            tuner.fit()
        except BaseException:
            if self.tracker is not None and search_run:
                self.tracker.end_run(search_run, "KILLED")
            raise
        result = SearchResult(
            trials=sorted(logger.records.values(), key=lambda r: r.trial_id),
            strategy=rec.search.strategy,
            space=rec.space.name,
            mlflow_run_id=search_run,
            wall_s=time.perf_counter() - t0,
        )
        if self.tracker is not None and search_run:
            self.tracker.log_metrics(
                search_run,
                {
                    "trials_completed": len(result.completed),
                    "trials_failed": len(result.failed),
                    "wall_s": result.wall_s,
                    **(
                        {"best_reward": result.best().metrics["reward"]} if result.completed else {}
                    ),
                },
            )
            self.tracker.end_run(search_run, "FINISHED")
        return result
