"""Progress while a search runs: statuses, one fixed-width row per finished trial, the last
counts once; in a terminal a live status line under the rows."""

from __future__ import annotations

import io
import pickle
import time

import pytest
from rich.console import Console

from accelsearch import progress
from accelsearch.progress import SearchProgress, TrialTable
from accelsearch.search.result import TrialRecord


@pytest.fixture(scope="module")
def arch():
    from accelsearch import spaces

    space = spaces.get("efficientnet_x", width_mult=0.25, resolutions=(32,), depth_deltas=(-1, 0))
    return space.sample_arch(0)


def test_progress_line_and_finish():
    t0 = time.perf_counter() - 42
    p = SearchProgress(3, 1, 2, 10, 0.8123, t0)
    assert p.line() == "[search] 3/10 done, 1 failed, 2 running, best reward 0.812, 42 s"
    assert not p.finished
    assert SearchProgress(9, 1, 0, 10, None, t0).finished
    assert "best reward -" in SearchProgress(0, 0, 1, 10, None, t0).line()


def test_a_plain_printer_gets_statuses_rows_and_the_last_counts_once():
    lines = []
    t0 = time.perf_counter()
    progress.show_status(lines.append, "[search] starting Ray ...")
    progress.show_status(lines.append, "trial 1/4 at epoch 2", plain=False)  # would flood logs
    progress.show_progress(lines.append, SearchProgress(1, 0, 1, 4, 0.5, t0))  # rows say it
    progress.show_row(lines.append, "row")
    progress.show_progress(lines.append, SearchProgress(3, 1, 0, 4, 0.5, t0))
    assert lines == [
        "[search] starting Ray ...",
        "row",
        "[search] 3/4 done, 1 failed, 0 running, best reward 0.500, 0 s",
    ]
    assert progress.console_printer(io.StringIO()) is progress.plain_printer


def test_trial_rows_are_fixed_width_and_say_what_failed(arch):
    table = TrialTable(total=10, last_width=40)
    metrics = {"accuracy": 84.317, "latency_ms": 2.9134, "reward": 84.9, "eval_s": 21.4}
    metrics.update(params_m=0.071, gflops=0.004)
    ok = TrialRecord("a1b2c_00000", {}, "ok", metrics, arch)
    bad = TrialRecord(
        "a1b2c_00001", {}, "failed", {}, arch, "Traceback\naccelsearch.errors.ArchError: deep"
    )
    head, row, failed = table.header(), table.row(1, ok), table.row(2, bad)
    for col in ("trial", "status", "acc %", "lat ms", "reward", "params M", "res", "blocks"):
        assert col in head
    arch_at = head.index("arch (or error)")
    assert row.index("i32-") == arch_at == failed.index("ArchError")  # columns line up
    assert " ok " in row and "84.32" in row and "2.913" in row and "84.900" in row
    assert f" {sum(s.depth for s in arch.stages)} " in row and " 21" in row
    assert " failed " in failed and failed.endswith(" ArchError: deep")  # module path cut
    assert len(row) == arch_at + 40 and row.endswith("…")  # the arch cut to its width
    over = {
        "latency_ms": 1.1648,
        "infeasible": "latency_ms 1.165 over search.latency_budget_ms 0.5",
    }
    stopped = table.row(3, TrialRecord("a1b2c_00002", {}, "infeasible", over, arch))
    assert " infeasible " in stopped and " failed " not in stopped  # over the budget: no failure
    assert stopped.index("latency_ms 1.165") == arch_at and "1.165" in stopped


def test_live_printer_keeps_a_status_line_and_prints_the_last_counts():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    printer = progress.console_printer(stream)
    assert isinstance(printer, progress.LivePrinter)
    printer.console = Console(file=stream, force_terminal=True, width=120)

    def status_text() -> str:
        out = Console(width=200, file=io.StringIO(), force_terminal=False)
        out.print(printer)
        return out.file.getvalue()

    t0 = time.perf_counter()
    with printer:
        progress.show_status(printer, "[search] starting Ray ...")
        assert printer._live is not None  # live from the first status, before any trial
        assert "starting Ray" in status_text()
        printer("[run] a message")
        progress.show_row(printer, "x" * 300)  # a row is cropped, never wrapped
        progress.show_progress(printer, SearchProgress(1, 0, 1, 3, 0.5, t0))
        progress.show_status(printer, "trial 2/3 at epoch 4/10: accuracy 61.0 %", plain=False)
        text = status_text()
        assert "1/3 done" in text and "1 running" in text and "best reward 0.500" in text
        assert "trial 2/3 at epoch 4/10" in text
        progress.show_progress(printer, SearchProgress(2, 1, 0, 3, 0.7, t0))
        assert printer._live is None  # finished: the live line is gone ...
    out = stream.getvalue()
    assert isinstance(pickle.loads(pickle.dumps(printer)), progress.LivePrinter)  # Tune snapshots
    assert "[run] a message" in out
    assert "[search] 2/3 done, 1 failed, 0 running, best reward 0.700" in out  # ... and printed
    rows = [ln for ln in out.splitlines() if "xxxx" in ln]
    assert len(rows) == 1 and rows[0].rstrip().endswith("…")
