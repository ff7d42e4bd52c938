"""Zero-cost proxies against NAS-Bench-201: Kendall's tau with CIFAR-10 test accuracy.

Samples ``--cells`` cells (seeded) of NATS-Bench's topology table, builds each in the
benchmark's CIFAR skeleton (the ``nb201`` space: C = 16, N = 5, 10 classes, 32 px), scores it
with every proxy of ``accelsearch.objectives.accuracy.proxies`` on one batch (real
CIFAR-10 training images when ``--cifar`` exists, else Gaussian noise), and reports, per
proxy, Kendall's tau and Spearman's rho against the table's CIFAR-10 test accuracy (and
CIFAR-100 / ImageNet16-120), plus the compute time per cell. A proxy that fails on a cell
(a non-finite score, e.g. NASWOT's log-determinant of a singular kernel in a cell that is
all ``none``) counts as that proxy's lowest score there; the failures are counted.

CPU is fine (``--device cpu``); ``--quick`` scores 20 cells with a batch of 16. Writes JSON
as it goes (``--out``) and a markdown summary (``--md``).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

from _common import ResultFile, environment, kendall_tau, spearman_rho, text_table

DEFAULT_CSV = "../shared/data/nb201/nats_bench_tss.csv"
DEFAULT_CIFAR = "../shared/data/cifar10/cifar10-train-50k.tar.gz"
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nb201-csv", default=DEFAULT_CSV)
    p.add_argument("--cifar", default=DEFAULT_CIFAR, help="images for the real batch ('' = noise)")
    p.add_argument("--out", default="benchmarks/results/accuracy/zero_cost_nb201.json")
    p.add_argument("--md", default=None, help="markdown summary (default: --out with .md)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--cells", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--proxies", default="synflow,naswot,jacob_cov,grad_norm,zen,params,flops")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--cells-per-stage", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--resume", action="store_true", help="keep the cells already in --out")
    args = p.parse_args(argv)
    if args.quick:
        args.cells = min(args.cells, 20)
        args.batch_size = min(args.batch_size, 16)
    if args.md is None:
        args.md = str(Path(args.out).with_suffix(".md"))
    return args


def main(argv=None) -> int:
    import numpy as np
    import torch

    from accelsearch import spaces
    from accelsearch.objectives.accuracy import proxies
    from accelsearch.objectives.accuracy.table import TableAccuracy

    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if "nb201" not in spaces.list():
        raise SystemExit("this checkout has no 'nb201' space yet (it comes with the spaces work)")
    names = [n for n in args.proxies.split(",") if n]
    for n in names:
        proxies.PROXIES.get(n)  # unknown names fail before any work
    tables = {d: TableAccuracy.nb201(args.nb201_csv, d) for d in DATASETS}
    keys = sorted(tables["cifar10"].keys())
    rng = np.random.default_rng(args.seed)
    chosen = [
        keys[i] for i in rng.choice(len(keys), size=min(args.cells, len(keys)), replace=False)
    ]
    space = spaces.get("nb201", channels=args.channels, cells_per_stage=args.cells_per_stage)

    batch = None
    data_note = "Gaussian noise"
    if args.cifar and Path(args.cifar).exists():
        batch = proxies.batch_from_dataset(args.cifar, args.batch_size, 32, seed=args.seed)
        data_note = f"one batch of {args.batch_size} CIFAR-10 training images ({args.cifar})"
    if args.resume and Path(args.out).exists():
        Path(args.out).replace(args.out + ".prev")
    out = ResultFile(
        args.out,
        {
            "benchmark": "zero_cost_nb201",
            "environment": environment(args.device, backend="torch eager", precision="fp32"),
            "args": vars(args),
            "data": data_note,
            "space": {"channels": args.channels, "cells_per_stage": args.cells_per_stage},
            "cells": [],
            "status": "running",
        },
    )
    doc = out.doc
    done: dict[str, dict] = {}
    if args.resume and Path(args.out + ".prev").exists():
        import json

        prev = json.loads(Path(args.out + ".prev").read_text())
        done = {c["cell"]: c for c in prev.get("cells", []) if set(names) <= set(c["scores"])}
    t_start = time.perf_counter()
    for k, cell in enumerate(chosen):
        if cell in done:
            doc["cells"].append(done[cell])
            continue
        arch = space.from_string(cell)
        torch.manual_seed(args.seed)
        model = space.build(arch, num_classes=10)
        rec = {
            "cell": cell,
            **{d: tables[d].lookup(cell) for d in DATASETS},
            "scores": {},
            "seconds": {},
        }
        for n in names:
            t0 = time.perf_counter()
            try:
                value = proxies.score(
                    n,
                    model,
                    (3, 32, 32),
                    batch=batch if n not in ("synflow", "params", "flops") else None,
                    batch_size=args.batch_size,
                    seed=args.seed,
                    device=args.device,
                )
            except Exception as exc:  # noqa: BLE001 - recorded per cell, the run goes on
                value = None
                rec.setdefault("errors", {})[n] = str(exc)[:200]
            rec["scores"][n] = value
            rec["seconds"][n] = time.perf_counter() - t0
        doc["cells"].append(rec)
        if (k + 1) % 10 == 0 or k + 1 == len(chosen):
            doc["elapsed_s"] = time.perf_counter() - t_start
            out.write()
            print(f"[zero-cost] {k + 1}/{len(chosen)} cells, {doc['elapsed_s']:.0f} s", flush=True)

    summary = {}
    cells = doc["cells"]
    for n in names:
        raw = [c["scores"][n] for c in cells]
        finite = [v for v in raw if v is not None and math.isfinite(v)]
        floor = (min(finite) - 1.0) if finite else 0.0
        vals = [v if v is not None and math.isfinite(v) else floor for v in raw]
        summary[n] = {
            "failures": len(raw) - len(finite),
            "mean_seconds_per_cell": float(np.mean([c["seconds"][n] for c in cells])),
            **{f"kendall_tau_{d}": kendall_tau(vals, [c[d] for c in cells]) for d in DATASETS},
            "spearman_rho_cifar10": spearman_rho(vals, [c["cifar10"] for c in cells]),
        }
    doc["summary"] = summary
    doc["mean_seconds_per_cell_all_proxies"] = float(
        np.mean([sum(c["seconds"].values()) for c in cells])
    )
    doc["status"] = "done"
    doc["elapsed_s"] = time.perf_counter() - t_start
    out.write()

    head = ["proxy", "tau C10", "rho C10", "tau C100", "tau IN16", "s/cell", "failed"]
    rows = [
        [
            n,
            s["kendall_tau_cifar10"],
            s["spearman_rho_cifar10"],
            s["kendall_tau_cifar100"],
            s["kendall_tau_ImageNet16-120"],
            s["mean_seconds_per_cell"],
            s["failures"],
        ]
        for n, s in sorted(summary.items(), key=lambda kv: -(kv[1]["kendall_tau_cifar10"] or -9))
    ]
    table = text_table(head, rows)
    print(table)
    env = doc["environment"]
    Path(args.md).write_text(
        "# Zero-cost proxies on NAS-Bench-201\n\n"
        f"{len(cells)} cells sampled (seed {args.seed}) from `{Path(args.nb201_csv).name}`, "
        f"built with the `nb201` space (C={args.channels}, N={args.cells_per_stage}, 10 classes, "
        f"32 px); proxies computed on {data_note} ({args.device}, {env['device_name']}, "
        f"torch {env['torch']}, {env['date']}). Kendall's tau / Spearman's rho against the "
        "table's test accuracy after 200 epochs.\n\n"
        "```\n" + table + "\n```\n\n"
        f"Mean compute per cell for all {len(names)} proxies: "
        f"{doc['mean_seconds_per_cell_all_proxies']:.2f} s. Reproduce with "
        f"`python benchmarks/zero_cost_nb201.py --cells {args.cells} --batch-size "
        f"{args.batch_size}`.\n"
    )
    print(f"results in {args.out} and {args.md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
