"""The scaling benchmark's speed-ups do not depend on the order its levels ran in."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

from accelsearch.progress import SearchProgress

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location(
        "search_scaling", ROOT / "benchmarks" / "search_scaling.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_speedups_against_the_lowest_concurrency_whatever_the_order():
    speedups = _module().speedups
    rows = {"4": {"concurrency": 4, "completed": 20, "trials_per_hour": 600.0}}
    speedups(rows)  # run first: its own baseline until a lower level exists
    assert rows["4"]["speedup"] == 1.0 and rows["4"]["speedup_against"] == 4
    rows["1"] = {"concurrency": 1, "completed": 5, "trials_per_hour": 160.0}
    rows["2"] = {"concurrency": 2, "completed": 0, "trials_per_hour": 0.0}  # cut short
    speedups(rows)
    assert rows["4"]["speedup"] == 600 / 160 and rows["4"]["speedup_against"] == 1
    assert rows["1"]["speedup"] == 1.0
    assert "speedup" not in rows["2"]


def test_a_level_cut_short_leaves_its_progress_in_the_json(tmp_path):
    mod = _module()
    out = tmp_path / "scaling.json"
    summary = {"levels": {"4": {"concurrency": 4, "partial": "running"}}}
    row = summary["levels"]["4"]
    printer = mod.LevelProgress(row, lambda: out.write_text(json.dumps(summary)))
    printer("[search] a plain message is ignored")
    t0 = time.perf_counter()
    for done in (0, 0, 1, 2):  # the driver reports each event; a repeat adds nothing
        printer.progress(SearchProgress(done, 0, 4, 20, None, t0))
    saved = json.loads(out.read_text())["levels"]["4"]
    assert [s["completed"] for s in saved["progress"]] == [0, 1, 2]
    assert saved["trials_per_hour_so_far"] > 0 and "partial" in saved
    mod.speedups(summary["levels"])  # a partial level is not a baseline
    assert "speedup" not in summary["levels"]["4"]
