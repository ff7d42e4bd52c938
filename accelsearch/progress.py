"""Progress while a search runs.

The search driver reports a :class:`SearchProgress` after every trial event. A plain
printer (``print``, a log file, CI) gets one line per event; :func:`console_printer` gives,
when stdout is a terminal, a :class:`LivePrinter` that keeps one live status line (trials
done/running/failed, best reward, elapsed time, ticking) under the scrolling messages.
"""

from __future__ import annotations

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
    """Hand ``progress`` to a live printer, or print its line with a plain one."""
    live = getattr(printer, "progress", None)
    if callable(live):
        live(progress)
    else:
        printer(progress.line())


class LivePrinter:
    """A printer for terminals: messages scroll, one live search status line stays below.

    Use it as ``printer`` (``run_recipe(..., printer=LivePrinter())``) and :meth:`close` it
    at the end (or use it as a context manager).
    """

    def __init__(self, console=None) -> None:
        from rich.console import Console

        self.console = console or Console()
        self._live = None
        self._progress: SearchProgress | None = None

    def __call__(self, *parts: Any) -> None:
        self.console.print(*parts, highlight=False, markup=False)

    def progress(self, progress: SearchProgress) -> None:
        from rich.live import Live

        self._progress = progress
        if progress.finished:
            self.close()
            self(progress.line())
            return
        if self._live is None:
            self._live = Live(self, console=self.console, refresh_per_second=2, transient=True)
            self._live.start()
        else:
            self._live.refresh()

    def __rich__(self):
        from rich.text import Text

        p = self._progress
        if p is None:
            return Text("")
        minutes, seconds = divmod(int(p.elapsed_s), 60)
        width = 24
        filled = int(width * (p.done + p.failed) / max(p.total, 1))
        best = f"{p.best_reward:.3f}" if p.best_reward is not None else "-"
        text = Text("search ", style="bold")
        text.append("━" * filled, style="green")
        text.append("━" * (width - filled), style="grey35")
        text.append(f" {p.done}/{p.total} done")
        text.append(f" · {p.running} running")
        text.append(f" · {p.failed} failed", style="red" if p.failed else None)
        text.append(f" · best reward {best} · {minutes}:{seconds:02d}")
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


def console_printer(stream=None):
    """A :class:`LivePrinter` when ``stream`` (stdout) is a terminal, else ``print``."""
    stream = stream if stream is not None else sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        from rich.console import Console

        return LivePrinter(Console(file=stream))
    return print
