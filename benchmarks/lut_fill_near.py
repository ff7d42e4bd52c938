"""Benchmark and tool: fill a GPU's lookup table near a latency budget, and say how far off
it was there.

A table filled on Sobol archs of a space (``latency_lut.py``) holds few of the layers a
budget search visits: near a tight budget the networks are small, and the table estimates
most of their layers from its cost model. On an H100, GPUNet at batch 1 near 0.5 ms, it was
7.5 % high on average and up to 25 % on one network
(``results/search/under_budget_gpu_h100_lut40.md``). The search's screen rescales the table
on the trials it measures, but a scale cannot mend an error that differs from network to
network.

This script draws a Sobol pool of the space (``--pool`` points) and keeps the archs the table
predicts at or under ``--under-ms``. For the first ``--archs`` of them (the choice is kept,
so a resumed call measures the same archs) it measures their missing layers into the table
and times each whole network. It then reports the table's
error on those networks twice: before, with the missing layers estimated, and after, with
them measured. Both use the table's own correction; it is not refitted here, since these
archs are chosen for their size and are not a sample of the space.

    PYTHONUNBUFFERED=1 python benchmarks/lut_fill_near.py --device cuda \\
        --store benchmarks/results/latency/lut.sqlite --space gpunet --batch 1 \\
        --under-ms 0.6 --archs 40 --time-budget 300 --out benchmarks/results/latency/h100

Resumable: one JSON line per arch in ``--out``; a second call with the same arguments skips
what is done. CPU check: ``latency_lut.py --quick --device cpu --out /tmp/lut --spaces
gpunet --sobol 0``, then ``lut_fill_near.py --quick --device cpu --store /tmp/lut/lut.sqlite
--space gpunet --batch 1 --under-ms 100 --out /tmp/lut``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from latency_common import Results, environment, table
from latency_lut import QUICK_OPTIONS, read_lines, sobol_points, unit_to_params

MAX_KEPT = 4096  # points kept from the pool's choice


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for the per-arch lines and figures")
    p.add_argument(
        "--store", default=None, help="the table's SQLite store (default OUT/lut.sqlite)"
    )
    p.add_argument("--device", default="cuda")
    p.add_argument("--space", default="gpunet")
    p.add_argument("--space-options", default=None, help="JSON options of the space")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--precision", default=None, help="default fp16 on CUDA, fp32 on CPU")
    p.add_argument("--under-ms", type=float, required=True, help="keep archs predicted <= this")
    p.add_argument("--archs", type=int, default=40, help="archs to measure")
    p.add_argument("--pool", type=int, default=2**18, help="Sobol points to choose from")
    p.add_argument("--seed", type=int, default=2, help="the pool's Sobol seed")
    p.add_argument("--time-budget", type=float, default=float("inf"), help="seconds")
    p.add_argument("--network-max-seconds", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=None, help="torch threads (CPU device)")
    p.add_argument("--quick", action="store_true", help="tiny space and protocol (CPU check)")
    return p.parse_args()


def make_predictor(args, space, precision: str):
    """The table to fill: it measures its missing layers on ``--device``."""
    from accelsearch.objectives.latency import Protocol
    from accelsearch.objectives.latency.lut import LUTPredictor, LUTStore

    quick = Protocol(warmup=2, min_reps=5, max_reps=30, max_seconds=0.3, ci_target=0.05)
    return LUTPredictor(
        batch_size=args.batch,
        precision=precision,
        device=args.device,
        store=LUTStore(args.store),
        space=space,
        options={"threads": args.threads} if args.threads and args.device == "cpu" else {},
        protocol=quick if args.quick else None,
        network_protocol=Protocol(max_seconds=args.network_max_seconds),
    )


def predict_as_it_is(predictor, u: np.ndarray) -> np.ndarray:
    """The table's predictions for unit-cube points before any filling: its cost model
    stands in for the layers it lacks. Back to measuring afterwards, those estimated layers
    count as missing again (``LUTPredictor.missing``), so the fill measures them."""
    from accelsearch.core.errors import MeasurementError

    predictor.fill = "estimate"
    try:
        return predictor.predict_unit(u)
    except MeasurementError as exc:
        raise SystemExit(
            f"[lut_fill_near] {exc}\nThe archs are chosen by the table's own prediction: fill "
            "it with Sobol archs of the space first (benchmarks/latency_lut.py)"
        ) from None
    finally:
        predictor.fill = "measure"


def near_points(args, space, predictor, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The pool's points predicted at or under ``--under-ms`` (Sobol order), with the
    predictions (ms, corrected, missing layers estimated). The choice is kept in ``path``:
    once layers are measured the table predicts otherwise, and a resumed call must measure
    the archs the first one chose."""
    u = sobol_points(space, args.pool, args.seed)
    if path.exists():
        kept = json.loads(path.read_text())
        return u[kept["pool_index"]], np.array(kept["before_ms"])
    ms = predict_as_it_is(predictor, u)
    keep = np.flatnonzero(ms <= args.under_ms)
    if keep.size == 0:
        raise SystemExit(
            f"[lut_fill_near] none of {args.pool} Sobol points of {space.name!r} is predicted "
            f"under --under-ms {args.under_ms:g} (the fastest: {ms.min():.4f} ms); raise "
            "--under-ms or --pool"
        )
    keep = keep[:MAX_KEPT]  # a later call may ask for more --archs, up to these
    path.write_text(json.dumps({"pool_index": keep.tolist(), "before_ms": ms[keep].tolist()}))
    return u[keep], ms[keep]


def measure(args, space, measuring, path: Path, deadline: float) -> str | None:
    """Measure the first ``--archs`` near points not yet in ``path``; why it stopped."""
    done = read_lines(path)
    points, before = near_points(args, space, measuring, path.with_suffix(".choice.json"))
    with open(path, "a") as fh:
        for i, (u, pred) in enumerate(zip(points[: args.archs], before[: args.archs])):
            if i in done:
                continue
            if time.perf_counter() > deadline:
                return "time budget"
            arch = space.decode(unit_to_params(space, u))
            missing = len(measuring.missing(measuring.layers(arch)))
            t = time.perf_counter()
            raw, n = measuring.layer_sum(arch)  # measures the missing layers into the table
            rec: dict[str, Any] = {
                "i": i,
                "arch": str(arch),
                "before_ms": float(pred),
                "after_ms": float(measuring.predict(arch)),
                "lut_ms": raw,
                "layers": n,
                "new_layers": missing,
                "measured_ms": measuring.measure_network(arch),
                "seconds": time.perf_counter() - t,
            }
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            print(f"  #{i}: table {pred:.4f} -> {rec['after_ms']:.4f} ms, measured "
                  f"{rec['measured_ms']:.4f} ms ({missing} new layers)")  # fmt: skip
    return None if len(points) >= args.archs else f"only {len(points)} archs under the bound"


def figures(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The table's error on the measured archs, before and after their layers were measured."""
    y = np.array([r["measured_ms"] for r in lines])
    out: dict[str, Any] = {"archs": len(lines), "mean_measured_ms": float(y.mean())}
    for when in ("before", "after"):
        err = (np.array([r[f"{when}_ms"] for r in lines]) - y) / y * 100
        out[f"mean_error_{when}_pct"] = float(err.mean())
        out[f"mape_{when}_pct"] = float(np.abs(err).mean())
        out[f"max_abs_error_{when}_pct"] = float(np.abs(err).max())
    out["new_layers"] = int(sum(r["new_layers"] for r in lines))
    return out


def main() -> None:
    args = parse()
    if args.quick:
        args.threads = args.threads or 1
        args.pool = min(args.pool, 512)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    args.store = args.store or str(out / "lut.sqlite")
    from accelsearch import spaces

    options = QUICK_OPTIONS.get(args.space, {}) if args.quick else {}
    options = {**options, **json.loads(args.space_options or "{}")}
    space = spaces.get(args.space, **options)
    precision = args.precision or ("fp32" if args.device == "cpu" else "fp16")
    stem = f"lut_near_{args.space}_b{args.batch}_under{args.under_ms:g}ms"
    res = Results(out / f"{stem}.json", {"benchmark": "lut_fill_near",
                                         "env": environment(args.device), "args": vars(args)})  # fmt: skip
    measuring = make_predictor(args, space, precision)
    start = time.perf_counter()
    layers_before = len(measuring.store.table(measuring.table_id))
    stopped = measure(args, space, measuring, out / f"{stem}.jsonl", start + args.time_budget)
    lines = sorted(read_lines(out / f"{stem}.jsonl").values(), key=lambda r: r["i"])
    layers = len(measuring.store.table(measuring.table_id))  # measured ones (no estimates)
    fig = {"space": args.space, "batch": args.batch, "under_ms": args.under_ms,
           **(figures(lines) if lines else {"archs": 0}), "stopped": stopped,
           "table_layers": layers, "layers_added_this_call": layers - layers_before,
           "table": measuring.table_id.text, "seconds": time.perf_counter() - start}  # fmt: skip
    res.summary("figures", fig)
    cols = ["space", "batch", "under_ms", "archs", "mean_measured_ms", "mean_error_before_pct",
            "mape_before_pct", "max_abs_error_before_pct", "mean_error_after_pct",
            "mape_after_pct", "max_abs_error_after_pct", "new_layers", "stopped"]  # fmt: skip
    text = table([fig], cols)
    env = res.data["meta"]["env"]
    (out / f"{stem}.md").write_text(
        f"# The lookup table near {args.under_ms:g} ms, before and after its layers were "
        f"measured\n\n{env['device_name']}, torch {env['torch']}, {precision}, batch "
        f"{args.batch}, {env['date']}. Archs: the Sobol points (pool {args.pool}, seed "
        f"{args.seed}) that the table predicted at or under {args.under_ms:g} ms.\n\n{text}\n"
    )
    print(f"\n{text}\n\n[lut_fill_near] {fig['seconds']:.0f} s -> {out / stem}.md")
    measuring.close()


if __name__ == "__main__":
    main()
