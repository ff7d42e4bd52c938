"""The NB201 hypervolume-gap tool on stand-in tables: a real pool-bo run keeps its training
order and ratio, and the missing hypervolume split by latency band adds up to what the
benchmark's scorer says is missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import hv_gap_nb201 as tool  # noqa: E402
import pytest  # noqa: E402
from test_bench_budget_search import _tables  # noqa: E402

pytestmark = pytest.mark.slow  # a spawned worker over 15,625 cells: ~20 s here


def test_band_shares_add_up_to_the_missing_hypervolume(tmp_path):
    nats, lat = _tables(tmp_path)
    out = tmp_path / "gap.json"
    argv = ["--nb201-csv", str(nats), "--latency-csv", str(lat), "run", "--seeds", "3-4",
            "--out", str(out), "--workers", "1", "--evaluations", "25"]  # fmt: skip
    assert tool.main(argv) == 0
    record = json.loads(out.read_text())
    assert sorted(r["seed"] for r in record["runs"]) == [3, 4]
    assert all(len(r["order"]) == 25 == len(set(r["order"])) for r in record["runs"])
    acc, latency, _, _ = tool.bench.load_tables(str(nats), str(lat))
    t = sorted(latency.values())
    bands = [t[0], (t[0] + t[-1]) / 2, t[-1] + 1.0]
    runs = sorted(record["runs"], key=lambda r: r["seed"])
    for row, run in zip(tool.band_shares(record, acc, latency, bands), runs):
        assert row["ratio"] == pytest.approx(run["hv_focus"], abs=2e-3)  # the scorer's figure
        assert sum(row["shares"]) == pytest.approx(1 - row["ratio"], abs=1e-9)
        assert all(x >= 0 for x in row["shares"])
