"""Benchmark: noise (CV) of repeated latency measurements and wall time per candidate,
per backend.

For each backend variant (PyTorch CUDA-graph replay, PyTorch eager, optionally
torch.compile, ONNX Runtime's CPU provider, TensorRT where installed), each candidate
(random ``efficientnet_x`` archs and a few timm models) and each batch size, the candidate
is measured ``--repeats`` times, each time with a fresh backend and no cache, under the
standard protocol. Reported per variant and batch size:

* ``cv_within``: the protocol's coefficient of variation inside one measurement (mean
  over candidates and repeats);
* ``cv_across``: the spread of the medians of repeated measurements of the same candidate
  (std / mean, averaged over candidates): how far a second measurement may land;
* ``wall_s``: seconds of wall time per candidate measured (build + export/compile +
  warm-up + timing), mean over candidates and repeats.

GPU (the lead's H100/H200 run; ~3 min with the defaults):

    PYTHONUNBUFFERED=1 python benchmarks/latency_backends.py --device cuda \\
        --out benchmarks/results/latency --archs 5 --repeats 3

CPU check (this machine, ~1-2 min): ``python benchmarks/latency_backends.py --quick
--device cpu --out /tmp/latency-bench``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from latency_common import Results, environment, table


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    p.add_argument("--quick", action="store_true", help="tiny sizes (CPU check)")
    p.add_argument("--archs", type=int, default=5, help="random efficientnet_x archs")
    p.add_argument("--timm", default="resnet50,efficientnet_b0", help="timm models (comma list)")
    p.add_argument("--batch-sizes", default="1,128")
    p.add_argument("--ort-batch-sizes", default="1", help="batch sizes for ONNX Runtime (CPU)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precision", default=None, help="default fp16 on CUDA, fp32 on CPU")
    p.add_argument("--compile", action="store_true", help="add torch.compile (5-15 s a model)")
    p.add_argument("--no-onnxruntime", action="store_true")
    p.add_argument(
        "--variants",
        default=None,
        help="only these variants (comma list of the labels in the results, e.g. "
        "onnxruntime-cuda); default all that apply",
    )
    p.add_argument(
        "--oom-batch",
        type=int,
        default=None,
        help="batch for the out-of-memory check (default 4096 on CUDA at 600 px; 0 skips)",
    )
    p.add_argument(
        "--models",
        default=None,
        help="only these candidates (comma list of their names, e.g. effx-2,resnet50), to "
        "complete a run that was cut short; the others are still drawn, so names keep their archs",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--stem", default="latency_backends", help="result file names: <out>/<stem>.json and .md"
    )
    return p.parse_args()


def candidates(args):
    """(name, model or arch, resolution) to measure."""
    import timm

    from accelsearch import spaces

    out = []
    if args.quick:
        space = spaces.get("efficientnet_x", width_mult=0.25, resolutions=(32,))
        timm_names, res = ["resnet10t"], 32
    else:
        space = spaces.get("efficientnet_x")
        timm_names, res = [t for t in args.timm.split(",") if t], None
    rng = np.random.default_rng(args.seed)
    for i in range(args.archs):
        arch = space.decode(space.sample(rng))
        out.append((f"effx-{i}", arch, arch.resolution))
    for name in timm_names:
        model = timm.create_model(name)
        size = res or int(model.pretrained_cfg.get("input_size", (3, 224, 224))[-1])
        out.append((name, model, size))
    if args.models:
        keep = {m.strip() for m in args.models.split(",")}
        unknown = keep - {name for name, _, _ in out}
        if unknown:
            raise SystemExit(
                f"--models {sorted(unknown)}: not among the candidates {[n for n, _, _ in out]}"
            )
        out = [c for c in out if c[0] in keep]
    return out


def variants(args, cuda: bool):
    """(label, backend, device, precision, options, batch sizes)."""
    from accelsearch.objectives.latency.tensorrt_backend import tensorrt_available

    batches = [int(b) for b in args.batch_sizes.split(",")]
    ort_batches = [int(b) for b in args.ort_batch_sizes.split(",")]
    prec = args.precision or ("fp16" if cuda else "fp32")
    dev = args.device
    out = []
    if cuda:
        out.append(("torch-cuda-graph", "torch", dev, prec, {"cuda_graphs": True}, batches))
        out.append(("torch-eager", "torch", dev, prec, {"cuda_graphs": False}, batches))
        if args.compile:
            out.append(("torch-compile+graph", "torch", dev, prec, {"compile": True}, batches))
        if tensorrt_available():
            out.append(("tensorrt", "tensorrt", dev, prec, {}, batches))
    else:  # one thread: a shared CPU with several threads measures contention, not the model
        threads = {"threads": 1} if args.quick else {}
        out.append(("torch-cpu-eager", "torch", "cpu", "fp32", threads, batches))
    if not args.no_onnxruntime:
        if cuda and _ort_cuda():
            out.append(("onnxruntime-cuda", "onnxruntime", dev, prec, {}, batches))
        out.append(("onnxruntime-cpu", "onnxruntime", "cpu", "fp32", {}, ort_batches))
    if args.variants:
        keep = {v.strip() for v in args.variants.split(",")}
        out = [v for v in out if v[0] in keep]
    return out


def _ort_cuda() -> bool:
    try:
        import onnxruntime as ort
    except ImportError:
        return False
    return "CUDAExecutionProvider" in ort.get_available_providers()


def oom_check(args, protocol) -> dict:
    """A batch that cannot fit must fail with a clear error, free what it took and leave the
    process able to measure the next candidate."""
    import torch

    from accelsearch import spaces
    from accelsearch.errors import MeasurementError
    from accelsearch.objectives import latency

    cuda = args.device != "cpu"
    batch = args.oom_batch if args.oom_batch is not None else (4096 if cuda else 0)
    if not batch:
        return {"skipped": True}
    space = spaces.get("efficientnet_x")
    big = space.reference("efficientnet-x-b7")
    small = space.reference("efficientnet-x-b0")
    before = torch.cuda.memory_allocated() if cuda else 0
    out: dict = {"batch": batch, "resolution": big.resolution}
    t = time.perf_counter()
    try:
        r = latency.measure(big, batch, backend="torch", device=args.device, cache=False,
                            protocol=protocol)  # fmt: skip
        out.update(raised=False, median_ms=r.median_ms)
    except MeasurementError as exc:
        out.update(raised=True, message=str(exc)[:400])
    out["seconds"] = time.perf_counter() - t
    if cuda:
        out["allocated_before_mb"] = before / 2**20
        out["allocated_after_mb"] = torch.cuda.memory_allocated() / 2**20
    r = latency.measure(
        small, 8, backend="torch", device=args.device, cache=False, protocol=protocol
    )
    out["next_measurement_ms"] = r.median_ms
    print(
        f"[oom check] batch {batch}: raised={out.get('raised')}, then b0 batch 8 = {r.median_ms:.3f} ms"
    )
    return out


def main() -> None:
    args = parse()
    if args.quick:
        args.archs, args.repeats = min(args.archs, 2), min(args.repeats, 2)
        args.batch_sizes, args.ort_batch_sizes = "1,4", "1"
    from accelsearch.errors import AccelSearchError
    from accelsearch.objectives import latency
    from accelsearch.objectives.latency import Protocol

    cuda = args.device != "cpu"
    out = Path(args.out)
    protocol = Protocol(max_seconds=2.0) if args.quick else Protocol()
    res = Results(
        out / f"{args.stem}.json",
        {
            "benchmark": "latency_backends",
            "env": environment(args.device),
            "args": vars(args),
            "protocol": vars(protocol),
        },
    )
    cands = candidates(args)
    t_all = time.perf_counter()
    summary = []
    for label, backend, dev, prec, options, batches in variants(args, cuda):
        for batch in batches:
            per_cand = []
            for name, model, size in cands:
                meds, cvs, walls, builds = [], [], [], []
                for rep in range(args.repeats):
                    try:
                        r = latency.measure(
                            model, batch, size, backend=backend, device=dev, precision=prec,
                            protocol=protocol, cache=False, **options,
                        )  # fmt: skip
                    except AccelSearchError as exc:
                        res.add(
                            {"variant": label, "batch": batch, "model": name, "error": str(exc)}
                        )
                        print(f"{label:<20} b{batch:<4} {name:<16} ERROR {exc}")
                        break
                    meds.append(r.median_ms)
                    cvs.append(r.cv)
                    walls.append(r.wall_s)
                    builds.append(r.build_s)
                    res.add(
                        {
                            "variant": label, "backend": r.backend, "mode": r.mode,
                            "device_name": r.device_name, "precision": r.precision,
                            "batch": batch, "model": name, "resolution": size, "repeat": rep,
                            "median_ms": r.median_ms, "p10_ms": r.p10_ms, "p90_ms": r.p90_ms,
                            "cv": r.cv, "n": r.n, "ci_rel": r.ci_rel, "noisy": r.noisy,
                            "wall_s": r.wall_s, "build_s": r.build_s,
                        }
                    )  # fmt: skip
                if meds:
                    across = float(np.std(meds) / np.mean(meds)) if len(meds) > 1 else None
                    per_cand.append((np.mean(cvs), across, np.mean(walls), np.mean(meds)))
                    print(
                        f"{label:<20} b{batch:<4} {name:<16} {np.median(meds):9.3f} ms  "
                        f"cv {np.mean(cvs):.4f}  across {across if across is None else round(across, 4)}"
                        f"  wall {np.mean(walls):5.2f} s"
                    )
            if per_cand:
                acr = [c[1] for c in per_cand if c[1] is not None]
                row = {
                    "variant": label,
                    "batch": batch,
                    "precision": prec,
                    "candidates": len(per_cand),
                    "cv_within": float(np.mean([c[0] for c in per_cand])),
                    "cv_across": float(np.mean(acr)) if acr else None,
                    "wall_s": float(np.mean([c[2] for c in per_cand])),
                    "mean_latency_ms": float(np.mean([c[3] for c in per_cand])),
                }
                summary.append(row)
                res.summary("per_variant", summary)
    res.summary("out_of_memory", oom_check(args, protocol))
    res.summary("total_s", time.perf_counter() - t_all)
    cols = ["variant", "batch", "precision", "candidates", "cv_within", "cv_across", "wall_s",
            "mean_latency_ms"]  # fmt: skip
    text = table(summary, cols)
    env = res.data["meta"]["env"]
    (out / f"{args.stem}.md").write_text(
        f"# Latency backends: noise and cost per candidate\n\n{env['device_name']}, torch "
        f"{env['torch']}, {env['date']}; {args.repeats} repeats of each of {len(cands)} "
        f"candidates, fresh backend and no cache each time.\n\n{text}\n\n"
        "cv_within: CV of the samples of one measurement; cv_across: std/mean of the medians of "
        "repeated measurements; wall_s: build + warm-up + timing per candidate.\n"
    )
    print()
    print(text)
    print(f"\n[latency_backends] {time.perf_counter() - t_all:.0f} s -> {out}")


if __name__ == "__main__":
    main()
