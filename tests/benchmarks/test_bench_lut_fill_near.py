"""The near-budget table fill: which archs it chooses, what it measures, resuming, and its
errors (on the CPU, over a table that ``latency_lut.py --quick`` filled)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STEM = "lut_near_gpunet_b1_under{}ms"


def _run(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)


def _near(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return _run(str(ROOT / "benchmarks" / "lut_fill_near.py"), "--quick", "--device", "cpu",
                "--space", "gpunet", "--batch", "1", "--out", str(out), *extra)  # fmt: skip


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lut")
    run = _run(str(ROOT / "benchmarks" / "latency_lut.py"), "--quick", "--device", "cpu",
               "--out", str(out), "--spaces", "gpunet", "--sobol", "0")  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return out


def _layers(store: Path) -> int:
    from accelsearch.objectives.latency.lut import LUTStore

    s = LUTStore(store)
    return sum(len(s.table(t)) for t in s.tables())


def test_measures_the_chosen_archs_layers_and_reports_before_and_after(filled, tmp_path):
    out = tmp_path / "near"
    shutil.copytree(filled, out)
    before = _layers(out / "lut.sqlite")
    run = _near(out, "--under-ms", "100", "--archs", "2")
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [json.loads(x) for x in (out / f"{STEM.format(100)}.jsonl").open()]
    assert [r["i"] for r in lines] == [0, 1]
    assert all(r["before_ms"] <= 100 and r["measured_ms"] > 0 for r in lines)
    assert sum(r["new_layers"] for r in lines) > 0
    assert _layers(out / "lut.sqlite") - before == sum(r["new_layers"] for r in lines)
    fig = json.loads((out / f"{STEM.format(100)}.json").read_text())["summary"]["figures"]
    assert fig["archs"] == 2 and fig["mape_before_pct"] >= 0 and fig["mape_after_pct"] >= 0
    assert "before and after" in (out / f"{STEM.format(100)}.md").read_text()

    # resumed with more archs: the first two are kept, two more (the same choice) are added
    chosen = (out / f"{STEM.format(100)}.choice.json").read_text()
    run = _near(out, "--under-ms", "100", "--archs", "4")
    assert run.returncode == 0, run.stderr[-2000:]
    again = [json.loads(x) for x in (out / f"{STEM.format(100)}.jsonl").open()]
    assert again[:2] == lines and [r["i"] for r in again] == [0, 1, 2, 3]
    assert (out / f"{STEM.format(100)}.choice.json").read_text() == chosen


def test_a_bound_no_arch_reaches_names_the_fastest(filled, tmp_path):
    out = tmp_path / "near"
    shutil.copytree(filled, out)
    run = _near(out, "--under-ms", "0.000001", "--archs", "2")
    assert run.returncode != 0
    assert "is predicted under --under-ms 1e-06 (the fastest:" in run.stderr
    assert "raise --under-ms or --pool" in run.stderr


def test_a_store_without_the_table_says_to_fill_it_first(tmp_path):
    run = _near(tmp_path / "empty", "--under-ms", "100")
    assert run.returncode != 0
    assert "fill it with Sobol archs of the space first" in run.stderr
