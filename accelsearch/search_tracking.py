"""The observers of a recipe's search: MLflow runs and the progress display.

:class:`MlflowSearchObserver` keeps the search as an MLflow run (its recipe, settings,
objectives and final counts) and each trial as a child run (parameters with the first
metrics, one metrics step per epoch, the latency's backend/device/precision/batch as tags,
``error.txt`` for a failed one); after a resume it closes the trial runs a stopped driver
left running. :class:`ProgressObserver` prints one progress line per trial event (or feeds
a live status line, :mod:`accelsearch.progress`).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from accelsearch import mlflow_schema as schema
from accelsearch.progress import (
    SearchProgress,
    TrialTable,
    show_progress,
    show_row,
    show_status,
)
from accelsearch.recipe import Recipe
from accelsearch.search.budget import Budget
from accelsearch.search.observer import SearchObserver, SearchStart
from accelsearch.search.result import SearchResult, TrialRecord
from accelsearch.search.trial import REPORTED_METRICS, last_line
from accelsearch.tracking import Tracker

SUMMARY_FILE = "strategy_summary.json"


class BackgroundWriter:
    """Runs tracker calls in one background thread, in the order they were given.

    A write to MLflow's SQLite store takes ~30 ms (one commit each); done in Ray Tune's
    event loop they would add ~130 ms to every trial. Calls for one trial run in order, so
    a trial's run exists before its metrics are logged. ``flush()`` waits for all of them.
    """

    def __init__(self, printer=print) -> None:
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


class ProgressObserver(SearchObserver):
    """Progress through ``printer`` (:mod:`accelsearch.progress`): a status when a trial
    starts (and, to a live printer, each epoch), one table row when it ends, the counts."""

    def __init__(self, printer=print) -> None:
        self.print = printer
        self.total = 0
        self.epochs: int | None = None  # the evaluator's epochs, for "epoch e/E" statuses
        self._table = TrialTable(0)
        self._rows = 0  # rows printed by this process (the header goes before the first)

    def on_status(self, text: str) -> None:
        show_status(self.print, text)

    def on_search_start(self, start: SearchStart) -> str | None:
        self.total, self.epochs = start.total, start.epochs
        self._table = TrialTable(start.total)
        return None

    def _row(self, record: TrialRecord, number: int) -> None:
        if not self._rows:
            show_row(self.print, self._table.header())
        self._rows += 1
        show_row(self.print, self._table.row(number, record))

    def on_trial_start(self, record: TrialRecord, number: int, restarted: bool) -> None:
        first = " (its Ray worker starts first: it imports PyTorch and loads the data)"
        show_status(
            self.print,
            f"[search] trial {number}/{self.total} started: {record.trial_id}"
            + (first if number == 1 else ""),
        )

    def on_trial_result(self, record: TrialRecord, number: int, result: Mapping[str, Any]) -> None:
        if "accuracy" in result and not result.get("final"):
            step = int(result.get("epoch", result.get("training_iteration", 0)))
            of = f"/{self.epochs}" if self.epochs else ""
            show_status(
                self.print,
                f"trial {number}/{self.total} at epoch {step}{of}: "
                f"accuracy {result['accuracy']:.1f} %, latency {result.get('latency_ms', 0):.3f} ms",
                plain=False,
            )

    def on_trial_complete(
        self, record: TrialRecord, number: int, result: Mapping[str, Any]
    ) -> None:
        self._row(record, number)

    def on_trial_error(self, record: TrialRecord, number: int, error: str) -> None:
        self._row(record, number)

    def on_progress(
        self, records: Mapping[str, TrialRecord], running: int, total: int, t0: float
    ) -> None:
        done = [r for r in records.values() if r.status in ("ok", "infeasible")]
        failed = [r for r in records.values() if r.status == "failed"]
        best = max(
            (r.metrics.get("reward", float("-inf")) for r in done if r.ok and r.feasible),
            default=None,
        )
        show_progress(self.print, SearchProgress(len(done), len(failed), running, total, best, t0))


class MlflowSearchObserver(SearchObserver):
    """The search and its trials as MLflow runs (see the module docstring)."""

    def __init__(self, tracker: Tracker, recipe: Recipe, printer=print) -> None:
        self.tracker = tracker
        self.recipe = recipe
        self.print = printer
        self.run_id: str | None = None
        self.budget = Budget.of_search(recipe.search) or Budget()  # none: no params
        self._writer: BackgroundWriter | None = None
        self._params_logged: set[str] = set()  # trials whose params are in MLflow

    @property
    def tracking_uri(self) -> str | None:  # read when written: a failover tracker's may change
        return self.tracker.uri

    # -- the search run ------------------------------------------------------------------
    def on_search_start(self, start: SearchStart) -> str | None:
        if start.resumed:
            self.run_id = start.run_id
            if start.run_id:
                self.tracker.set_tags(start.run_id, schema.resumed_tags(start.resumes, _now()))
            return start.run_id
        rec = self.recipe
        self.run_id = self.tracker.start_run(
            "search",
            f"{rec.name}-search",
            tags=schema.search_tags(
                rec.space.name, rec.search.strategy, start.objectives, start.output_dir
            ),
            params={
                "space": rec.space.name,
                "strategy": rec.search.strategy,
                "num_samples": rec.search.num_samples,
                "reward_target_ms": rec.reward.target_ms,
                "reward_w": rec.reward.w,
                "latency_backend": rec.latency.backend,
                "latency_batch_size": rec.latency.batch_size,
                "accuracy_evaluator": rec.accuracy.evaluator,
                **{f"budget_{k}": v for k, v in self.budget.to_dict().items()},
            },
        )
        self.tracker.log_text(self.run_id, rec.model_dump_json(indent=2), "recipe.json")
        return self.run_id

    def on_search_end(self, result: SearchResult, trials_tracked: bool = True) -> None:
        run = self.run_id
        if not run:
            return
        if trials_tracked:
            close_orphans(self.tracker, run, result.trials)
        self.tracker.log_metrics(run, schema.search_metrics(result, result.summary.get("budget")))
        if result.summary:
            self.tracker.log_json(run, result.summary, SUMMARY_FILE)
        self.tracker.end_run(run, "FINISHED")

    def on_search_stopped(self) -> None:
        if self.run_id:
            self.tracker.end_run(self.run_id, "KILLED")

    # -- trial runs, written in the background --------------------------------------------
    def _do(self, fn) -> None:
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

    def on_trial_start(self, record: TrialRecord, number: int, restarted: bool) -> None:
        tracker, parent, rec = self.tracker, self.run_id, record

        def write() -> None:
            if rec.mlflow_run_id is None:
                rec.mlflow_run_id = tracker.start_run(  # params come with the first metrics
                    "trial",
                    f"trial-{rec.trial_id}",
                    parent_id=parent,
                    tags=schema.trial_tags(rec.trial_id, rec.arch),
                )
                if rec.arch is not None:
                    tracker.log_text(rec.mlflow_run_id, rec.arch.to_json(), "arch.json")
            else:  # restarted after a resume or a worker failure: same MLflow run
                tracker.set_tags(rec.mlflow_run_id, schema.restarted_tags())

        self._do(write)

    def on_trial_result(self, record: TrialRecord, number: int, result: Mapping[str, Any]) -> None:
        rec, tracker = record, self.tracker
        step = int(result.get("epoch", result.get("training_iteration", 0)))
        metrics = {k: result[k] for k in REPORTED_METRICS if k in result}
        params = self._params_once(rec)
        tags = schema.latency_tags(result) if params else {}

        def write() -> None:  # one commit: metrics (+ params and latency tags the first time)
            if rec.mlflow_run_id and (metrics or params):
                tracker.log_batch(rec.mlflow_run_id, metrics, params, tags, step)

        self._do(write)

    def on_trial_complete(
        self, record: TrialRecord, number: int, result: Mapping[str, Any]
    ) -> None:
        rec, tracker = record, self.tracker
        params = self._params_once(rec)
        tags = schema.latency_tags(result) if params else {}
        tags.update(schema.budget_tags(result))
        tags.update(schema.proxy_tags(result))
        if rec.error:
            tags.update(schema.error_tags(rec.error))
        status = "FINISHED" if rec.ok or rec.status == "infeasible" else "FAILED"
        times = {k: result[k] for k in ("measure_s", "train_s") if k in result}

        def write() -> None:
            if rec.mlflow_run_id:
                if params or tags or times:
                    tracker.log_batch(rec.mlflow_run_id, times, params=params, tags=tags)
                tracker.end_run(rec.mlflow_run_id, status)

        self._do(write)

    def on_trial_screened(self, record: TrialRecord) -> None:
        tracker, parent = self.tracker, self.run_id

        def write(rec=record) -> None:
            rec.mlflow_run_id = log_screened(tracker, parent, rec)

        self._do(write)

    def on_trial_error(self, record: TrialRecord, number: int, error: str) -> None:
        rec, tracker = record, self.tracker
        params = self._params_once(rec)

        def write() -> None:
            if rec.mlflow_run_id:
                tracker.log_text(rec.mlflow_run_id, error, "error.txt")
                tracker.log_batch(
                    rec.mlflow_run_id, params=params, tags=schema.error_tags(last_line(error))
                )
                tracker.end_run(rec.mlflow_run_id, "FAILED")

        self._do(write)


def log_screened(tracker: Tracker, parent: str | None, rec: TrialRecord) -> str:
    """One MLflow run for a candidate the screen rejected (tags ``screened``/``feasible``)."""
    run = tracker.start_run(
        "trial", rec.trial_id, parent_id=parent, tags=schema.screened_tags(rec), params=rec.params
    )
    numbers = {k: v for k, v in rec.metrics.items() if k in schema.SCREENED_METRICS}
    tracker.log_metrics(run, numbers)
    tracker.end_run(run, "FINISHED")
    return run


def close_orphans(tracker: Tracker, search_run: str, records) -> None:
    """Trial runs left RUNNING by a stopped driver that the resumed search did not continue."""
    # ids as the active store knows them (a tracker gone offline keeps stand-ins locally)
    known = {tracker.resolve(r.mlflow_run_id) for r in records if r.mlflow_run_id}
    for run_id in tracker.running_children(search_run):
        if run_id in known:
            continue
        tracker.set_tags(run_id, schema.error_tags(schema.ORPHAN_ERROR))
        tracker.end_run(run_id, "KILLED")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
