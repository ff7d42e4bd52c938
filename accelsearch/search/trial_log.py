"""The driver's record of the trials: a Ray Tune callback that keeps a :class:`TrialRecord`
per trial and passes every event on to the search's observers
(:class:`~accelsearch.search.observer.SearchObserver`).

Its records travel in Ray Tune's experiment snapshot, so a resumed search has them back
(with their tracking ids); the observers and the printer do not, and are attached again
by output folder (:data:`ATTACHED`) when Ray Tune restores the callback.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ray.tune import Callback

from accelsearch.search import budget_report
from accelsearch.search.observer import SearchObserver
from accelsearch.search.result import TrialRecord
from accelsearch.search.trial import REPORTED_METRICS
from accelsearch.search.tune_adapter import LIVE_SCREENS

# Observers and printers do not travel in Ray Tune's pickled experiment state; the driver
# attaches them again by output folder when it restores a search. The logger Ray Tune
# actually calls registers itself in LIVE when the experiment starts.
ATTACHED: dict[str, tuple[Sequence[SearchObserver], Any]] = {}
LIVE: dict[str, TrialLogger] = {}

#: result keys a trial record keeps besides REPORTED_METRICS
KEEP = {
    *budget_report.BUDGET_KEYS,
    "epoch",
    "latency_cv",
    "latency_noisy",
    "latency_cached",
    "proxy_seed",
    "proxy_unstable",
    "proxy_retries",
    "eval_s",
    "arch",
    "latency_backend",
    "latency_device",
    "latency_precision",
    "latency_batch_size",
}


class TrialLogger(Callback):
    """Collects trial records and tells the observers of every trial event.

    Its state (the records with their tracking ids) is saved in every Ray Tune snapshot,
    so a resumed search goes on with the same records.
    """

    def __init__(
        self,
        space,
        observers: Sequence[SearchObserver],
        total: int,
        printer=print,
        attach_key: str | None = None,
    ) -> None:
        self.space = space
        self.observers = tuple(observers)
        self.total = total
        self.records: dict[str, TrialRecord] = {}
        self.running: set[str] = set()
        self.t0 = time.perf_counter()
        self.print = printer
        self.attach_key = attach_key
        self.restarts = 0

    def flush(self) -> None:
        for observer in self.observers:
            observer.flush()

    # -- pickling and Ray Tune's callback state ---------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["observers"] = ()
        state["print"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        observers, printer = ATTACHED.get(self.attach_key or "", ((), print))
        self.observers = tuple(observers)
        self.print = printer or print
        self.t0 = time.perf_counter()  # a clock of another process means nothing here

    def get_state(self) -> dict[str, Any]:
        return {
            "records": {k: r.to_dict() for k, r in self.records.items()},
            "restarts": self.restarts,
        }

    def setup(self, **info) -> None:
        LIVE[self.attach_key or ""] = self

    def set_state(self, state: dict[str, Any]) -> None:
        LIVE[self.attach_key or ""] = self
        self.records = {k: TrialRecord.from_dict(d) for k, d in state["records"].items()}
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
        for observer in self.observers:
            observer.on_progress(self.records, len(self.running), self.total, self.t0)

    def number(self, rec: TrialRecord) -> int:
        """The trial's number, in the order trials started (kept across a resume); candidates
        the budget's screen rejected before the GPU are records but not trials, and do not
        count (else the 12th trial of a search that screened 600 would be "trial 609/12")."""
        trials = [tid for tid, r in self.records.items() if r.status != "screened"]
        return trials.index(rec.trial_id) + 1

    def _fail(self, rec: TrialRecord, text: str) -> None:
        rec.status = "failed"
        rec.error = text
        for observer in self.observers:
            observer.on_trial_error(rec, self.number(rec), text)

    # -- Ray Tune hooks --------------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._take_screened()  # rejected while the strategy looked for this trial's config
        restarted = trial.trial_id in self.records
        rec = self._record(trial)
        self.running.add(trial.trial_id)
        for observer in self.observers:
            observer.on_trial_start(rec, self.number(rec), restarted)
        self._progress()

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        rec = self._record(trial)
        if result.get("replayed") or result.get("repeat"):
            return  # a stored result reported again, or the last epoch's report repeated
        for observer in self.observers:
            observer.on_trial_result(rec, self.number(rec), result)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        rec = self._record(trial)
        self.running.discard(trial.trial_id)
        result = dict(trial.last_result or {})
        if result.get("trial_error"):
            rec.metrics = {}
            self._fail(rec, str(result["trial_error"]))
            self._progress()
            return
        rec.metrics = {k: v for k, v in result.items() if k in KEEP or k in REPORTED_METRICS}
        over = "accuracy" not in result and result.get("feasible") == 0
        rec.status = "ok" if "accuracy" in result else ("infeasible" if over else "failed")
        if rec.status == "failed" and not rec.error:
            rec.error = "trial ended without reporting accuracy"
        for observer in self.observers:
            observer.on_trial_complete(rec, self.number(rec), result)
        self._take_screened()
        self._progress()

    def _take_screened(self) -> None:
        """Record the candidates the screen rejected since the last call (and tell)."""
        screen = LIVE_SCREENS.get(self.attach_key or "")
        if screen is None:
            return
        first = sum(1 for r in self.records.values() if r.status == "screened")
        for n, entry in enumerate(screen.drain_screened(), start=first):
            rec = budget_report.screened_record(self.space, n, entry)
            self.records[rec.trial_id] = rec
            for observer in self.observers:
                observer.on_trial_screened(rec)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        rec = self._record(trial)
        self.running.discard(trial.trial_id)
        rec.metrics = {k: v for k, v in (trial.last_result or {}).items() if k in REPORTED_METRICS}
        self._fail(rec, error_text(trial))
        self._progress()

    def on_experiment_end(self, trials, **info) -> None:
        self._take_screened()
        self.flush()


def error_text(trial) -> str:
    try:
        text = trial.get_error()
    except Exception:  # noqa: BLE001 - storage may be gone; fall back below
        text = None
    if not text and getattr(trial, "error_file", None) and os.path.exists(trial.error_file):
        text = Path(trial.error_file).read_text()
    return text or "trial failed (Ray recorded no error text)"
