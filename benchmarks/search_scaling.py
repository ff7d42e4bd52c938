"""Scaling: completed trials per hour with 1, 2 and 4 concurrent GPU trials.

Each setting runs a real search (``random`` strategy, so the sampler costs nothing and
every setting evaluates comparable archs): each trial builds an ``efficientnet_x`` arch,
measures its latency on its GPU (CUDA graphs, fp16) and trains it for ``--epochs`` on
``--dataset`` (the proxy-training evaluator), with ``--trials-per-slot`` × concurrency
trials, one GPU per trial (``--gpus-per-trial``; give a fraction such as 0.5 to share one
GPU between trials on a single-GPU machine). MLflow logs to a temporary SQLite store.
Result per setting: wall seconds, completed trials, trials per hour, speed-up over one
trial at a time, mean seconds inside a trial. Each level writes its completed-trial count
as trials finish (``progress``), so a level cut short still leaves its rate so far.

Latency measurements hold a per-GPU lock (one measurement at a time on one GPU), training
does not; on a shared GPU concurrent trials therefore slow each other's training.

GPU machine with 4 GPUs (about 8 minutes with CIFAR-10, 2 epochs)::

    python benchmarks/search_scaling.py --device cuda --concurrency 1,2,4 \\
        --dataset DATA/cifar10-train-50k.tar.gz --epochs 2 --trials-per-slot 4 \\
        --out benchmarks/results/search_scaling_4gpu.json

One GPU, trials sharing it::

    python benchmarks/search_scaling.py --device cuda --concurrency 1,2,4 --share-one-gpu ...

Here (CPU, to check it works)::

    python benchmarks/search_scaling.py --device cpu --quick --out /tmp/search_scaling_quick.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def recipe_for(args, concurrency: int, gpus_per_trial: float, cpus_per_trial: int):
    from accelsearch.recipe import recipe_from_dict

    return recipe_from_dict(
        {
            "name": f"scaling_c{concurrency}",
            "num_classes": 10,
            "space": {
                "name": "efficientnet_x",
                "options": {
                    "width_mult": args.width_mult,
                    "resolutions": [args.resolution],
                    "depth_deltas": [-1, 0],
                },
            },
            "latency": {
                "backend": "torch",
                "device": args.device,
                "batch_size": args.latency_batch,
                "precision": "fp16" if args.device == "cuda" else "fp32",
            },
            "accuracy": {
                "evaluator": "train",
                "options": {
                    "dataset": args.dataset,
                    "epochs": args.epochs,
                    "batch_size": args.train_batch,
                    "data_fraction": args.data_fraction,
                    "lr": 0.1,
                    "device": args.device,
                },
            },
            "reward": {"target_ms": 1.0},
            "search": {
                "strategy": "random",
                "num_samples": args.trials_per_slot * concurrency,
                "max_concurrent": concurrency,
                "cpus_per_trial": cpus_per_trial,
                "gpus_per_trial": gpus_per_trial,
                "seed": args.seed,
            },
        }
    )


class LevelProgress:
    """The search's printer for one level: keeps each change of the completed-trial count
    (with seconds since the level started) in the level's row and writes the JSON at once,
    so a level cut short by a time limit still leaves its trials per hour so far."""

    def __init__(self, row: dict, write) -> None:
        self.row, self.write = row, write
        self.row.setdefault("progress", [])
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:  # plain messages: not needed here
        pass

    def progress(self, p) -> None:
        steps = self.row["progress"]
        if steps and (steps[-1]["completed"], steps[-1]["failed"]) == (p.done, p.failed):
            return
        elapsed = time.perf_counter() - self.t0
        steps.append({"completed": p.done, "failed": p.failed, "elapsed_s": round(elapsed, 2)})
        if p.done:
            self.row["trials_per_hour_so_far"] = 3600 * p.done / elapsed
        self.write()


def speedups(rows: dict[str, dict]) -> None:
    """Speed-up of each level against the lowest concurrency measured so far, whatever the
    order the levels ran in (``--concurrency 4,2,1`` measures the rarest level first)."""
    done = [r for r in rows.values() if r.get("completed")]
    if not done:
        return
    base = min(done, key=lambda r: r["concurrency"])
    for r in done:
        r["speedup"] = r["trials_per_hour"] / base["trials_per_hour"]
        r["speedup_against"] = base["concurrency"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument(
        "--concurrency",
        default="1,2,4",
        help="trials at a time, one level after another in this order (4,1,2 measures the "
        "4-GPU level first, where GPU time may run out)",
    )
    p.add_argument("--trials-per-slot", type=int, default=4)
    p.add_argument("--gpus-per-trial", type=float, default=1.0)
    p.add_argument("--share-one-gpu", action="store_true", help="gpus per trial = 1/concurrency")
    p.add_argument("--dataset", default="digits", help="'digits' or a CIFAR-10 ImageFolder .tar.gz")
    p.add_argument("--data-fraction", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-batch", type=int, default=256)
    p.add_argument("--latency-batch", type=int, default=128)
    p.add_argument("--width-mult", type=float, default=0.5)
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--quick", action="store_true", help="CPU: digits, 1 epoch, 1 and 2 trials at a time"
    )
    p.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="skip the untimed warm-up search (Ray workers, data cache) before the timed ones",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.device = "cpu"
        args.concurrency = "1,2"
        args.trials_per_slot = 2
        args.epochs = 1
        args.dataset = "digits"
        args.data_fraction = 0.5
        args.width_mult = 0.25
        args.train_batch = 64
        args.latency_batch = 2
    levels = [int(c) for c in args.concurrency.split(",")]

    import ray
    import torch

    from accelsearch.pipeline import make_tracker
    from accelsearch.recipe_search import Search

    n_gpus = torch.cuda.device_count() if args.device == "cuda" else 0
    cpus = os.cpu_count() or 1
    ray.init(
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
        object_store_memory=512 * 1024**2,
    )
    summary = {
        "benchmark": "search_scaling",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(0) if n_gpus else platform.processor() or "cpu",
        "gpus": n_gpus,
        "cpus": cpus,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "ray": ray.__version__,
        },
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "levels": {},
    }

    def write():
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2))

    work = Path(tempfile.mkdtemp(prefix="scaling-"))
    if args.warmup:
        # Untimed: Ray starts its worker processes (each imports torch), the dataset is decoded
        # and cached; otherwise the first setting pays for it and the speed-ups are inflated.
        c = max((x for x in levels if args.device == "cpu" or x <= max(n_gpus, 1)), default=1)
        gpt = 0.0 if args.device == "cpu" else min(1.0, max(n_gpus, 1) / c)
        warm = argparse.Namespace(**{**vars(args), "trials_per_slot": 1, "epochs": 1})
        recipe = recipe_for(warm, c, gpt, max(1, cpus // max(levels))).model_copy(
            update={"name": "scaling_warmup"}
        )
        t0 = time.perf_counter()
        Search(
            recipe,
            work / recipe.name,
            tracker=make_tracker(recipe, work, None),
            printer=lambda s: None,
        ).run()
        summary["warmup_s"] = time.perf_counter() - t0
        print(f"[scaling] warm-up ({c} trials at a time, untimed): {summary['warmup_s']:.0f} s")
    for c in levels:
        gpt = (
            0.0
            if args.device == "cpu"
            else (1.0 / c if args.share_one_gpu else args.gpus_per_trial)
        )
        if args.device == "cuda" and gpt * c > n_gpus + 1e-9:
            summary["levels"][str(c)] = {"skipped": f"needs {gpt * c:g} GPUs, {n_gpus} here"}
            write()
            print(f"[scaling] {c} at a time: skipped (needs {gpt * c:g} GPUs, {n_gpus} here)")
            continue
        cpt = max(1, cpus // max(levels))
        recipe = recipe_for(args, c, gpt, cpt)
        tracker = make_tracker(recipe, work, None)
        partial = {"concurrency": c, "partial": "level still running (or cut short)"}
        summary["levels"][str(c)] = partial
        printer = LevelProgress(partial, write)
        t0 = time.perf_counter()
        res = Search(recipe, work / recipe.name, tracker=tracker, printer=printer).run()
        wall = time.perf_counter() - t0
        done = len(res.completed)
        inside = [t.metrics.get("eval_s", 0.0) for t in res.completed]
        row = {
            "concurrency": c,
            "gpus_per_trial": gpt,
            "cpus_per_trial": cpt,
            "trials": len(res.trials),
            "completed": done,
            "failed": len(res.failed),
            "wall_s": wall,
            "trials_per_hour": 3600 * done / wall,
            "mean_trial_s": sum(inside) / len(inside) if inside else None,
            "progress": partial["progress"],
        }
        summary["levels"][str(c)] = row
        speedups(summary["levels"])
        write()
        print(
            f"[scaling] {c} at a time: {done} trials in {wall:.0f} s, {row['trials_per_hour']:.0f}/h",
            flush=True,
        )
    ray.shutdown()
    print(f"\n{'at a time':>10s}{'trials/h':>12s}{'speed-up':>10s}{'s/trial':>10s}")
    for c, r in summary["levels"].items():
        if "partial" in r:
            print(f"{c:>10s}  cut short: {r.get('trials_per_hour_so_far') or 0:.0f}/h so far")
        elif "skipped" in r:
            print(f"{c:>10s}  skipped: {r['skipped']}")
        else:
            print(
                f"{c:>10s}{r['trials_per_hour']:>12.0f}{r.get('speedup') or 0:>10.2f}{r['mean_trial_s'] or 0:>10.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
