"""Benchmark: replay a finished budget run's measured trials through today's screen.

A budget run (``recipes/under_budget_gpu.yaml``) measures every candidate the screen lets
through. Replayed in the order the trials started, each measured candidate is judged by a
fresh screen that has observed the trials before it, as in the run (concurrency aside):
how many of the candidates measured over the budget would it have rejected on the CPU, and
how many feasible ones would it have rejected wrongly? One row per (run, predictor):

* ``lut``: the GPU's lookup table from the recipe's store (``--device-name``), as the
  recipe's ``predictor: auto`` finds it, with the scale the screen fits on the trials;
* ``lut-unscaled``: the same table with its scale held at 1 (the screen before the scale);
* ``flops``: GFLOPs and layer count calibrated on the trials (``BuildCost`` on the CPU).

    python benchmarks/screen_replay.py --device-name "NVIDIA H100 80GB HBM3" \\
        --run budget_lut=benchmarks/results/search/under_budget_state/budget_lut.tar.xz \\
        --run budget30=benchmarks/results/search/under_budget_state/budget30.tar.xz \\
        --out benchmarks/results/search/screen_replay_h100.json

The order the trials started in is that of their MLflow runs' start times in the archive's
store.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accelsearch.recipe import load_recipe  # noqa: E402
from accelsearch.search.budget import Budget  # noqa: E402
from accelsearch.search.screen import BuildCost, Screen  # noqa: E402
from accelsearch.search.screen_models import FlopsLatency  # noqa: E402
from accelsearch.search.screen_setup import make_latency_model  # noqa: E402

RECIPE = "recipes/under_budget_gpu.yaml"


def measured_trials(archive: str) -> tuple[list[dict], str]:
    """The run's measured trials (not screened), in the order their MLflow runs started."""
    with tempfile.TemporaryDirectory(prefix="replay-") as folder:  # the archive's copy goes
        tmp = Path(folder)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        run = (tmp / "latest").resolve()
        trials = json.loads((run / "search.json").read_text())["trials"]
        db = sqlite3.connect(tmp / "mlflow.db")
        try:
            start = dict(db.execute("select run_uuid, start_time from runs").fetchall())
        finally:
            db.close()
    rows = [t for t in trials if t["status"] != "screened" and "latency_ms" in t["metrics"]]
    rows.sort(key=lambda t: start.get(t.get("mlflow_run_id"), 0))
    device = rows[0]["metrics"].get("latency_device", "?") if rows else "?"
    return rows, device


def replay(rows: list[dict], model, space, budget_ms: float, cost_of=None) -> dict:
    no_build = lambda p: (0.0, 0.0)  # noqa: E731 - a table needs no sizes
    screen = Screen(Budget(latency_ms=budget_ms), space, model, cost_of=cost_of or no_build)
    out = {"measured": len(rows), "infeasible": 0, "rejected_infeasible": 0, "rejected_feasible": 0}
    for t in rows:
        feasible = t["metrics"]["latency_ms"] <= budget_ms
        out["infeasible"] += not feasible
        verdict = screen.judge(t["params"])
        if not verdict.passed:
            out["rejected_feasible" if feasible else "rejected_infeasible"] += 1
        # the run measured it either way: what the screen learns from the measurement
        screen.predicted.setdefault(screen.encoding.key(t["params"]), verdict.predicted_ms)
        screen.observe(t["params"], t["metrics"])
    summary = screen.summary()
    out["final_margin"] = summary["margin"]
    out["final_scale"] = summary.get("scale")
    out["predictor"] = summary["predictor"]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", action="append", required=True, help="NAME=ARCHIVE")
    p.add_argument("--device-name", required=True, help="the table to use, e.g. the GPU's name")
    p.add_argument("--budget-ms", type=float, default=0.5)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    recipe = load_recipe(
        RECIPE, [f"search.screen.lut.device_name={args.device_name}"], check_data=False
    )
    space = recipe.space.make()
    results = []
    for item in args.run:
        name, archive = item.split("=", 1)
        rows, device = measured_trials(archive)
        for kind in ("lut", "lut-unscaled", "flops"):
            if kind == "flops":
                model, cost = (
                    FlopsLatency(recipe.search.screen.calibration_trials),
                    BuildCost(space, recipe.num_classes),
                )
            else:
                model, cost = make_latency_model(recipe, space, printer=lambda *a: None), None
                model.rescale = kind == "lut"  # unscaled: the screen before the scale
            row = {"run": name, "run_device": device, "screen": kind}
            row.update(replay(rows, model, space, args.budget_ms, cost))
            results.append(row)
            print(json.dumps(row))
    Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))


if __name__ == "__main__":
    main()
