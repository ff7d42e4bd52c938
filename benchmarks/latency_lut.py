"""Benchmark: the GPUNet lookup-table predictor against whole-network measurement.

For each space (``efficientnet_x``, ``gpunet``) and batch size, ``--archs`` archs are drawn
(scrambled Sobol points of the space's parameters, fixed seed). For each arch the LUT sum
is computed (its missing layers are measured alone on the device, PyTorch CUDA-graph
replay, fp16) and the whole network is measured with the same backend. The fusion
correction is fitted on the first ``--fit`` archs and judged on the others. Reported per
(space, batch): MAPE of the plain sum and of the corrected prediction on held-out archs,
mean absolute error in µs, rank correlation, layers measured, seconds spent. Then the time
to predict ``--sobol`` (default 1,000,000) Sobol samples of each space on the CPU from the
filled table (layers the table lacks for those samples are estimated by the table's cost
model; the count is reported).

Append-only and resumable: the table (``lut.sqlite``), the whole-network latencies
(``latency.sqlite``) and one JSON line per arch (``lut_<space>_b<batch>.jsonl``) live in
``--out``; a second call with the same arguments skips what is done. ``--time-budget``
stops starting new archs after that many seconds, shared evenly by the (space, batch)
pairs so that none starves the others (the lead's GPU calls are ~10 minutes).

Expected cost on one H100 (fp16, estimates, not measured here): per arch ~0.5-1 s at
batch 1 and ~2 s (efficientnet_x) to ~4 s (gpunet, up to 512 px) at batch 128, new layers
included; 200 archs of both spaces at both batch sizes would take ~25 minutes, so one call
with a budget gets ~40-120 archs per pair and a second call resumes:

    PYTHONUNBUFFERED=1 python benchmarks/latency_lut.py --device cuda \\
        --out benchmarks/results/latency --spaces efficientnet_x,gpunet --batch-sizes 1,128 \\
        --archs 200 --fit 20 --time-budget 420 --sobol 1000000

On a machine of several GPUs, ``--gpus N`` runs the (space, batch) pairs at once, one
process per GPU, each with the whole ``--time-budget``.

CPU check (~2 min): ``python benchmarks/latency_lut.py --quick --device cpu --out /tmp/lut``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from latency_common import Results, environment, table

QUICK_OPTIONS = {
    "efficientnet_x": {"width_mult": 0.25, "resolutions": [32]},
    "gpunet": {"width_mult": 0.25, "max_layers": 2, "resolutions": [64]},
}


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder (append-only, resumable)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="tiny sizes (CPU check)")
    p.add_argument("--spaces", default="efficientnet_x,gpunet")
    p.add_argument("--space-options", default=None, help='JSON {"space": {option: value}}')
    p.add_argument("--batch-sizes", default="1,128")
    p.add_argument("--precision", default=None, help="default fp16 on CUDA, fp32 on CPU")
    p.add_argument("--archs", type=int, default=200, help="archs per (space, batch)")
    p.add_argument("--fit", type=int, default=20, help="archs the correction is fitted on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-budget", type=float, default=float("inf"), help="seconds")
    p.add_argument("--network-max-seconds", type=float, default=3.0)
    p.add_argument("--sobol", type=int, default=1_000_000, help="0 skips the CPU timing")
    p.add_argument("--threads", type=int, default=None, help="torch threads (CPU device)")
    p.add_argument(
        "--gpus",
        type=int,
        default=1,
        help="run the (space, batch) pairs at once, one process per GPU (each pair then gets "
        "the whole --time-budget); this process then gathers the figures",
    )
    p.add_argument(
        "--shards-per-pair",
        type=int,
        default=1,
        help="with --gpus: split each pair's archs over this many processes (a slow pair, "
        "gpunet at batch 128, then takes several GPUs)",
    )
    p.add_argument(
        "--gather",
        action="store_true",
        help="measure nothing: refit the corrections and write the figures from the per-arch "
        "lines in --out (with --device-name, on a machine without the GPU, e.g. after a "
        "multi-GPU run was cut short)",
    )
    p.add_argument("--summary", default="latency_lut.json", help=argparse.SUPPRESS)
    p.add_argument("--arch-shard", default=None, help=argparse.SUPPRESS)  # "k/K", by --gpus
    p.add_argument(
        "--device-name",
        default=None,
        help="read the table of this device for the Sobol timing (e.g. the GPU's name, to time "
        "the prediction on a CPU machine with the store copied from the GPU run; use --archs 0)",
    )
    return p.parse_args()


def sobol_points(space, n: int, seed: int) -> np.ndarray:
    from scipy.stats import qmc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # balance warning for n not a power of two
        return qmc.Sobol(d=len(space.params()), scramble=True, seed=seed).random(n)


def unit_to_params(space, u: np.ndarray) -> dict[str, Any]:
    from accelsearch.spaces import distributions as D

    return {name: D.from_unit(d, float(x)) for (name, d), x in zip(space.params().items(), u)}


def read_lines(path: Path) -> dict[int, dict[str, Any]]:
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                done[rec["i"]] = rec
    return done


def evaluate(lines: list[dict[str, Any]], fit: int):
    """Correction on the first ``fit`` archs (by index), figures on the others."""
    from scipy.stats import kendalltau, spearmanr

    from accelsearch.objectives.latency.lut import Correction, mape

    ok = sorted((r for r in lines if "measured_ms" in r), key=lambda r: r["i"])
    if len(ok) < fit + 2:
        return None, {"archs": len(ok), "note": f"need {fit + 2} measured archs"}
    train, test = ok[:fit], ok[fit:]
    corr = Correction.fit(
        [r["lut_ms"] for r in train],
        [r["layers"] for r in train],
        [r["measured_ms"] for r in train],
    )
    raw = np.array([r["lut_ms"] for r in test])
    n = np.array([r["layers"] for r in test], dtype=float)
    y = np.array([r["measured_ms"] for r in test])
    pred = corr.apply(raw, n)
    return corr, {
        "archs": len(ok),
        "fit_archs": fit,
        "test_archs": len(test),
        "mape_sum_pct": mape(raw, y),
        "mape_corrected_pct": mape(pred, y),
        "mae_sum_us": float(np.mean(np.abs(raw - y)) * 1000),
        "mae_corrected_us": float(np.mean(np.abs(pred - y)) * 1000),
        "mean_error_sum_us": float(np.mean(raw - y) * 1000),
        "mean_measured_ms": float(y.mean()),
        "kendall_tau_sum": float(kendalltau(raw, y)[0]),
        "spearman_sum": float(spearmanr(raw, y)[0]),
        "correction": {"a": corr.a, "b": corr.b, "c": corr.c},
        "fit_mape_before_pct": corr.mape_before,
        "fit_mape_after_pct": corr.mape_after,
    }


def run_space_batch(args, name, space, batch, precision, out, res, deadline) -> dict[str, Any]:
    from accelsearch.errors import AccelSearchError
    from accelsearch.objectives.latency import Protocol
    from accelsearch.objectives.latency.lut import LUTPredictor, LUTStore

    path = out / f"lut_{name}_b{batch}.jsonl"
    done = read_lines(path)
    options = {"threads": args.threads} if args.threads and args.device == "cpu" else {}
    quick_proto = Protocol(warmup=2, min_reps=5, max_reps=30, max_seconds=0.3, ci_target=0.05)
    predictor = LUTPredictor(
        batch_size=batch,
        precision=precision,
        device=args.device,
        device_name=args.device_name if args.gather else None,
        store=LUTStore(out / "lut.sqlite"),
        space=space,
        options=options,
        protocol=quick_proto if args.quick else None,
        network_protocol=Protocol(max_seconds=args.network_max_seconds),
    )
    points = sobol_points(space, args.archs, args.seed)[: 0 if args.gather else None]
    shard, shards = (int(x) for x in (args.arch_shard or "0/1").split("/"))
    layer_s = net_s = 0.0
    new = 0
    stopped = None
    with open(path, "a") as fh:  # shards append whole lines to the same file
        for i, u in enumerate(points):
            if i in done or i % shards != shard:
                continue
            if time.perf_counter() > deadline:
                stopped = "time budget"
                break
            params = unit_to_params(space, u)
            arch = space.decode(params)
            rec: dict[str, Any] = {"i": i, "arch": str(arch), "resolution": arch.resolution}
            try:
                t = time.perf_counter()
                raw, n = predictor.layer_sum(arch)
                t_layers = time.perf_counter() - t
                measured = predictor.measure_network(arch)
                t_net = time.perf_counter() - t - t_layers
                layer_s += t_layers
                net_s += t_net
                rec.update(
                    lut_ms=raw,
                    layers=n,
                    new_layers=predictor.last_fill.measured,
                    measured_ms=measured,
                    layer_s=t_layers,
                    network_s=t_net,
                )
            except AccelSearchError as exc:
                rec["error"] = str(exc)[:300]
            predictor.last_fill.measured = 0
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            done[i] = rec
            new += 1
            if "error" in rec:
                print(f"  {name} b{batch} #{i}: ERROR {rec['error'][:120]}")
            elif new % 10 == 0 or new <= 2:
                print(
                    f"  {name} b{batch} #{i}: sum {rec['lut_ms']:.3f} ms vs measured "
                    f"{rec['measured_ms']:.3f} ms ({rec['new_layers']} new layers, "
                    f"{rec['layer_s'] + rec['network_s']:.1f} s)"
                )
    if args.gather:
        missing = args.archs - sum(1 for i in done if i < args.archs)
        stopped = f"{missing} of {args.archs} archs not measured" if missing else None
    corr, figures = evaluate(list(done.values()), min(args.fit, max(2, len(done) // 3)))
    if corr is not None:
        predictor.store.put_correction(predictor.table_id, predictor.scope, corr)
    figures.update(
        space=name,
        batch=batch,
        precision=precision,
        table_layers=len(predictor.table),
        new_archs_this_call=new,
        layer_seconds_this_call=layer_s,
        network_seconds_this_call=net_s,
        errors=sum(1 for r in done.values() if "error" in r),
        stopped=stopped,
        table=predictor.table_id.text,
    )
    res.add({"kind": "lut_accuracy", **figures})
    predictor.close()
    return figures


def time_sobol(args, name, space, batch, precision, out, device_name) -> dict[str, Any]:
    """Predict ``--sobol`` unit-cube samples on the CPU from the GPU's table."""
    from accelsearch.objectives.latency.lut import LUTPredictor, LUTStore

    p = LUTPredictor(
        batch_size=batch,
        precision=precision,
        store=LUTStore(out / "lut.sqlite"),
        space=space,
        device_name=device_name,
        fill="estimate",
    )
    measured_layers = len(p.table)
    u = sobol_points(space, args.sobol, args.seed + 1)
    t = time.perf_counter()
    first = p.predict_unit(u)
    first_s = time.perf_counter() - t
    estimated = len(p.table) - measured_layers
    p.clear_memo()
    t = time.perf_counter()
    pred = p.predict_unit(u)
    cold_s = time.perf_counter() - t
    t = time.perf_counter()
    p.predict_unit(u)
    warm_s = time.perf_counter() - t
    assert np.allclose(first, pred)
    rec = {
        "kind": "sobol_prediction",
        "space": name,
        "batch": batch,
        "samples": int(args.sobol),
        "fast_path": name
        in __import__("accelsearch.objectives.latency.lut", fromlist=["FAST_PATHS"]).FAST_PATHS,
        "first_call_s": first_s,
        "predict_s": cold_s,
        "predict_warm_s": warm_s,
        "samples_per_s": args.sobol / cold_s,
        "layers_measured": measured_layers,
        "layers_estimated": estimated,
        "corrected": p.correction is not None,
        "pred_ms_p5_p50_p95": [float(np.percentile(pred, q)) for q in (5, 50, 95)],
    }
    print(
        f"  {name} b{batch}: {args.sobol} Sobol samples predicted in {cold_s:.2f} s on the CPU "
        f"(first call {first_s:.1f} s, {estimated} layers estimated, {measured_layers} measured)"
    )
    return rec


def _previous(path: Path) -> dict[str, Any]:
    """The summary of earlier calls (kept for the (space, batch) pairs this call skips)."""
    try:
        return json.loads(path.read_text()).get("summary", {})
    except (OSError, ValueError):
        return {}


def _merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fresh = {(r.get("space"), r.get("batch")) for r in new}
    return [r for r in old if (r.get("space"), r.get("batch")) not in fresh] + new


def _measuring_env(out: Path) -> dict[str, Any] | None:
    """The environment of the processes that measured (their summary files, else the last
    gathered summary), for --gather; the children's files are removed once read."""
    env = None
    for path in sorted(out.glob("latency_lut.*.json")):
        try:
            env = env or json.loads(path.read_text())["meta"]["env"]
        except (OSError, ValueError, KeyError):
            continue
        path.unlink()
    if env is None:
        try:
            env = json.loads((out / "latency_lut.json").read_text())["meta"]["env"]
        except (OSError, ValueError, KeyError):
            pass
    return env


def run_pairs_on_gpus(args, names: list[str], batches: list[int]) -> list[int]:
    """``--gpus N``: one child process per (space, batch) and shard, N at a time (in the
    order of ``--spaces`` and ``--batch-sizes``: slowest first), each on its own GPU writing
    its own summary file; the tables (SQLite, safe for concurrent writers) and the
    per-arch JSON lines are shared with this process, which reads them afterwards."""
    import sys

    from _common import run_on_gpus

    jobs = []
    for name in names:
        for batch in batches:
            for k in range(args.shards_per_pair):
                argv = [sys.executable, str(Path(__file__).resolve()), "--out", args.out,
                    "--device", args.device, "--spaces", name, "--batch-sizes", str(batch),
                    "--archs", str(args.archs), "--fit", str(args.fit), "--seed", str(args.seed),
                    "--time-budget", str(args.time_budget), "--sobol", "0",
                    "--network-max-seconds", str(args.network_max_seconds),
                    "--summary", f"latency_lut.{name}_b{batch}.{k}.json",
                    "--arch-shard", f"{k}/{args.shards_per_pair}"]  # fmt: skip
                if args.precision:
                    argv += ["--precision", args.precision]
                if args.space_options:
                    argv += ["--space-options", args.space_options]
                if args.quick:
                    argv += ["--quick"]
                jobs.append(argv)
    return run_on_gpus(jobs, args.gpus)


def main() -> None:
    args = parse()
    if args.quick:
        args.archs, args.fit = min(args.archs, 8), 3
        if args.summary == "latency_lut.json":  # a --gpus child keeps its one batch size
            args.batch_sizes = "1,2"
        args.sobol = min(args.sobol, 20_000)
        args.threads = args.threads or 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["ACCELSEARCH_LATENCY_CACHE"] = str(out / "latency.sqlite")  # resumable
    from accelsearch import spaces
    from accelsearch.errors import AccelSearchError

    precision = args.precision or ("fp32" if args.device == "cpu" else "fp16")
    opts = QUICK_OPTIONS if args.quick else {}
    if args.space_options:
        opts = {**opts, **json.loads(args.space_options)}
    child = args.summary != "latency_lut.json"
    previous = {} if child else _previous(out / "latency_lut.json")
    if args.gather:
        if not args.device_name:
            raise SystemExit("--gather needs --device-name (the GPU whose table to read)")
        env = _measuring_env(out) or {"device_name": args.device_name, "torch": "?", "date": "?"}
        meta = {"env": env, "gathered_on": environment("cpu")}
    else:
        meta = {"env": environment(args.device)}
    res = Results(out / args.summary, {"benchmark": "latency_lut", **meta, "args": vars(args)})
    begin = start = time.perf_counter()
    deadline = start + args.time_budget
    figures, sobol = [], []
    batches = [int(b) for b in args.batch_sizes.split(",")]
    names = [s for s in args.spaces.split(",") if s]
    if args.gpus > 1 and args.archs:
        codes = run_pairs_on_gpus(args, names, batches)
        res.summary("gpus", {"count": args.gpus, "exit_codes": codes})
        for path in out.glob("latency_lut.*.json"):  # the children's summaries
            path.unlink()
        start = deadline = time.perf_counter()  # measured: only gather the figures now
    pairs = len(names) * len(batches)
    pair = 0
    for name in names:
        try:
            space = spaces.get(name, **opts.get(name, {}))
        except AccelSearchError as exc:
            print(f"[latency_lut] space {name!r} skipped: {exc}")
            res.add({"kind": "skipped", "space": name, "reason": str(exc)})
            continue
        for batch in batches if args.archs else []:
            # each (space, batch) gets its share of the budget, so none starves the others
            pair += 1
            share = start + args.time_budget * pair / pairs
            print(f"[latency_lut] {name}, batch {batch}, {precision}, {args.archs} archs")
            figures.append(
                run_space_batch(args, name, space, batch, precision, out, res, min(share, deadline))
            )
        if args.sobol:
            from accelsearch.objectives.latency.device import device_name, normalize_device

            gpu_name = args.device_name or device_name(normalize_device(args.device), args.threads)
            for batch in batches:
                try:
                    rec = time_sobol(args, name, space, batch, precision, out, gpu_name)
                except AccelSearchError as exc:
                    rec = {
                        "kind": "sobol_prediction",
                        "space": name,
                        "batch": batch,
                        "error": str(exc),
                    }
                res.add(rec)
                sobol.append(rec)
    figures = _merge(previous.get("accuracy", []), figures)
    sobol = _merge(previous.get("sobol", []), sobol)
    res.summary("accuracy", figures)
    res.summary("sobol", sobol)
    res.summary("total_s", time.perf_counter() - begin)
    if child:
        return
    cols = ["space", "batch", "archs", "test_archs", "mape_sum_pct", "mape_corrected_pct",
            "mae_sum_us", "mae_corrected_us", "kendall_tau_sum", "table_layers", "stopped"]  # fmt: skip
    text = table(figures, cols)
    stext = table(sobol, ["space", "batch", "samples", "predict_s", "first_call_s",
                          "layers_measured", "layers_estimated", "fast_path"])  # fmt: skip
    env = res.data["meta"]["env"]
    (out / "latency_lut.md").write_text(
        f"# LUT predictor vs whole-network latency\n\n{env['device_name']}, torch {env['torch']}, "
        f"{precision}, PyTorch CUDA-graph replay (layers and networks), {env['date']}.\n"
        f"Correction fitted on the first {args.fit} archs of each (space, batch), figures on the "
        f"rest.\n\n{text}\n\n## Predicting Sobol samples on the CPU\n\n{stext}\n"
    )
    print()
    print(text)
    print()
    print(stext)
    print(f"\n[latency_lut] {time.perf_counter() - begin:.0f} s -> {out}")


if __name__ == "__main__":
    main()
