"""Where a search's hypervolume gap lies on NAS-Bench-201's accuracy-latency front.

``run`` drives ``pool-bo`` (any options) on seeds as ``search_efficiency_nb201.py`` does (same
tables, same cache for a repeated cell, same scorer) and keeps each run's training order;
``gaps`` splits each run's missing hypervolume in the accuracy >= 85 % region by latency
band (shares of the true front's region hypervolume, so a run's bands sum to 1 - its ratio)
and reports the ceiling of a pool that keeps one random cell per measured latency (pool-bo's
``merge_equal_latency``) when every member is trained.

    python benchmarks/hv_gap_nb201.py run --seeds 10-49 --out /tmp/dev.json \\
        [--options '{"exploit_every": 4}'] [--workers 2]
    python benchmarks/hv_gap_nb201.py gaps /tmp/dev.json [--bands 0,1,1.5,2,2.5,5]

Tables: ``--nb201-csv`` (NATS-Bench CIFAR-10 accuracy, 200 epochs; default the shared copy)
and ``--latency-csv`` (the H200 table, also pool-bo's predictor).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for _path in (HERE.parent, HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import search_efficiency_nb201 as bench  # noqa: E402

NB201 = "/work/shared/data/nb201/nats_bench_tss.csv"
LATENCY = str(HERE / "results/nb201/nb201_latency_h200.csv")
FOCUS = 85.0
EVALUATIONS = 100  # per run, as the checkpoint


def run_seed(job: tuple[int, dict, int]) -> dict:
    """One pool-bo run: the cells it trained, in order, and its ratios at the end."""
    seed, options, cap = job
    acc, lat, scorer = bench._STATE["acc"], bench._STATE["lat"], bench._STATE["scorer"]
    alg, space = bench.make_search("pool-bo", seed, options)
    order, _ = bench.trained_cells(alg, space, cap)
    whole, focus = scorer.ratios([acc[c] for c in order], [lat[c] for c in order])
    return {"seed": seed, "order": order, "hv": whole, "hv_focus": focus}


def seeds_of(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def run(args) -> int:
    options = json.loads(args.options) if args.options else {}
    record = {"options": options, "evaluations": args.evaluations}
    init = (args.nb201_csv, args.latency_csv, FOCUS, None, "table")
    run_seeds(record, args.seeds, args.out, args.workers, bench._init, init)
    return 0


def run_seeds(record: dict, seeds: str, out: str, workers: int, initializer, initargs) -> None:
    """Run :func:`run_seed` on ``seeds`` (``"10-49"``) with ``record``'s options and
    evaluations in ``workers`` processes started by ``initializer(*initargs)``; ``record``
    (with the command and the runs) is written to ``out`` as runs finish, so a cut run keeps
    them."""
    record.update(command=" ".join(sys.argv), runs=[])
    jobs = [(s, record["options"], record["evaluations"]) for s in seeds_of(seeds)]
    with mp.get_context("spawn").Pool(workers, initializer, initargs) as pool:
        for res in pool.imap_unordered(run_seed, jobs):
            record["runs"].append(res)
            Path(out).write_text(json.dumps(record))
            print(f"seed {res['seed']}: {res['hv_focus']:.4f}", flush=True)


def staircase(acc: np.ndarray, lat: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The best accuracy reached at or below each grid latency (``FOCUS`` before any)."""
    order = np.argsort(lat)
    best = np.maximum.accumulate(acc[order])
    k = np.searchsorted(lat[order], grid, side="right") - 1
    return np.maximum(np.where(k >= 0, best[np.maximum(k, 0)], FOCUS), FOCUS)


def band_shares(record: dict, acc: dict, lat: dict, bands: list[float]) -> list[dict]:
    """Per run: its region ratio and the true front's region hypervolume it misses in each
    latency band (shares of the whole; they sum to ``1 - ratio`` up to the grid)."""
    cells = list(lat)
    t = np.array([lat[c] for c in cells])
    grid = np.linspace(t.min(), t.max(), 20_000)
    true = staircase(np.array([acc[c] for c in cells]), t, grid)
    total = (true - FOCUS).sum()
    rows = []
    for r in sorted(record["runs"], key=lambda r: r["seed"]):
        o = r["order"]
        found = staircase(np.array([acc[c] for c in o]), np.array([lat[c] for c in o]), grid)
        missing = true - found
        shares = [
            missing[(grid >= lo) & (grid < hi)].sum() / total for lo, hi in zip(bands, bands[1:])
        ]
        rows.append({"seed": r["seed"], "ratio": 1 - missing.sum() / total, "shares": shares})
    return rows


def gaps(args) -> int:
    acc, lat, _, _ = bench.load_tables(args.nb201_csv, args.latency_csv)
    bands = [float(x) for x in args.bands.split(",")]
    rows = band_shares(json.loads(Path(args.record).read_text()), acc, lat, bands)
    print("seed | ratio | " + " | ".join(f"{lo:g}-{hi:g} ms" for lo, hi in zip(bands, bands[1:])))
    for row in rows:
        print(
            f"{row['seed']} | {row['ratio']:.4f} | " + " | ".join(f"{x:.4f}" for x in row["shares"])
        )
    print(
        "mean | | " + " | ".join(f"{x:.4f}" for x in np.mean([r["shares"] for r in rows], axis=0))
    )
    print(f"ceiling, one random cell per latency, all trained: {merged_ceiling(acc, lat):.4f}")
    return 0


def merged_ceiling(acc: dict, lat: dict, draws: int = 20) -> float:
    """Mean region ratio of the whole pool when one random cell per latency value is kept."""
    scorer = bench.Scorer(acc, lat, FOCUS)
    cells = list(lat)
    t = np.array([lat[c] for c in cells])
    a = np.array([acc[c] for c in cells])
    out = []
    for s in range(draws):
        perm = np.random.default_rng(s).permutation(len(cells))
        _, first = np.unique(t[perm], return_index=True)
        out.append(scorer.ratios(a[perm[first]], t[perm[first]])[1])
    return float(np.mean(out))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--nb201-csv", default=NB201)
    p.add_argument("--latency-csv", default=LATENCY)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--seeds", required=True, help="e.g. 10-49")
    r.add_argument("--out", required=True)
    r.add_argument("--options", help="pool-bo options as JSON")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--evaluations", type=int, default=EVALUATIONS)
    g = sub.add_parser("gaps")
    g.add_argument("record")
    g.add_argument("--bands", default="0,1,1.5,2,2.5,5")
    args = p.parse_args(argv)
    return run(args) if args.cmd == "run" else gaps(args)


if __name__ == "__main__":
    raise SystemExit(main())
