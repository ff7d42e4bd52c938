"""The NB201 budget benchmark on stand-in tables: every arm runs through the real strategies
and screen, the screened arms train nothing over the budget, a strategy that cannot take
constraints is refused in the unscreened arm, and the record and its tables are written."""

from __future__ import annotations

import csv
import itertools
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import budget_search_nb201 as bench  # noqa: E402
import pytest  # noqa: E402
from search_efficiency_nb201 import OPS, parse, synthetic_latency  # noqa: E402

pytestmark = pytest.mark.slow  # a spawned worker, 18 runs: ~40 s on the shared 2-core machine


def _tables(tmp_path: Path) -> tuple[Path, Path]:
    """Every NB201 cell: made-up accuracy (more 3x3 convs, more accuracy) and the
    benchmark's synthetic latency; FLOPs from the convolutions."""
    nats, lat = tmp_path / "nats.csv", tmp_path / "lat.csv"
    with open(nats, "w", newline="") as fa, open(lat, "w", newline="") as fl:
        wa, wl = csv.writer(fa), csv.writer(fl)
        wa.writerow(["ArchitectureString", "CIFAR10TestAccuracy200Epochs"])
        wl.writerow(["arch_string", "graph", "latency_ms", "flops", "batch_size"])
        for a, b, c, d, e, f in itertools.product(OPS, repeat=6):
            cell = f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"
            ops = (a, b, c, d, e, f)
            acc = 80 + 2 * ops.count("nor_conv_3x3") + ops.count("nor_conv_1x1") + 0.1 * (a == d)
            flops = 9e7 * ops.count("nor_conv_3x3") + 1e7 * ops.count("nor_conv_1x1")
            wa.writerow([cell, acc])
            wl.writerow([cell, cell, synthetic_latency(parse(cell)), flops, 256])
    return nats, lat


def test_the_arms_on_stand_in_tables(tmp_path):
    nats, lat = _tables(tmp_path)
    out = tmp_path / "budget.json"
    argv = ["--nb201-csv", str(nats), "--latency-csv", str(lat), "--out", str(out),
            "--strategies", "optuna-tpe,random", "--arms", "plain,constrained,screened",
            "--seeds", "1", "--seed-offset", "7", "--trainings", "12"]  # fmt: skip
    assert bench.main(argv) == 0
    data = json.loads(out.read_text())
    runs = data["runs"]
    assert len(runs) == 2 * 3 * 3  # strategies x arms x budgets
    assert {r["seed"] for r in runs} == {7} and data["seeds"] == {"first": 7, "count": 1}
    refused = [r for r in runs if r["strategy"] == "random" and r["arm"] == "constrained"]
    assert all("cannot take constraints" in r["error"] for r in refused)
    for r in runs:
        if "error" in r:
            continue
        assert r["trainings"] == 12
        if r["arm"].startswith("screened"):
            assert r["trained_infeasible"] == 0  # measured first: never trained over
    plain = [r for r in runs if r["arm"] == "plain"]
    assert sum(r["trained_infeasible"] for r in plain) > 0  # the reward alone does not keep it
    table = data["table"]["optuna-tpe"]["screened"]["10"]
    assert table["infeasible_training_share"] == 0.0 and table["seeds"] == 1
    assert data["target"]["rows"]  # the check ran over the constrained rows
    md = out.with_suffix(".md").read_text()
    assert "### Budget: 10th percentile" in md and "| optuna-tpe | screened |" in md
    # run again: the text around the tables is kept, the tables replaced
    out.with_suffix(".md").write_text("# Notes\n\n" + md + "\nMore notes.\n")
    assert bench.main([*argv, "--resume"]) == 0  # nothing left to run
    again = out.with_suffix(".md").read_text()
    assert again.startswith("# Notes") and again.endswith("More notes.\n")
    assert again.count("### Budget: 10th percentile") == 1
