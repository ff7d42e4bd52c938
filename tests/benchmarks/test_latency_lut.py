"""The LUT benchmark's multi-GPU path (here: two CPU processes), shards and the gather."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pairs_split_over_processes_are_gathered_once(tmp_path):
    out = tmp_path / "lut"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "latency_lut.py"), "--quick",
           "--device", "cpu", "--out", str(out), "--gpus", "2", "--shards-per-pair", "2",
           "--spaces", "efficientnet_x", "--archs", "6", "--sobol", "0"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    for batch in (1, 2):  # --quick's batch sizes
        lines = [json.loads(x) for x in (out / f"lut_efficientnet_x_b{batch}.jsonl").open()]
        assert sorted(r["i"] for r in lines) == list(range(6))  # each arch once, both shards
        assert all(r["measured_ms"] > 0 for r in lines)
    doc = json.loads((out / "latency_lut.json").read_text())
    assert doc["summary"]["gpus"] == {"count": 2, "exit_codes": [0, 0, 0, 0]}
    figures = {(f["space"], f["batch"]): f for f in doc["summary"]["accuracy"]}
    assert set(figures) == {("efficientnet_x", 1), ("efficientnet_x", 2)}
    assert all(f["archs"] == 6 and f["mape_corrected_pct"] >= 0 for f in figures.values())
    assert not list(out.glob("latency_lut.*.json"))  # the children's summaries are gone
