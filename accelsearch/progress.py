"""What a running search shows: status from the first second, one table row per trial.

A printer is a callable taking a line of text (``print``, a log file's writer). The driver
reports to it through three helpers, which a printer may answer with a method of the same
name; a plain one gets lines:

* :func:`show_status` - what is happening now (reading the recipe, starting Ray, trial k
  started, trial k at epoch e): a plain printer prints it as a line (epoch updates
  excepted: they would flood a log), a live printer shows it in its status line;
* :func:`show_row` - a finished trial as one row of :class:`TrialTable` (a fixed-width
  table, header first; a live printer crops rows to the terminal, never wraps them);
* :func:`show_progress` - the search's counts (:class:`SearchProgress`); a plain printer
  prints only the last, when the search is over (the rows already say the rest).

:func:`console_printer` gives a :class:`LivePrinter` when stdout is a terminal (one live
status line under the scrolling rows, with a bar and the clock), else ``print``.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SearchProgress:
    """Where a search stands: counts of trials, the best reward so far, and the clock."""

    done: int
    failed: int
    running: int
    total: int
    best_reward: float | None
    t0: float  # time.perf_counter() when the search started

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.t0

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.total and self.running == 0

    def line(self) -> str:
        best = f"{self.best_reward:.3f}" if self.best_reward is not None else "-"
        return (
            f"[search] {self.done}/{self.total} done, {self.failed} failed, "
            f"{self.running} running, best reward {best}, {self.elapsed_s:.0f} s"
        )


def show_progress(printer, progress: SearchProgress) -> None:
    """Hand ``progress`` to a live printer; a plain one prints the final counts once."""
    live = getattr(printer, "progress", None)
    if callable(live):
        live(progress)
    elif progress.finished:
        printer(progress.line())


def show_status(printer, text: str, plain: bool = True) -> None:
    """What is happening now: a live printer's status line, else a line (if ``plain``)."""
    status = getattr(printer, "status", None)
    if callable(status):
        status(text)
    elif plain:
        printer(text)


def show_row(printer, text: str) -> None:
    """One row of the trial table (a live printer keeps it on one line)."""
    row = getattr(printer, "row", None)
    if callable(row):
        row(text)
    else:
        printer(text)


def _status(record) -> str:
    """``ok`` (trained), ``infeasible`` (measured over the budget, not trained: not a
    failure) or ``failed``."""
    if record.ok:
        return "ok"
    return "infeasible" if record.status == "infeasible" else "failed"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class TrialTable:
    """Finished trials as rows of a fixed-width table: number, trial id, status, accuracy,
    latency, reward, size and the arch's key numbers (resolution, blocks), time, then the
    arch (or, for a failed trial, its error; for one measured over the latency budget, by
    how much), cut to ``last_width`` characters."""

    COLUMNS = (  # title, width, alignment
        ("#", 3, ">"),
        ("trial", 12, "<"),
        ("status", 10, "<"),  # ok, failed, infeasible
        ("acc %", 6, ">"),
        ("lat ms", 8, ">"),
        ("reward", 7, ">"),
        ("params M", 8, ">"),
        ("GFLOPs", 7, ">"),
        ("res", 4, ">"),
        ("blocks", 6, ">"),
        ("time s", 6, ">"),
    )

    def __init__(self, total: int, last_width: int = 72) -> None:
        self.total = total
        self.last_width = last_width

    def _line(self, cells: list[str], last: str) -> str:
        parts = [f"{_cut(c, w):{a}{w}}" for c, (_, w, a) in zip(cells, self.COLUMNS, strict=True)]
        return " ".join(parts) + " " + _cut(last, self.last_width)

    def header(self) -> str:
        return self._line([t for t, _, _ in self.COLUMNS], "arch (or error)")

    def row(self, number: int, record) -> str:
        m = record.metrics
        arch = record.arch
        blocks = sum(s.depth for s in arch.stages) if arch is not None else None

        def num(key: str, digits: int) -> str:
            v = m.get(key)
            return f"{v:.{digits}f}" if isinstance(v, (int, float)) else "-"

        cells = [
            str(number),
            record.trial_id,
            _status(record),
            num("accuracy", 2),
            num("latency_ms", 3),
            num("reward", 3),
            num("params_m", 3),
            num("gflops", 3),
            str(arch.resolution) if arch is not None else "-",
            str(blocks) if blocks is not None else "-",
            num("eval_s", 0),
        ]
        if record.ok:
            last = str(arch) if arch is not None else "-"
        elif record.status == "infeasible":  # measured over the budget, not trained
            last = str(m.get("infeasible") or "over the budget")
        else:
            lines = [ln for ln in (record.error or "").strip().splitlines() if ln.strip()]
            # "accelsearch.errors.ArchError: ..." -> "ArchError: ...": the message matters
            last = re.sub(r"^(?:\w+\.)+(?=\w+:)", "", lines[-1]) if lines else "failed"
        return self._line(cells, last)


class LivePrinter:
    """A printer for terminals: messages and rows scroll, one live status line stays below
    (what is happening now, the search's bar and counts, the clock).

    Use it as ``printer`` (``run_recipe(..., printer=LivePrinter())``) and :meth:`close` it
    at the end (or use it as a context manager).
    """

    def __init__(self, console=None) -> None:
        from rich.console import Console

        self.console = console or Console()
        self._live = None
        self._progress: SearchProgress | None = None
        self._status = ""
        self._t0 = time.perf_counter()

    def __call__(self, *parts: Any) -> None:
        self.console.print(*parts, highlight=False, markup=False)

    def row(self, text: str) -> None:
        self.console.print(
            text, highlight=False, markup=False, no_wrap=True, overflow="ellipsis", crop=True
        )

    def status(self, text: str) -> None:
        self._status = text
        self._show()

    def progress(self, progress: SearchProgress) -> None:
        self._progress = progress
        if progress.finished:
            self.close()
            self._progress, self._status = None, ""
            self(progress.line())
            return
        self._show()

    def _show(self) -> None:
        from rich.live import Live

        if self._live is None:
            self._live = Live(self, console=self.console, refresh_per_second=2, transient=True)
            self._live.start()
        else:
            self._live.refresh()

    def __rich__(self):
        from rich.text import Text

        p = self._progress
        elapsed = p.elapsed_s if p is not None else time.perf_counter() - self._t0
        minutes, seconds = divmod(int(elapsed), 60)
        text = Text(no_wrap=True, overflow="ellipsis")
        if p is not None:
            width = 24
            filled = int(width * (p.done + p.failed) / max(p.total, 1))
            best = f"{p.best_reward:.3f}" if p.best_reward is not None else "-"
            text.append("search ", style="bold")
            text.append("━" * filled, style="green")
            text.append("━" * (width - filled), style="grey35")
            text.append(f" {p.done}/{p.total} done")
            text.append(f" · {p.running} running")
            text.append(f" · {p.failed} failed", style="red" if p.failed else None)
            text.append(f" · best reward {best} · ")
        text.append(f"{minutes}:{seconds:02d}")
        if self._status:
            text.append(f" · {self._status.removeprefix('[search] ')}", style="cyan")
        return text

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __reduce__(self):
        # Ray Tune snapshots its callbacks (and so the printer they hold): a copy is a fresh
        # printer on this process's terminal, not the live display (locks do not pickle)
        return (LivePrinter, ())

    def __enter__(self) -> LivePrinter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def plain_printer(*parts: Any) -> None:
    """``print`` that flushes: a pipe or a log file gets each line when it happens."""
    print(*parts, flush=True)


def console_printer(stream=None):
    """A :class:`LivePrinter` when ``stream`` (stdout) is a terminal, else
    :func:`plain_printer`."""
    stream = stream if stream is not None else sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        from rich.console import Console

        return LivePrinter(Console(file=stream))
    return plain_printer
