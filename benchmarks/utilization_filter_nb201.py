"""Utilisation-based approximate filtering on NAS-Bench-201: evaluations vs front quality.

Inputs: NATS-Bench's topology table (accuracy, looked up: the "expensive" evaluation) and a
per-cell latency table measured on the GPU (``benchmarks/nb201_latency_table.py`` writes
it): one row per cell with its string, latency of a batch, the batch size and the FLOPs of
one image. From them: throughput = batch / latency, utilisation = FLOPs × throughput ÷
peak FLOP/s (``--peak-tflops``; it only scales the numbers, the kept set does not depend
on it).

Compared, by the number of accuracy evaluations and the hypervolume of the final
(accuracy ↑, throughput ↑) front of the evaluated cells:

* ``all``: evaluate every cell (the best front there is);
* ``utilization``: keep the first k non-dominated fronts of (throughput ↑, utilisation ↑);
* ``flops``: keep the first k fronts of (throughput ↑, FLOPs ↑) (FLOPs as the filter);
* ``random``: as many random cells as ``utilization`` evaluates with k fronts (mean of
  ``--random-draws``).

Hypervolume: both objectives normalised to [0, 1] with the bounds of *all* cells of the
latency table (so every method is measured in the same box), reference point 1.1 (10 %
beyond the worst value of each), pymoo's HV (see ``accelsearch.objectives.reward``).
Reported as a fraction of ``all``'s.

``--quick`` makes a synthetic latency table (an analytic per-op cost model with noise,
NOT a measurement) for 300 cells so the script can be tested without a GPU; it says so in
its JSON. Columns of the latency CSV can be renamed with ``--key-column`` etc.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from _common import ResultFile, environment, text_table

DEFAULT_NB201 = "../shared/data/nb201/nats_bench_tss.csv"
# nb201_latency_table.py's per-cell table (rows a fill model predicted are skipped by default)
DEFAULT_LATENCY = "benchmarks/results/nb201/nb201_latency_h200.csv"

# NB201 skeleton (C=16, N=5, 32 px, 10 classes): multiply-adds of one image
_BASE_MACS = 7.78e6  # stem, reduction blocks, classifier (a cell of only skip/none)
_CONV3_MACS = 35.39e6  # one nor_conv_3x3 edge in all 15 cells
_CONV1_MACS = 3.93e6  # one nor_conv_1x1 edge in all 15 cells


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nb201-csv", default=DEFAULT_NB201)
    p.add_argument(
        "--latency-csv",
        default=DEFAULT_LATENCY,
        help="per-cell latency CSV (columns arch_string, latency_ms, batch_size, flops); a "
        "glob must match one file",
    )
    p.add_argument("--dataset", default="cifar10", help="cifar10, cifar100 or ImageNet16-120")
    p.add_argument(
        "--peak-tflops", type=float, default=989.0, help="dense fp16/bf16 peak of the GPU"
    )
    p.add_argument("--out", default="benchmarks/results/utilization_filter_nb201.json")
    p.add_argument("--md", default=None, help="markdown summary (default: --out with .md)")
    p.add_argument("--device", default="cpu", help="unused: this script only analyses tables")
    p.add_argument("--quick", action="store_true", help="synthetic latency table (no GPU)")
    p.add_argument("--quick-cells", type=int, default=300)
    p.add_argument("--max-fronts", type=int, default=6)
    p.add_argument("--random-draws", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--key-column", default="arch_string")
    p.add_argument("--latency-column", default="latency_ms")
    p.add_argument("--batch-column", default="batch_size")
    p.add_argument("--flops-column", default="flops", help="FLOPs of one image (or gflops/macs)")
    p.add_argument("--batch-size", type=int, default=None, help="when the CSV has no batch column")
    p.add_argument(
        "--include-predicted",
        action="store_true",
        help="also use rows whose latency_source is 'predicted' (default: measured rows only)",
    )
    args = p.parse_args(argv)
    if args.md is None:
        args.md = str(Path(args.out).with_suffix(".md"))
    return args


def _ops(cell: str) -> list[str]:
    return [e.split("~")[0] for node in cell.split("+") for e in node.strip("|").split("|")]


def synthetic_table(nb201_csv: str, n: int, seed: int, path: Path) -> Path:
    """A made-up latency table (cost model + 3 % noise) for testing the script."""
    import numpy as np

    from accelsearch.objectives.accuracy.table import TableAccuracy

    keys = sorted(TableAccuracy.nb201(nb201_csv).keys())
    rng = np.random.default_rng(seed)
    cells = [keys[i] for i in rng.choice(len(keys), size=min(n, len(keys)), replace=False)]
    cost_ms = {
        "nor_conv_3x3": 0.25,
        "nor_conv_1x1": 0.15,
        "avg_pool_3x3": 0.2,
        "skip_connect": 0.05,
        "none": 0.0,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["arch_string", "latency_ms", "batch_size", "flops", "params"])
        for cell in cells:
            ops = _ops(cell)
            macs = (
                _BASE_MACS
                + _CONV3_MACS * ops.count("nor_conv_3x3")
                + _CONV1_MACS * ops.count("nor_conv_1x1")
            )
            lat = (0.3 + sum(cost_ms[o] for o in ops)) * float(rng.normal(1.0, 0.03))
            w.writerow([cell, f"{lat:.5f}", 256, f"{2 * macs:.0f}", ""])
    return path


def read_latency_table(args) -> list[dict]:
    path = Path(args.latency_csv)
    if any(ch in args.latency_csv for ch in "*?["):
        matches = sorted(
            p for p in Path().glob(args.latency_csv) if not p.name.endswith(".graphs.csv")
        )
        if len(matches) != 1:
            raise SystemExit(
                f"--latency-csv {args.latency_csv!r} matches {len(matches)} files "
                f"({', '.join(map(str, matches)) or 'none'}); name one, or use --quick"
            )
        path = matches[0]
        args.latency_csv = str(path)
    if not path.is_file():
        raise SystemExit(
            f"latency table {path} does not exist; measure it on the GPU with "
            "benchmarks/nb201_latency_table.py, or use --quick for a synthetic one"
        )
    rows = []
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        flops_col = next(
            (c for c in (args.flops_column, "flops", "gflops", "macs", "gmacs") if c in cols), None
        )
        need = [args.key_column, args.latency_column]
        missing = [c for c in need if c not in cols] + ([] if flops_col else ["flops"])
        if args.batch_column not in cols and args.batch_size is None:
            missing.append(args.batch_column + " (or --batch-size)")
        if missing:
            raise SystemExit(f"{path}: missing column(s) {missing}; it has {cols}")
        scale = {"gflops": 1e9, "macs": 2.0, "gmacs": 2e9}.get(flops_col, 1.0)
        for row in reader:
            if not row.get(args.latency_column):
                continue  # a cell that failed to measure
            if row.get("latency_source") == "predicted" and not args.include_predicted:
                continue  # nb201_latency_fill.py's model, not a measurement
            bs = (
                int(row[args.batch_column])
                if args.batch_column in cols and row.get(args.batch_column)
                else args.batch_size
            )
            rows.append(
                {
                    "cell": row[args.key_column].strip(),
                    "latency_ms": float(row[args.latency_column]),
                    "batch_size": int(bs),
                    "flops": float(row[flops_col]) * scale,
                }
            )
    if not rows:
        raise SystemExit(f"{path} has no measured rows")
    return rows


def main(argv=None) -> int:
    import numpy as np

    from accelsearch.objectives.accuracy.table import TableAccuracy
    from accelsearch.objectives.filtering import (
        CheapMetrics,
        UtilizationFilter,
        throughput_from_latency,
    )
    from accelsearch.objectives.reward import hypervolume, pareto_front

    args = parse_args(argv)
    t_start = time.perf_counter()
    synthetic = False
    if args.quick:
        args.latency_csv = str(
            synthetic_table(
                args.nb201_csv,
                args.quick_cells,
                args.seed,
                Path(args.out).with_suffix(".synthetic.csv"),
            )
        )
        synthetic = True
    table = TableAccuracy.nb201(args.nb201_csv, args.dataset)
    rows = read_latency_table(args)
    cheap = [
        CheapMetrics(
            throughput=throughput_from_latency(r["latency_ms"], r["batch_size"]),
            flops=r["flops"],
            latency_ms=r["latency_ms"],
            batch_size=r["batch_size"],
        )
        for r in rows
    ]
    peak = args.peak_tflops * 1e12
    cells = [r["cell"] for r in rows]
    accuracy = {c: table.lookup(c) for c in cells}  # every cell, for 'all' and the bounds
    thr = np.array([c.throughput for c in cheap])
    acc = np.array([accuracy[c] for c in cells])
    senses = ["max", "max"]
    bounds = [(acc.min(), acc.max()), (thr.min(), thr.max())]

    def hv(idx) -> float:
        idx = list(idx)
        return (
            hypervolume(np.column_stack([acc[idx], thr[idx]]), senses, bounds=bounds)
            if idx
            else 0.0
        )

    true_front = set(pareto_front(np.column_stack([acc, thr]), senses).tolist())
    hv_all = hv(range(len(cells)))
    out = ResultFile(
        args.out,
        {
            "benchmark": "utilization_filter_nb201",
            "environment": environment("cpu", analysis_only=True),
            "args": vars(args),
            "latency_table": {
                "path": args.latency_csv,
                "synthetic": synthetic,
                "cells": len(cells),
                "batch_sizes": sorted({r["batch_size"] for r in rows}),
            },
            "hypervolume": {
                "objectives": "accuracy (max), throughput img/s (max)",
                "bounds": bounds,
                "reference_point": "1.1 in each normalised objective",
                "all": hv_all,
            },
            "true_front_size": len(true_front),
            "methods": [],
        },
    )
    doc = out.doc

    def record(method: str, k, kept: list[int], extra=None):
        h = hv(kept)
        entry = {
            "method": method,
            "fronts": k,
            "evaluations": len(kept),
            "evaluated_fraction": len(kept) / len(cells),
            "hypervolume": h,
            "hypervolume_ratio": h / hv_all if hv_all else None,
            "true_front_found": len(true_front & set(kept)),
            **(extra or {}),
        }
        doc["methods"].append(entry)
        return entry

    record("all", None, list(range(len(cells))))
    rng = np.random.default_rng(args.seed)
    for k in range(1, args.max_fronts + 1):
        for by in ("utilization", "flops"):
            f = UtilizationFilter(by=by, fronts=k)
            run = f.run(cells, cheap, lambda c: accuracy[c])
            record(by, k, run.kept)
        n_util = doc["methods"][-2]["evaluations"]
        draws = [
            hv(rng.choice(len(cells), size=n_util, replace=False)) for _ in range(args.random_draws)
        ]
        record(
            "random",
            k,
            [],
            {
                "evaluations": n_util,
                "evaluated_fraction": n_util / len(cells),
                "hypervolume": float(np.mean(draws)),
                "hypervolume_ratio": float(np.mean(draws)) / hv_all if hv_all else None,
                "hypervolume_std": float(np.std(draws)),
                "true_front_found": None,
            },
        )
        out.write()
    doc["utilization_stats"] = {
        "peak_tflops": args.peak_tflops,
        "min": float(min(c.achieved_flops for c in cheap) / peak),
        "max": float(max(c.achieved_flops for c in cheap) / peak),
    }
    doc["elapsed_s"] = time.perf_counter() - t_start
    doc["status"] = "done"
    out.write()

    head = ["method", "fronts", "evals", "% of cells", "HV / HV(all)", "true front found"]
    rows_out = [
        [
            m["method"],
            m["fronts"],
            m["evaluations"],
            100 * m["evaluated_fraction"],
            m["hypervolume_ratio"],
            m["true_front_found"],
        ]
        for m in doc["methods"]
    ]
    text = text_table(head, rows_out)
    print(text)
    note = (
        "SYNTHETIC latency table (cost model, not a measurement)"
        if synthetic
        else f"latency table `{args.latency_csv}`"
    )
    Path(args.md).write_text(
        "# Utilisation-based filtering on NAS-Bench-201\n\n"
        f"{len(cells)} cells from the {note}; accuracy: NATS-Bench {args.dataset} test accuracy "
        f"(200 epochs). Throughput = batch / latency; utilisation = FLOPs × throughput ÷ "
        f"{args.peak_tflops:g} TFLOP/s (range {doc['utilization_stats']['min']:.2e} – "
        f"{doc['utilization_stats']['max']:.2e}). Hypervolume of the (accuracy, throughput) front of "
        "the evaluated cells, normalised with the bounds of all cells, reference point 1.1; "
        f"the true front has {len(true_front)} cells.\n\n```\n{text}\n```\n"
    )
    print(f"results in {args.out} and {args.md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
