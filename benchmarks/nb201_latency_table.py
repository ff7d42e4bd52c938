"""Latency of every NAS-Bench-201 cell network, measured once per distinct computation graph.

Why graphs, not cells: a ``none`` edge removes its operation, and it can leave other edges
dead - an edge whose source node the input never reaches (its output does not depend on the
image: zero for skip/pool, a per-channel constant for ReLU-Conv-BN that a deployment
compiler folds) or whose target node never reaches the cell's output (computed, then
unused: TensorRT and ONNX optimisers drop it). Replacing every dead edge by ``none`` gives
the cell's *canonical* form; cells with one canonical form run the same live operations,
so they share one latency. Of the 15,625 cells, 9,445 canonical forms remain (NB201's own
"unique" strings go further, to 6,466, by also merging different graphs that compute
equal expressions - with different numbers of operations, so not with equal latency).

Each graph is built once (the canonical cell in the benchmark's skeleton: C=16, N=5,
32 px, 10 classes) in parallel CPU workers and timed on one device with the project's
``torch`` latency backend (CUDA-graph replay, channels_last, fp16 on a GPU; a fixed batch).
Written:

* ``--csv`` (default ``benchmarks/results/nb201/nb201_latency_<device>.csv``): one row per cell:
  ``arch_string, index, graph, graph_id, representative, latency_ms, p10_ms, p90_ms, cv,
  n, flops, params, batch_size, precision, backend, mode, device`` (``flops`` per image =
  2 × multiply-adds; every cell of a graph carries the graph's numbers);
* ``<csv>.graphs.csv``: the measurements, one row per graph, appended as they are made (a
  run cut short keeps them; ``--resume`` measures only the missing graphs);
* ``--out`` JSON: device, versions, date, settings, counts, wall time and rate.

GPU (one H100/H200, 16 cores; ~0.17 s per graph at batch 256, so ~27 minutes for all 9,445
graphs on one GPU; ``--gpus 4`` on a 4-GPU machine; --resume continues)::

    python benchmarks/nb201_latency_table.py --nb201-csv DATA/nats_bench_tss.csv \\
        --device cuda --batch-size 256 --precision fp16 --time-budget-s 540 --gpus 4 \\
        --csv benchmarks/results/nb201/nb201_latency_h200.csv --resume --out benchmarks/results/nb201/nb201_latency_h200.json

Here (CPU, a few graphs, to check it works and to estimate the rate)::

    python benchmarks/nb201_latency_table.py --nb201-csv /work/shared/data/nb201/nats_bench_tss.csv \\
        --device cpu --quick --out /tmp/nb201_latency_quick.json
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, Path(__file__).resolve().parent):  # the package, and benchmarks/_common
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), string order


# -- cells and their canonical graphs ---------------------------------------------------------
def parse(cell: str) -> tuple[str, ...]:
    ops = []
    for node in cell.strip().split("+"):
        ops += [e.split("~")[0] for e in node.strip("|").split("|")]
    if len(ops) != 6 or any(op not in OPS for op in ops):
        raise ValueError(f"not an NB201 cell string: {cell!r}")
    return tuple(ops)


def to_string(ops: tuple[str, ...]) -> str:
    it = iter(zip(EDGES, ops))
    nodes = []
    for i in (1, 2, 3):
        nodes.append(
            "|" + "|".join(f"{op}~{j}" for (_, j), op in (next(it) for _ in range(i))) + "|"
        )
    return "+".join(nodes)


def canonical(ops: tuple[str, ...]) -> tuple[str, ...]:
    """Dead edges (source unreachable from the input, or target not reaching the output)
    replaced by ``none``."""
    live = {e: op != "none" for e, op in zip(EDGES, ops)}
    reach = {0}
    for i in (1, 2, 3):
        if any(live[(i, j)] and j in reach for j in range(i)):
            reach.add(i)
    feeds = {3}
    for j in (2, 1, 0):
        if any(live[(i, j)] and i in feeds for i in range(j + 1, 4)):
            feeds.add(j)
    return tuple(
        op if (op != "none" and j in reach and i in feeds) else "none"
        for (i, j), op in zip(EDGES, ops)
    )


def read_cells(csv_path: str) -> list[str]:
    with open(csv_path, newline="") as fh:
        return [row["ArchitectureString"] for row in csv.DictReader(fh)]


# -- building (CPU workers) -------------------------------------------------------------------
_SPACE = None


def _load_space() -> None:
    global _SPACE
    from accelsearch import spaces

    _SPACE = spaces.get("nb201")


def _init_worker() -> None:
    """A pool worker: one thread each, the space loaded once."""
    import torch

    torch.set_num_threads(1)
    _load_space()


def build(graph: str):
    """(graph, model, flops per image, params, seconds) - runs in a worker."""
    from accelsearch.accounting import model_cost

    t0 = time.perf_counter()
    arch = _SPACE.from_string(graph)
    model = _SPACE.build(arch, num_classes=10).eval()
    cost = model_cost(model, arch.resolution, arch.in_chans)
    return graph, model, 2 * cost.macs, cost.params, time.perf_counter() - t0


# -- the run ------------------------------------------------------------------------------------
GRAPH_FIELDS = [
    "graph",
    "latency_ms",
    "p10_ms",
    "p90_ms",
    "cv",
    "n",
    "flops",
    "params",
    "batch_size",
    "precision",
    "backend",
    "mode",
    "device",
    "gpu",
    "build_s",
    "measure_s",
]


def versions() -> dict:
    import torch

    v = {"python": platform.python_version(), "torch": torch.__version__}
    try:
        import timm

        v["timm"] = timm.__version__
    except ImportError:
        pass
    if torch.version.cuda:
        v["cuda"] = torch.version.cuda
    return v


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--nb201-csv", required=True, help="nats_bench_tss.csv (its ArchitectureString column)"
    )
    p.add_argument("--out", required=True, help="JSON summary (written as the run goes)")
    p.add_argument(
        "--csv",
        help="per-cell table (default: benchmarks/results/nb201/nb201_latency_<device>.csv)",
    )
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--precision", default=None, help="fp16 on cuda (default), fp32 on cpu")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="CPU processes that build the networks (0: build in this process; a build takes "
        "~0.04 s against ~0.15 s to measure, and a spawned pool stalled on an H200 run)",
    )
    p.add_argument(
        "--gpus",
        type=int,
        default=1,
        help="measure on this many GPUs of the machine at once, one process each, every "
        "process taking every N-th graph still to measure (the rows say which GPU)",
    )
    p.add_argument("--shard", default=None, help=argparse.SUPPRESS)  # "i/N", set by --gpus
    # a shard's parent table: graphs measured before are skipped
    p.add_argument("--done-csv", type=Path, default=None, help=argparse.SUPPRESS)
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="graphs are measured in a random order of this seed, so a table cut short by "
        "the time budget holds a uniform sample",
    )
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--reps", type=int, default=10, help="minimum timed replays per graph")
    p.add_argument("--max-reps", type=int, default=40)
    p.add_argument("--time-budget-s", type=float, default=540, help="stop measuring after this")
    p.add_argument("--limit", type=int, help="measure at most this many graphs")
    p.add_argument("--resume", action="store_true", help="skip graphs already in <csv>.graphs.csv")
    p.add_argument("--quick", action="store_true", help="CPU check: 16 graphs, batch 1, 3 reps")
    args = p.parse_args(argv)
    if args.quick:
        args.limit = args.limit or 16
        args.batch_size = 1
        args.workers = min(args.workers, 2)
        args.warmup, args.reps, args.max_reps = 1, 3, 3
    args.precision = args.precision or ("fp16" if args.device == "cuda" else "fp32")
    if args.gpus < 1 or (args.gpus > 1 and args.device != "cuda"):
        p.error(f"--gpus {args.gpus}: use 1, or several with --device cuda")
    return args


def read_graph_rows(*paths: Path) -> dict[str, dict]:
    """Measured graphs from one or more ``.graphs.csv`` files (a later file wins)."""
    rows: dict[str, dict] = {}
    for path in paths:
        if path.exists():
            with open(path, newline="") as fh:
                rows.update({row["graph"]: row for row in csv.DictReader(fh)})
    return rows


def append_rows(path: Path, rows: list[dict], fresh: bool = False) -> None:
    """Append measured graphs (a header first in a new file; a file written before a column
    was added is rewritten with today's columns, its rows kept)."""
    new_file = fresh or not path.exists()
    if not new_file:
        with open(path, newline="") as fh:
            header = next(csv.reader(fh), [])
        if header != GRAPH_FIELDS:
            rows = [*read_graph_rows(path).values(), *rows]
            new_file = True
    with open(path, "w" if new_file else "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=GRAPH_FIELDS, restval="")
        if new_file:
            writer.writeheader()
        writer.writerows(rows)


def measure_graphs(args, todo: list[str], graphs_csv: Path, on_progress) -> tuple[int, bool]:
    """Build and time ``todo`` in order, appending a row per graph to ``graphs_csv``;
    returns (graphs measured, stopped by the time budget)."""
    from accelsearch.objectives.latency import get_backend

    protocol = {
        "warmup": args.warmup,
        "min_reps": max(3, args.reps),
        "max_reps": max(args.reps, args.max_reps),
        "batch_reps": max(1, min(10, args.reps)),
        "max_seconds": 2.0,
        "ci_target": 0.02,
    }
    append_rows(graphs_csv, [])  # the header, where the file is new or old
    fh = open(graphs_csv, "a", newline="")  # noqa: SIM115
    writer = csv.DictWriter(fh, fieldnames=GRAPH_FIELDS, restval="")
    t0 = time.perf_counter()
    measured, stopped = 0, False
    ctx = mp.get_context("spawn")
    with get_backend(
        "torch", device=args.device, precision=args.precision, protocol=protocol
    ) as backend:
        if args.workers > 0:
            pool = ctx.Pool(args.workers, initializer=_init_worker)
            built = pool.imap(build, todo, chunksize=2)
        else:
            pool = None
            _load_space()
            built = map(build, todo)
        try:
            for graph, model, flops, params, build_s in built:
                m0 = time.perf_counter()
                r = backend.measure(model, args.batch_size, 32)
                writer.writerow(
                    {
                        "graph": graph,
                        "latency_ms": r.median_ms,
                        "p10_ms": r.p10_ms,
                        "p90_ms": r.p90_ms,
                        "cv": r.cv,
                        "n": r.n,
                        "flops": flops,
                        "params": params,
                        "batch_size": args.batch_size,
                        "precision": args.precision,
                        "backend": r.backend,
                        "mode": r.mode,
                        "device": r.device_name,
                        "gpu": gpu_label(args.device),
                        "build_s": round(build_s, 4),
                        "measure_s": round(time.perf_counter() - m0, 4),
                    }
                )
                measured += 1
                if measured % 50 == 0 or measured == len(todo):
                    fh.flush()
                    on_progress(measured, time.perf_counter() - t0)
                if time.perf_counter() - t0 > args.time_budget_s:
                    stopped = True
                    break
        finally:
            if pool is not None:
                pool.terminate()
            fh.close()
    return measured, stopped


def gpu_label(device: str) -> str:
    """Which GPU measured a row: its index among all the machine's GPUs where known."""
    if device != "cuda":
        return ""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return visible.split(",")[0] if visible else "0"


def run_shards(args, argv: list[str], graphs_csv: Path) -> tuple[int, bool, list[dict]]:
    """``--gpus N``: N child processes, one per GPU, each measuring every N-th graph still
    to measure into its own ``.shardI.csv``; their rows are then appended to ``graphs_csv``."""
    from _common import run_on_gpus

    base = [a for a in argv if a != "--resume"]
    if "--gpus" in base:
        i = base.index("--gpus")
        del base[i : i + 2]
    base = [a for a in base if not a.startswith("--gpus=")]
    jobs, shard_files, shard_outs = [], [], []
    for i in range(args.gpus):
        shard_csv = graphs_csv.with_name(graphs_csv.name.replace(".graphs.csv", f".shard{i}.csv"))
        shard_out = Path(f"{args.out}.shard{i}.json")
        shard_files.append(shard_csv.with_suffix(".graphs.csv"))
        shard_outs.append(shard_out)
        shard_files[-1].unlink(missing_ok=True)
        jobs.append(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                *base,
                "--resume",
                "--shard",
                f"{i}/{args.gpus}",
                "--done-csv",
                str(graphs_csv),
                "--csv",
                str(shard_csv),
                "--out",
                str(shard_out),
            ]  # fmt: skip
        )
    codes = run_on_gpus(jobs, args.gpus)
    measured, stopped, shards = 0, False, []
    for i, (path, out) in enumerate(zip(shard_files, shard_outs)):
        rows = list(read_graph_rows(path).values())
        append_rows(graphs_csv, rows)
        info = json.loads(out.read_text()) if out.exists() else {}
        shards.append(
            {
                "shard": i,
                "exit_code": codes[i],
                "measured": len(rows),
                "wall_s": info.get("wall_s"),
                "status": info.get("status"),
            }  # fmt: skip
        )
        measured += len(rows)
        stopped = stopped or info.get("status", "").startswith("stopped")
        path.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
    if any(codes):
        print(f"[nb201] shard exit codes {codes}: see their output above", flush=True)
    return measured, stopped, shards


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)

    import torch

    from accelsearch.objectives.latency.device import device_name

    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # a handful of conv shapes, tuned once
    dev_name = device_name(args.device if args.device == "cpu" else "cuda:0")
    tag = "".join(c if c.isalnum() else "_" for c in dev_name.lower()).strip("_")[:40]
    out_csv = Path(args.csv or ROOT / "benchmarks" / "results" / f"nb201_latency_{tag}.csv")
    graphs_csv = out_csv.with_suffix(".graphs.csv")
    out_csv.parent.mkdir(parents=True, exist_ok=True)

    cells = read_cells(args.nb201_csv)
    groups: dict[str, list[str]] = {}
    for cell in cells:
        groups.setdefault(to_string(canonical(parse(cell))), []).append(cell)
    order = sorted(groups)
    import random

    shuffled = list(order)
    random.Random(args.seed).shuffle(shuffled)
    if not args.resume:
        append_rows(graphs_csv, [], fresh=True)
    done = read_graph_rows(graphs_csv, *([args.done_csv] if args.done_csv else []))
    todo = [g for g in shuffled if g not in done]
    if args.shard:
        k, n = (int(x) for x in args.shard.split("/"))
        todo = todo[k::n]
    if args.limit is not None:
        todo = todo[: args.limit]

    summary = {
        "benchmark": "nb201_latency_table",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "device": dev_name,
        "gpus": args.gpus,
        "versions": versions(),
        "backend": "torch",
        "precision": args.precision,
        "batch_size": args.batch_size,
        "resolution": 32,
        "skeleton": "NB201 CIFAR: C=16, N=5, 10 classes",
        "cells": len(cells),
        "graphs": len(groups),
        "already_measured": len(done),
        "to_measure": len(todo),
        "csv": str(out_csv),
        "graphs_csv": str(graphs_csv),
    }

    def write_summary(**extra) -> None:
        summary.update(extra)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2))

    def progress(measured: int, wall: float) -> None:
        write_summary(measured=measured, wall_s=wall, graphs_per_s=measured / wall)
        print(f"[nb201] {args.shard or ''} {measured}/{len(todo)} graphs, {measured / wall:.1f}/s")

    write_summary(status="running")
    t0 = time.perf_counter()
    if args.gpus > 1:
        measured, stopped, shards = run_shards(args, argv, graphs_csv)
        summary["shards"] = shards
    else:
        measured, stopped = measure_graphs(args, todo, graphs_csv, progress)
    wall = time.perf_counter() - t0
    status = "stopped at the time budget" if stopped else "done"
    if args.shard:  # the parent writes the table
        write_summary(status=status, measured=measured, wall_s=wall)
        return 0
    rows = read_graph_rows(graphs_csv)
    write_table(cells, order, rows, out_csv)
    complete = sum(1 for g in order if g in rows)
    write_summary(
        status=status,
        measured=measured,
        wall_s=wall,
        graphs_per_s=measured / wall if wall else None,
        graphs_measured_total=complete,
        cells_with_latency=sum(len(groups[g]) for g in order if g in rows),
    )
    print(
        f"[nb201] {measured} graphs in {wall:.0f} s ({measured / max(wall, 1e-9):.1f}/s); "
        f"{complete}/{len(order)} graphs, table: {out_csv}"
    )
    lat = sorted(float(r["latency_ms"]) for r in rows.values())
    if lat:
        print(
            f"[nb201] latency ms: min {lat[0]:.4f}, median {lat[len(lat) // 2]:.4f}, max {lat[-1]:.4f}"
        )
    return 0


def write_table(cells: list[str], order: list[str], rows: dict[str, dict], out_csv: Path) -> None:
    """The per-cell table (cells of graphs not measured yet get empty numbers)."""
    from accelsearch import spaces

    space = spaces.get("nb201")
    graph_id = {g: i for i, g in enumerate(order)}
    fields = [
        "arch_string",
        "index",
        "graph",
        "graph_id",
        "representative",
        *[f for f in GRAPH_FIELDS if f not in ("graph", "build_s", "measure_s")],
    ]
    with open(out_csv, "w", newline="") as ofh:
        w = csv.DictWriter(ofh, fieldnames=fields)
        w.writeheader()
        for cell in cells:
            g = to_string(canonical(parse(cell)))
            m = rows.get(g, {})
            w.writerow(
                {
                    "arch_string": cell,
                    "index": space.index(cell),
                    "graph": g,
                    "graph_id": graph_id[g],
                    "representative": int(to_string(parse(cell)) == g),
                    **{f: m.get(f, "") for f in fields[5:]},
                }
            )


if __name__ == "__main__":
    sys.exit(main())
