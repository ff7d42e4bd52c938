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


def test_the_record_counts_trials_not_screened_candidates_and_shows_the_budget(tmp_path):
    import sqlite3

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import e2e_pieces as tool

    db = sqlite3.connect(tmp_path / "mlflow.db")
    db.execute("CREATE TABLE runs (run_uuid TEXT, status TEXT, end_time INTEGER)")
    db.execute("CREATE TABLE tags (run_uuid TEXT, key TEXT, value TEXT)")
    for run, tid, screened in [
        ("r1", "t1", "false"),
        ("r2", "screened-0", "true"),
        ("r3", "t2", None),
    ]:
        db.execute("INSERT INTO runs VALUES (?, 'FINISHED', 1000)", (run,))
        db.execute("INSERT INTO tags VALUES (?, 'accelsearch.kind', 'trial')", (run,))
        db.execute("INSERT INTO tags VALUES (?, 'accelsearch.trial_id', ?)", (run, tid))
        if screened:
            db.execute("INSERT INTO tags VALUES (?, 'accelsearch.screened', ?)", (run, screened))
    db.commit()
    db.close()
    assert sorted(r["trial_id"] for r in tool.trial_runs(tmp_path)) == ["t1", "t2"]
    summary = "## Search\n\n### Budget\n\n| GPU-s spent |\n|---:|\n| 74.5 |\n\n## Family\n"
    piece = {"piece": 1, "state": "new", "after": "done", "command": "c", "rc": 0,
             "killed": False, "wall_s": 254.5, "device": "GPU"}  # fmt: skip
    record = {"calls": 1, "pieces": [piece], "date": "2026-12-07", "state": "done",
              "device_seconds": 254.5, "trials_per_piece": [12], "trials_repeated": 0,
              "trials_lost": [], "trial_runs_killed": 0, "family": [], "summary_md": summary}  # fmt: skip
    text = tool.markdown(record)
    assert text.startswith("# A run in 1 piece, 0 of them killed (GPU)")
    assert "## Budget" in text and "| 74.5 |" in text and "Family" not in text
