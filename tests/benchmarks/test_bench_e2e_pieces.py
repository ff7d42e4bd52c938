"""A real run (CPU smoke settings) in pieces killed with ``timeout -s KILL``, each on a fresh
workspace (the same path, emptied) unpacked from the last piece's archive, resumed until it
finishes: no finished trial is trained again and none is lost (issue 16's protocol, on the
CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "e2e_pieces.py"
NUM_SAMPLES = 16
SMOKE = [
    "space.options={width_mult: 0.25, resolutions: [32], depth_deltas: [-1, 0]}",
    "latency.device=cpu", "latency.precision=fp32",
    "latency.protocol={warmup: 1, min_reps: 5, max_reps: 20, max_seconds: 0.3}",
    f"search.num_samples={NUM_SAMPLES}", "search.gpus_per_trial=0", "search.cpus_per_trial=1",
    "accuracy.options.dataset=digits", "accuracy.options.val_dataset=null",
    "accuracy.options.device=cpu", "accuracy.options.amp=null", "accuracy.options.epochs=3",
    "accuracy.options.data_fraction=1.0", "accuracy.options.batch_size=64",
    "accuracy.options.lr=0.1", "scaling.grid=[[1.0, 1.2, 1.2]]", "scaling.targets=[1.5]",
    "scaling.tolerance=0.2", "scaling.max_measurements=4",
]  # fmt: skip


def _piece(tmp: Path, k: int, seconds: int) -> str:
    args = [
        sys.executable, str(SCRIPT), "piece", "--recipe", "recipes/efficientnet_x_gpu.yaml",
        "--workspace", str(tmp / "node"), "--archive-out", str(tmp / f"ws{k}.tar.xz"),
        "--seconds", str(seconds), "--log", str(tmp / f"piece{k}.log"),
    ]  # fmt: skip
    if k > 1:
        args += ["--archive-in", str(tmp / f"ws{k - 1}.tar.xz")]
    args += [a for s in SMOKE for a in ("--set", s)]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stdout + done.stderr + (tmp / f"piece{k}.log").read_text()
    return done.stdout


def test_a_run_killed_in_pieces_finishes_with_no_trial_repeated_or_lost(tmp_path):
    # the first piece is killed well before the run can end (16 trials of 3 epochs on all of
    # digits: ~100 s alone on an idle 2-core machine, one torch thread per trial; about a
    # third of the trials finish before the kill)
    out, k = _piece(tmp_path, 1, 50), 1
    while "-> done" not in out and "has finished" not in out:
        k += 1
        assert k <= 5, out
        out = _piece(tmp_path, k, 240)
    summary = tmp_path / "e2e.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "summarize", "--archive", str(tmp_path / f"ws{k}.tar.xz"),
         "--out", str(summary)],
        cwd=ROOT, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    r = json.loads(summary.read_text())
    assert r["state"] == "done" and r["calls"] == k >= 2
    assert r["pieces"][0]["killed"] and r["pieces"][0]["state"] == "new"
    assert all(p["state"] == "resume" for p in r["pieces"][1:])
    assert r["trials_repeated"] == 0 and r["trials_lost"] == []
    assert r["trials_finished"] == NUM_SAMPLES == sum(r["trials_per_piece"])
    assert [m["name"] for m in r["family"]] == ["efficientnet_x_gpu-0", "efficientnet_x_gpu-1"]
    assert Path(summary.with_suffix(".md")).read_text().startswith("# A run in")
