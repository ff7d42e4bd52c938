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


def test_gather_refits_from_the_lines_without_measuring(tmp_path):
    """--gather (a multi-GPU run cut short, figures made on another machine) reproduces
    the figures from the per-arch lines and the stored table alone."""
    from accelsearch.objectives.latency.lut import LUTStore

    out = tmp_path / "lut"
    base = [sys.executable, str(ROOT / "benchmarks" / "latency_lut.py"), "--quick",
            "--device", "cpu", "--out", str(out), "--spaces", "efficientnet_x",
            "--archs", "6", "--sobol", "0"]  # fmt: skip
    run = subprocess.run(base, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    first = json.loads((out / "latency_lut.json").read_text())["summary"]["accuracy"]
    lines = {b: (out / f"lut_efficientnet_x_b{b}.jsonl").read_text() for b in (1, 2)}
    name = next(iter(LUTStore(out / "lut.sqlite").tables())).device_name
    (out / "latency_lut.json").unlink()
    run = subprocess.run(
        [*base, "--gather", "--device-name", name, "--archs", "8"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    doc = json.loads((out / "latency_lut.json").read_text())
    again = doc["summary"]["accuracy"]
    assert [f["mape_corrected_pct"] for f in again] == [f["mape_corrected_pct"] for f in first]
    assert {f["stopped"] for f in again} == {"2 of 8 archs not measured"}
    assert lines == {b: (out / f"lut_efficientnet_x_b{b}.jsonl").read_text() for b in (1, 2)}
    assert doc["meta"]["env"]["device_name"] and "gathered_on" in doc["meta"]
