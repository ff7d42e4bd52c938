"""Benchmark: does a training on the same GPU change a latency measurement?

A search with ``gpus_per_trial < 1`` runs several trials on one GPU. Measurements take the
device lock (``objectives/latency/lock.py``) so they do not time each other, but a trial
that is *training* holds no lock. This script measures each arch of ``--archs`` (a JSON list
of ``{"arch": text, ...}``; ``benchmarks/results/latency/contention_archs.json`` holds the
archs measured in the GPUNet budget runs of 2026-12-07) twice, back to back: once with the
GPU otherwise idle, and once while another process trains a network on the same GPU
(timm's ResNet-50 at 32 px, batch 512, bf16, SGD on random data - a load like a proxy
training's). The trainer pauses between the two measurements (a ``multiprocessing`` event
it checks every step), so the order alone / contended is the same for every arch and any
drift of the GPU's clocks falls on both.

One JSON line per arch goes to ``--out`` as soon as it is measured (a cut run keeps what it
did); ``--seconds`` stops starting new archs after that many seconds.

    PYTHONUNBUFFERED=1 python benchmarks/latency_contention.py --device cuda \\
        --archs benchmarks/results/latency/contention_archs.json --limit 12 \\
        --out $OUT/contention.jsonl --seconds 200

CPU check (a few seconds an arch): ``--device cpu --limit 2 --out /tmp/c.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time

PROTOCOL = {"warmup": 10, "min_reps": 100, "max_reps": 1000, "max_seconds": 3.0}  # the recipe's


def trainer(device: str, paused, ready, stop) -> None:
    """Train ResNet-50 on random 32 px images until ``stop``; idle while ``paused``."""
    import timm
    import torch

    model = timm.create_model("resnet50", num_classes=10).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(512, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (512,), device=device)
    dtype = torch.bfloat16 if device != "cpu" else torch.float32
    while not stop.is_set():
        if paused.is_set():
            if device != "cpu":
                torch.cuda.synchronize()
            ready.set()  # the GPU holds none of this process's work now
            time.sleep(0.01)
            continue
        ready.clear()
        with torch.autocast(device.split(":")[0], dtype=dtype, enabled=device != "cpu"):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def measure(arch_text: str, device: str, precision: str) -> float:
    from accelsearch.core.arch import Arch
    from accelsearch.objectives.latency import get_backend

    with get_backend("torch", device, precision, PROTOCOL, cache=False) as b:
        return b.measure(Arch.from_string(arch_text), 1, num_classes=10).median_ms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--archs", default="benchmarks/results/latency/contention_archs.json")
    p.add_argument("--out", required=True, help="JSON lines, one per arch")
    p.add_argument("--device", default="cuda")
    p.add_argument("--precision", default=None, help="fp16 on a GPU, fp32 on a CPU")
    p.add_argument("--limit", type=int, default=None, help="the first N archs of each run")
    p.add_argument("--seconds", type=float, default=float("inf"))
    args = p.parse_args()
    precision = args.precision or ("fp32" if args.device == "cpu" else "fp16")
    items = json.load(open(args.archs))
    if args.limit:
        per_run: dict[str, int] = {}
        kept = []
        for it in items:
            per_run[it.get("run", "")] = per_run.get(it.get("run", ""), 0) + 1
            if per_run[it.get("run", "")] <= args.limit:
                kept.append(it)
        items = kept
    ctx = mp.get_context("spawn")
    paused, ready, stop = ctx.Event(), ctx.Event(), ctx.Event()
    paused.set()
    proc = ctx.Process(target=trainer, args=(args.device, paused, ready, stop), daemon=True)
    proc.start()
    t0 = time.perf_counter()
    try:
        with open(args.out, "a") as out:
            for i, it in enumerate(items):
                if time.perf_counter() - t0 > args.seconds:
                    print(f"[contention] time budget: stopped after {i} archs")
                    break
                paused.set()
                ready.wait(600)
                alone = measure(it["arch"], args.device, precision)
                paused.clear()
                time.sleep(1.0)  # the trainer is under way again
                busy = measure(it["arch"], args.device, precision)
                row = {**it, "alone_ms": alone, "with_training_ms": busy}
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(
                    f"[contention] {i}: alone {alone:.3f} ms, with a training {busy:.3f} ms "
                    f"({100 * (busy / alone - 1):+.1f} %), in the trial {it.get('in_trial_ms', 0):.3f}"
                )
    finally:
        stop.set()
        proc.join(30)


if __name__ == "__main__":
    main()
