"""GPU proxy-training recipe on CIFAR-10: time and accuracy per candidate, rank stability.

Trains 5 ImageNet-style architectures of different size (``benchmarks/cifar_archs.py``)
with two seeds each on CIFAR-10 (the JPEG copy: a train archive and a separate test
archive), with one fixed recipe for every candidate:

* 32 px, total stride capped at 8 (``max_stride``: stem and first strides dropped, the
  CIFAR adaptation of ImageNet nets; a 4×4 map before pooling);
* batch 512, SGD (Nesterov) lr 0.4 with a one-cycle schedule (1 epoch linear warm-up, linear
  decay), weight decay 5e-4, label smoothing 0.1, per-image random crop + flip on the GPU;
* bf16 autocast and channels_last on CUDA; data decoded once to uint8 and kept on the GPU;
* ``--epochs auto`` (default): a short probe times a few training steps of every
  architecture, and the epoch count is the largest that keeps the slowest candidate under
  ``--candidate-budget-s`` (train + eval), between ``--min-epochs`` and ``--max-epochs``.

It writes JSON as it goes (``--out``) and ends with a table and Kendall's tau between the
two seeds' rankings. ``--quick`` runs a tiny CPU version (a few hundred images, 1 epoch) to
prove the script end to end.

GPU (one H100/H200, about 6-8 minutes)::

    PYTHONUNBUFFERED=1 python benchmarks/proxy_train_cifar.py --device cuda \\
        --train .data/cifar10/cifar10-train-50k.tar.gz --val .data/cifar10/cifar10-test-10k.tar.gz \\
        --out benchmarks/results/proxy_train_cifar_h100.json
"""

from __future__ import annotations

import argparse
import math
import time

from _common import ResultFile, environment, kendall_tau, spearman_rho, text_table

DEFAULT_TRAIN = "../shared/data/cifar10/cifar10-train-50k.tar.gz"
DEFAULT_VAL = "../shared/data/cifar10/cifar10-test-10k.tar.gz"


def parse_args(argv=None):
    import cifar_archs

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", default=DEFAULT_TRAIN, help="CIFAR-10 train archive or folder")
    p.add_argument("--val", default=DEFAULT_VAL, help="separate test/val archive or folder")
    p.add_argument("--out", default="benchmarks/results/proxy_train_cifar.json")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--quick", action="store_true", help="tiny CPU run to test the script")
    p.add_argument("--archs", default=",".join(cifar_archs.FOUNDATION))
    p.add_argument("--arch-source", default="auto", choices=["auto", "foundation"])
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--epochs", default="auto", help="an integer, or 'auto' (see above)")
    p.add_argument("--min-epochs", type=int, default=2)
    p.add_argument("--max-epochs", type=int, default=12)
    p.add_argument("--candidate-budget-s", type=float, default=40.0)
    p.add_argument(
        "--total-budget-s", type=float, default=540.0, help="stop starting runs after this"
    )
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--lr", type=float, default=0.4)
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--scheduler", default="onecycle")
    p.add_argument("--warmup-epochs", type=float, default=1.0)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--augment", default="crop,flip")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--max-stride", type=int, default=8)
    p.add_argument("--amp", default="bf16", choices=["bf16", "fp16", "none"])
    p.add_argument("--data-fraction", type=float, default=1.0)
    p.add_argument("--val-limit", type=int, default=None, help="validation images used")
    p.add_argument("--compile", action="store_true", help="torch.compile each candidate")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (cpu device)")
    p.add_argument("--probe-steps", type=int, default=12, help="timed steps per arch probe")
    args = p.parse_args(argv)
    if args.quick:  # minutes on a laptop CPU: 250 images at 16 px, 1 epoch
        args.device = "cpu"
        args.data_fraction = min(args.data_fraction, 0.005)
        args.val_limit = args.val_limit or 200
        args.batch_size = min(args.batch_size, 32)
        args.resolution = 16
        args.max_stride = 4
        args.epochs = "1"
        args.lr = min(args.lr, 0.1)
        args.warmup_epochs = 0.0
        args.threads = args.threads or 1
        args.probe_steps = 2
        args.total_budget_s = float("inf")
    return args


def train_config(args, seed: int, epochs: int):
    from accelsearch.objectives.accuracy import TrainConfig

    return TrainConfig(
        dataset=args.train,
        val_dataset=args.val,
        epochs=epochs,
        batch_size=args.batch_size,
        eval_batch_size=max(1024, args.batch_size),
        lr=args.lr,
        optimizer=args.optimizer,
        scheduler=args.scheduler,
        warmup_epochs=min(args.warmup_epochs, epochs / 2),
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        augment=tuple(a for a in args.augment.split(",") if a),
        resolution=args.resolution,
        max_stride=args.max_stride,
        data_fraction=args.data_fraction,
        val_limit=args.val_limit,
        seed=seed,
        device=args.device,
        amp=None if args.amp == "none" else args.amp,
        compile=args.compile,
        threads=args.threads,
    )


def probe_seconds_per_step(evaluator, arch, steps: int = 12, warmup: int = 4) -> float:
    """Seconds per training step of ``arch`` with the evaluator's recipe (random labels)."""
    import torch

    from accelsearch.builder import build_model
    from accelsearch.objectives.accuracy.train import cap_stride

    c = evaluator.config
    dev = evaluator.device()
    data = evaluator.data()
    t = evaluator._tensors(dev)
    train_arch = cap_stride(arch, c.max_stride)
    torch.backends.cudnn.benchmark = dev.type == "cuda"
    fmt = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
    model = build_model(train_arch, num_classes=data.num_classes).to(dev, memory_format=fmt)
    if c.compile and dev.type == "cuda":
        model = torch.compile(model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(c.amp or "")
    bs = min(c.batch_size, len(t["train_y"]))
    x_u8, y = t["train_x"][:bs], t["train_y"][:bs]
    res = c.resolution or arch.resolution

    def step():
        x = evaluator._prepare(x_u8, t, res, arch.in_chans, True, fmt)
        with torch.autocast(dev.type, dtype=amp, enabled=amp is not None and dev.type == "cuda"):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    return (time.perf_counter() - t0) / steps


def main(argv=None) -> int:
    import cifar_archs
    import torch

    from accelsearch.objectives.accuracy import TrainEvaluator

    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but CUDA is not available; use --device cpu or --quick")
    t_start = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [n for n in args.archs.split(",") if n]
    archs = {n: cifar_archs.get(n, args.arch_source) for n in names}
    out = ResultFile(
        args.out,
        {
            "benchmark": "proxy_train_cifar",
            "environment": environment(
                args.device,
                backend="torch eager" + (" + torch.compile" if args.compile else ""),
                precision=args.amp if args.device == "cuda" else "fp32",
            ),
            "args": vars(args),
            "archs": {
                n: {"arch": str(a), "source": src, "imagenet_resolution": a.resolution}
                for n, (a, src) in archs.items()
            },
            "runs": [],
            "status": "running",
        },
    )
    doc = out.doc

    # data: decoded once (cached) and moved to the device once
    t0 = time.perf_counter()
    probe_eval = TrainEvaluator(train_config(args, seeds[0], 1))
    data = probe_eval.data()
    probe_eval._tensors(probe_eval.device())
    doc["data"] = {"summary": data.summary(), "load_s": time.perf_counter() - t0}
    print(f"[data] {data.summary()} in {doc['data']['load_s']:.1f} s", flush=True)
    out.write()

    # cost of each candidate (the trained, stride-capped arch) and the epoch count
    from accelsearch.accounting import arch_cost
    from accelsearch.objectives.accuracy.train import cap_stride

    n_train = len(probe_eval._tensors(probe_eval.device())["train_y"])
    bs = min(args.batch_size, n_train)
    steps_per_epoch = n_train // bs
    probe = {}
    for n, (a, _) in archs.items():
        trained = cap_stride(a.replace(resolution=args.resolution), args.max_stride)
        cost = arch_cost(trained, num_classes=data.num_classes)
        sec = probe_seconds_per_step(
            probe_eval,
            a.replace(resolution=args.resolution),
            steps=args.probe_steps,
            warmup=min(4, args.probe_steps),
        )
        probe[n] = {
            "params_m": cost.params_m,
            "gmacs_train_res": cost.gmacs,
            "trained_arch": str(trained),
            "probe_s_per_step": sec,
            "probe_epoch_s": sec * steps_per_epoch * 1.15,  # + eval of the val set
        }
        print(
            f"[probe] {n}: {cost.params_m:.2f} M params, {cost.gmacs:.3f} GMACs, "
            f"{sec * 1e3:.1f} ms/step, ~{probe[n]['probe_epoch_s']:.1f} s/epoch",
            flush=True,
        )
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    doc["probe"] = probe
    if args.epochs == "auto":
        slowest = max(p["probe_epoch_s"] for p in probe.values())
        epochs = int(
            max(
                args.min_epochs, min(args.max_epochs, math.floor(args.candidate_budget_s / slowest))
            )
        )
    else:
        epochs = int(args.epochs)
    doc["epochs"] = epochs
    print(
        f"[recipe] {epochs} epoch(s) for every candidate, {steps_per_epoch} steps of {bs}",
        flush=True,
    )
    out.write()

    # training: both seeds of one arch, then the next (a cut-short run keeps whole pairs)
    for n, (a, _src) in archs.items():
        for seed in seeds:
            elapsed = time.perf_counter() - t_start
            est = probe[n]["probe_epoch_s"] * epochs
            if elapsed + est > args.total_budget_s:
                doc["runs"].append({"arch": n, "seed": seed, "status": "skipped (total budget)"})
                out.write()
                continue
            ev = TrainEvaluator(train_config(args, seed, epochs))
            run = {"arch": n, "seed": seed, "status": "running"}
            doc["runs"].append(run)
            t0 = time.perf_counter()
            try:
                acc = ev.evaluate(a.replace(resolution=args.resolution))
            except Exception as exc:  # noqa: BLE001 - recorded, the benchmark goes on
                run.update(status="failed", error=f"{type(exc).__name__}: {exc}")
                out.write()
                print(f"[run] {n} seed {seed}: FAILED {exc}", flush=True)
                continue
            wall = time.perf_counter() - t0
            lr = ev.last_run
            run.update(
                status="ok",
                accuracy=acc,
                accuracy_per_epoch=lr["accuracy"],
                train_loss_per_epoch=lr["train_loss"],
                train_s=lr["train_s"],
                eval_s=lr["eval_s"],
                wall_s=wall,
                images_per_s=lr["images_per_s"],
            )
            out.write()
            print(
                f"[run] {n} seed {seed}: {acc:.2f} % in {wall:.1f} s "
                f"(train {lr['train_s']:.1f} s, eval {lr['eval_s']:.1f} s, "
                f"{lr['images_per_s']:.0f} img/s)",
                flush=True,
            )
            if torch.cuda.is_available():
                torch.cuda.empty_cache()

    # summary: per-arch mean, rank agreement between seeds
    ok = [r for r in doc["runs"] if r["status"] == "ok"]
    by_arch: dict[str, dict[int, dict]] = {}
    for r in ok:
        by_arch.setdefault(r["arch"], {})[r["seed"]] = r
    rows, summary = [], {}
    for n in archs:
        runs = by_arch.get(n, {})
        accs = [runs[s]["accuracy"] for s in seeds if s in runs]
        walls = [runs[s]["wall_s"] for s in seeds if s in runs]
        summary[n] = {
            "mean_accuracy": sum(accs) / len(accs) if accs else None,
            "accuracies": accs,
            "mean_wall_s": sum(walls) / len(walls) if walls else None,
            "params_m": probe[n]["params_m"],
            "gmacs_train_res": probe[n]["gmacs_train_res"],
        }
        rows.append(
            [n, probe[n]["params_m"], probe[n]["gmacs_train_res"], *accs, summary[n]["mean_wall_s"]]
        )
    taus = {}
    if len(seeds) >= 2:
        both = [n for n in archs if all(s in by_arch.get(n, {}) for s in seeds[:2])]
        a0 = [by_arch[n][seeds[0]]["accuracy"] for n in both]
        a1 = [by_arch[n][seeds[1]]["accuracy"] for n in both]
        taus = {
            "archs": both,
            "kendall_tau": kendall_tau(a0, a1),
            "spearman_rho": spearman_rho(a0, a1),
        }
    doc["summary"] = summary
    doc["rank_agreement"] = taus
    doc["wall_s"] = time.perf_counter() - t_start
    doc["status"] = "done"
    out.write()
    head = ["arch", "params M", "GMACs@train", *[f"acc seed {s}" for s in seeds], "s/candidate"]
    for r in rows:  # pad missing seeds
        while len(r) < len(head):
            r.insert(-1, None)
    print(text_table(head, rows))
    if taus:
        print(
            f"Kendall tau between seeds {seeds[0]} and {seeds[1]} over {len(taus['archs'])} "
            f"archs: {taus['kendall_tau']}; Spearman {taus['spearman_rho']}"
        )
    print(f"total {doc['wall_s']:.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
