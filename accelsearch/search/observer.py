"""What a search tells the world as it runs: :class:`SearchObserver`'s hooks.

The driver keeps the trial records; an observer turns the events into something outside
the search room - MLflow runs, a progress display, a log. Every hook does nothing by
default, so an observer implements only the ones it needs. Hooks run in the driver
process, in Ray Tune's event loop: one that writes somewhere slow hands the work to a
thread of its own (and waits for it in :meth:`SearchObserver.flush`).

The application layer provides the observers of a recipe's run
(:mod:`accelsearch.search_tracking`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelsearch.search.result import SearchResult, TrialRecord


@dataclass(frozen=True)
class SearchStart:
    """A search about to run its trials (a new one, or one resumed)."""

    output_dir: Path
    #: the objectives' metric names (``reward``; ``accuracy,latency_ms``)
    objectives: tuple[str, ...]
    #: the tracking run of the search being resumed, from ``search_state.json`` (None: new)
    run_id: str | None = None
    #: how often this search has been resumed, this time included (0: a new search)
    resumes: int = 0
    #: trials the search will run (``num_samples``)
    total: int = 0
    #: epochs the accuracy evaluator trains (None: not known)
    epochs: int | None = None

    @property
    def resumed(self) -> bool:
        return self.resumes > 0


class SearchObserver:
    """Hooks the driver calls as a search runs (see the module docstring).

    The order: :meth:`on_status` while Ray starts, :meth:`on_search_start` once; then per
    trial :meth:`on_trial_start`, any
    number of :meth:`on_trial_result`, and one of :meth:`on_trial_complete` or
    :meth:`on_trial_error` (a trial restarted after a resume or a lost worker starts again);
    :meth:`on_progress` after each of those but results; :meth:`on_search_end` once when the
    search has finished, or :meth:`on_search_stopped` when it was stopped.
    """

    #: where this observer keeps the search's records (written to ``search_state.json``,
    #: so that a resumed run finds its tracking store); None: nowhere
    tracking_uri: str | None = None

    def on_status(self, text: str) -> None:
        """What the driver is doing before trials run (``[search] starting Ray ...``): for a
        live status line; the outcome follows as a printed line."""

    def on_search_start(self, start: SearchStart) -> str | None:
        """Called once, after Ray is up and the strategy is built, before the first trial
        (by ``run()`` and by ``resume()``). Returns the id of the record it keeps for the
        search (an MLflow run id: the search result carries it, ``search_state.json``
        keeps it for a resume), or None."""
        return None

    def on_trial_start(self, record: TrialRecord, number: int, restarted: bool) -> None:
        """A trial started (``restarted``: it had started before, in this search or in the
        one resumed). ``record.arch`` is its decoded arch, or None if decoding failed;
        ``number`` counts trials in the order they first started (1, 2, ..., kept across a
        resume), in every hook."""

    def on_trial_result(self, record: TrialRecord, number: int, result: Mapping[str, Any]) -> None:
        """A trial reported (after each accuracy epoch and at its end); ``result`` is Ray
        Tune's result dict. Stored results reported again by a resumed trial, and the last
        epoch's report repeated, are not passed on."""

    def on_trial_complete(
        self, record: TrialRecord, number: int, result: Mapping[str, Any]
    ) -> None:
        """A trial ended without an exception of its worker; ``record.status`` says whether
        it reported accuracy (``ok``) or failed (``record.error`` holds why)."""

    def on_trial_error(self, record: TrialRecord, number: int, error: str) -> None:
        """A trial failed: its own work raised (``error`` is the traceback), or its worker
        died. ``record.status`` is ``failed``."""

    def on_trial_screened(self, record: TrialRecord) -> None:
        """A candidate the budget's screen rejected before the GPU (``record.status`` is
        ``screened``; never a Ray Tune trial). Called before the next trial starts or ends,
        and at the end of the search."""

    def on_progress(
        self, records: Mapping[str, TrialRecord], running: int, total: int, t0: float
    ) -> None:
        """After every trial start, completion and error: every record so far, the number
        of trials running, the number the search will run, and ``time.perf_counter()`` when
        this driver started following the search."""

    def on_search_end(self, result: SearchResult, trials_tracked: bool = True) -> None:
        """The search finished; ``result`` holds every trial. ``trials_tracked`` is False
        when the driver lost its trial log and rebuilt the records from Ray Tune's results
        (then the records carry no tracking ids)."""

    def on_search_stopped(self) -> None:
        """The search was stopped (Ctrl-C, an error of the driver): nothing follows."""

    def flush(self) -> None:
        """Wait until what the hooks started has been written (called before a snapshot
        is final and when the search ends or stops)."""
