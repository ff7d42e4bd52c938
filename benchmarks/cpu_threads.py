"""CPU latency with as many torch threads as cores, against one core left free.

Why: the quickstart (``recipes/quickstart.yaml``: ``cpus_per_trial: 2``) on a 2-core machine
timed its trials with 2 torch threads, and its latencies came out 10-60x too high (46-313 ms
for models that take 3-5 ms). This script times one model of the quickstart's space with the
project's torch backend and the quickstart's protocol (batch 8, 32 px, fp32) where a search
times it:

* ``driver``: in this process (where LACS times the family's members);
* ``ray_task``: in a Ray task with all the cluster's CPUs (a Ray worker, niceness 15);
* ``tune_trial``: in a Ray Tune trial through accelsearch's own ``run_trial`` (the trial's
  torch threads set as a search sets them, an evaluator that returns at once);

each with ``threads = cores`` (what a trial got before: its CPUs) and with
``cpu_threads(cores)`` (now: one core left to Ray, the driver and the OS), in interleaved
rounds so that both see the same load. With ``--train-epochs`` it also times that many
epochs of the quickstart's proxy training (digits, batch 64) in the driver per setting.

The machine's load is recorded before and after (``uptime``); on a shared machine the
absolute numbers move with it, the ratio between the settings is the finding.

Run here (CPU)::

    ACCELSEARCH_LATENCY_CACHE=off python benchmarks/cpu_threads.py --rounds 3 \\
        --out benchmarks/results/latency/cpu_threads.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._common import environment  # noqa: E402

os.environ["ACCELSEARCH_LATENCY_CACHE"] = "off"  # every number here is measured, not cached

PROTOCOL = {"warmup": 5, "min_reps": 20, "max_reps": 300, "max_seconds": 2.0, "ci_target": 0.01}
SPACE = {"width_mult": 0.25, "resolutions": (32,), "depth_deltas": (-1, 0)}


def quickstart_arch(seed: int):
    from accelsearch import spaces

    space = spaces.get("efficientnet_x", **SPACE)
    return space, space.sample_arch(seed)


def measure_here(seed: int, threads: int) -> dict[str, Any]:
    """Time the arch in this process with ``threads`` torch threads."""
    import torch

    from accelsearch.objectives import latency

    space, arch = quickstart_arch(seed)
    torch.set_num_threads(threads)
    lat = latency.measure(
        space.build(arch, num_classes=10),
        batch_size=8,
        resolution=arch.resolution,
        backend="torch",
        device="cpu",
        protocol=PROTOCOL,
        threads=threads,
    )
    return {"ms": lat.median_ms, "cv": lat.cv, "nice": os.nice(0), "device": lat.device_name}


class Instant:
    """An accuracy evaluator that reports one epoch at once (the trial's latency is timed)."""

    def evaluate(self, arch, report=None) -> float:
        if report is not None:
            report(1, 0.0)
        return 0.0


def tune_trial(seed: int, threads: int, cores: int, storage: str) -> dict[str, Any]:
    """The arch timed by ``run_trial`` in a Ray Tune trial with all the cluster's CPUs."""
    from ray import tune

    from accelsearch.search.settings import LatencySettings, TrialSettings
    from accelsearch.search.trial import TrialContext, run_trial

    space, arch = quickstart_arch(seed)
    lat = LatencySettings(
        backend="torch",
        device="cpu",
        batch_size=8,
        protocol=PROTOCOL,
        options={"threads": threads},
        default_threads=cores,
    )
    settings = TrialSettings(latency=lat, reward_target_ms=3.0, num_classes=10, cpus=cores)
    ctx = TrialContext.for_workers(space, Instant(), settings, checkpoint_result=False)
    trainable = tune.with_resources(tune.with_parameters(run_trial, ctx=ctx), {"cpu": cores})
    grid = tune.Tuner(
        trainable,
        param_space=space.encode(arch),
        tune_config=tune.TuneConfig(num_samples=1),
        run_config=tune.RunConfig(verbose=0, storage_path=storage),
    ).fit()
    m = grid[0].metrics
    if "latency_ms" not in m:
        raise RuntimeError(f"the trial failed: {m.get('error')}")
    return {"ms": m["latency_ms"], "cv": m["latency_cv"], "device": m["latency_device"]}


def train_seconds(seed: int, threads: int, epochs: int) -> float:
    import torch

    from accelsearch.objectives.accuracy import TrainEvaluator

    _, arch = quickstart_arch(seed)
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    TrainEvaluator(
        dataset="digits", epochs=epochs, batch_size=64, lr=0.1, augment=["crop"], threads=threads
    ).evaluate(arch)
    return time.perf_counter() - t0


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run(args) -> dict[str, Any]:
    import ray

    from accelsearch.search.settings import cpu_threads, usable_cores

    cores = usable_cores()
    settings = {"all_cores": cores, "one_core_free": cpu_threads(cores)}
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=cores)(measure_here)
    storage = tempfile.mkdtemp(prefix="cpu-threads-")
    rows: list[dict[str, Any]] = []
    for r in range(args.rounds):
        for name, threads in settings.items():
            where = {
                "driver": lambda t=threads: measure_here(args.seed, t),
                "ray_task": lambda t=threads: ray.get(task.remote(args.seed, t)),
                "tune_trial": lambda t=threads: tune_trial(args.seed, t, cores, storage),
            }
            for place, fn in where.items():
                row = {"round": r, "setting": name, "threads": threads, "where": place, **fn()}
                rows.append(row)
                print(json.dumps(row), flush=True)
            if args.train_epochs:
                secs = train_seconds(args.seed, threads, args.train_epochs)
                row = {"round": r, "setting": name, "threads": threads, "where": "train_driver"}
                rows.append({**row, "train_s": secs})
                print(json.dumps(rows[-1]), flush=True)
    ray.shutdown()
    return {"cores": cores, "settings": settings, "rows": rows}


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for key in sorted({(r["setting"], r["threads"], r["where"]) for r in rows}):
        vals = [
            r.get("ms", r.get("train_s"))
            for r in rows
            if (r["setting"], r["threads"], r["where"]) == key
        ]
        out.append(
            {
                "setting": key[0],
                "threads": key[1],
                "where": key[2],
                "unit": "s" if key[2] == "train_driver" else "ms",
                "median": statistics.median(vals),
                "min": min(vals),
                "max": max(vals),
                "n": len(vals),
            }
        )
    return out


def write_md(path: Path, data: dict[str, Any]) -> None:
    env = data["environment"]
    lines = [
        "# CPU latency: torch threads = cores against one core left free",
        "",
        f"{env['date']}, {env['device_name']} ({data['cores']} cores), torch {env['torch']}; "
        f"model: the quickstart space's `sample_arch({data['seed']})`, batch 8, fp32, 32 px.",
        f"Load before: `{data['uptime_before']}`; after: `{data['uptime_after']}`.",
        "",
        f"Command: `{data['command']}`",
        "",
        "| setting | threads | where | median | min | max | n |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in data["summary"]:
        u = s["unit"]
        lines.append(
            f"| {s['setting']} | {s['threads']} | {s['where']} | {s['median']:.2f} {u} | "
            f"{s['min']:.2f} {u} | {s['max']:.2f} {u} | {s['n']} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0, help="sample_arch seed of the timed model")
    p.add_argument("--train-epochs", type=int, default=1, help="0: no training timed")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/latency/cpu_threads.json")
    args = p.parse_args()
    before = uptime()
    data = run(args)
    data.update(
        seed=args.seed,
        uptime_before=before,
        uptime_after=uptime(),
        command="python " + " ".join(sys.argv),
        environment=environment("cpu"),
        summary=summarise(data["rows"]),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2))
    write_md(args.out.with_suffix(".md"), data)
    print(args.out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
