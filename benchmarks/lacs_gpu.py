"""LACS on a GPU: families from EfficientNet-X-B0 and GENet-light to ×1.5, ×2, ×3, ×4 latency.

For each base model (``--bases space:reference,...``) this measures the base latency at
batch 128 fp16 (PyTorch, CUDA-graph replay, channels_last), runs LACS to the targets with a
short CIFAR-10 proxy training as the accuracy (``TrainEvaluator`` on a class-balanced
subset, at a fraction of each model's resolution), then grows the same base with
EfficientNet's accuracy-only coefficients (α=1.2, β=1.1, γ=1.15) to the same targets, φ
solved on measured latency (equal latency, EfficientNet-X's single-objective ablation).

Recorded (JSON, rewritten after every step so a run cut short keeps what it did): per base,
the chosen α/β/γ, every grid point, per member the target and measured latency, the error,
the measurements it cost, accuracy, reward, size; the comparison per target; wall time
split into latency and accuracy; device, versions, date, backend, precision.

    # on the GPU machine (≈ 5-7 minutes on one H100; see --time-budget-s)
    PYTHONUNBUFFERED=1 python benchmarks/lacs_gpu.py --device cuda \\
        --cifar-train data/cifar10-train-50k.tar.gz --cifar-test data/cifar10-test-10k.tar.gz \\
        --out benchmarks/results/lacs_gpu.json

    # here, on the CPU, tiny sizes (proves the script end to end)
    python benchmarks/lacs_gpu.py --quick --out /tmp/lacs_quick.json

Needs only torch, timm, numpy (no Ray, MLflow, pydantic or YAML).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import re
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/results/lacs_gpu.json")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--quick", action="store_true", help="CPU, tiny sizes, a few minutes")
    p.add_argument(
        "--bases",
        default="efficientnet_x:efficientnet-x-b0,genet:genet-light",
        help="comma-separated space:reference (a space missing here is recorded and skipped)",
    )
    p.add_argument("--targets", default="x1.5,x2,x3,x4", help="ms or multiples of the base")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--precision", default="fp16")
    p.add_argument("--lat-warmup", type=int, default=10)
    p.add_argument("--lat-min-reps", type=int, default=20)
    p.add_argument("--lat-max-reps", type=int, default=200)
    p.add_argument("--lat-max-seconds", type=float, default=1.5)
    p.add_argument("--grid", default="default", help="'default' or 'a,b,g;a,b,g'")
    p.add_argument("--max-triples", type=int, default=4)
    p.add_argument("--grid-target", type=int, default=0, help="target index of the grid search")
    p.add_argument("--tolerance", type=float, default=0.02)
    p.add_argument("--max-measurements", type=int, default=8)
    p.add_argument("--max-multiplier", type=float, default=8.0)
    p.add_argument("--compare-phi", default="latency", choices=["latency", "flops", "none"])
    p.add_argument(
        "--proxy",
        default="recipe",
        choices=["recipe", "subset"],
        help="recipe: the accuracy proxy of --recipe on all of CIFAR-10, --seeds seeds, trained "
        "in --workers processes between latency measurements; subset: the old short proxy",
    )
    p.add_argument("--recipe", default="recipes/efficientnet_x_gpu.yaml")
    p.add_argument("--seeds", default="0,1", help="proxy seeds (recipe proxy); mean is scored")
    p.add_argument(
        "--state-dir",
        help="keep every latency and proxy training here as it finishes; a later run with the "
        "same folder (on another machine too) replays them and trains only what is missing",
    )
    p.add_argument("--workers", type=int, default=6, help="proxy trainings sharing the GPU")
    p.add_argument("--cifar-train", help="cifar10-train-50k.tar.gz (train/<class>/*.jpg)")
    p.add_argument("--cifar-test", help="cifar10-test-10k.tar.gz (validation); else from train")
    p.add_argument(
        "--data-dir",
        help="where the class-balanced subset is written (default: the system temp folder)",
    )
    p.add_argument("--train-per-class", type=int, default=1000)
    p.add_argument("--val-per-class", type=int, default=200)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.2)
    p.add_argument("--warmup-epochs", type=float, default=0.3)
    p.add_argument(
        "--train-res-factor",
        type=float,
        default=0.5,
        help="proxy training at this fraction of each model's resolution (keeps γ visible)",
    )
    p.add_argument("--min-train-res", type=int, default=32)
    p.add_argument(
        "--amp", default="bf16", help="proxy-training autocast on CUDA (bf16, fp16, none)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--time-budget-s", type=float, default=540.0, help="stop starting new work after this"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.device = "cpu"
        args.batch_size = 4
        args.precision = "fp32"
        args.bases = (
            args.bases if "--bases" in (argv or sys.argv) else "efficientnet_x:efficientnet-x-b0"
        )
        args.targets = "x1.3,x1.8"
        args.max_triples = 2
        args.max_measurements = 5
        args.max_multiplier = 4.0
        args.tolerance = 0.05
        args.lat_warmup, args.lat_min_reps, args.lat_max_reps, args.lat_max_seconds = 2, 5, 30, 0.3
        args.train_per_class, args.val_per_class = 30, 10
        args.epochs, args.train_batch, args.lr, args.warmup_epochs = 1, 64, 0.05, 0.0
        args.train_res_factor, args.min_train_res = 0.5, 16
        args.amp = "none"
    return args


# -- data ------------------------------------------------------------------------------------------
def cifar_subset(
    train_tgz: str, test_tgz: str | None, n_train: int, n_val: int, dest: Path
) -> Path:
    """``dest/train/<class>`` (n_train per class) and ``dest/val/<class>`` (n_val per class),
    extracted from the archives without unpacking the rest (so only these are decoded)."""
    marker = dest / ".complete"
    if marker.exists():
        return dest
    counts: dict[tuple[str, str], int] = {}

    def take(archive: str, split: str, skip: int, n: int) -> None:
        with tarfile.open(archive) as tar:
            for m in tar:
                parts = Path(m.name).parts
                if not m.isfile() or len(parts) < 3 or not parts[-1].lower().endswith(".jpg"):
                    continue
                cls = parts[-2]
                k = counts.get((archive + split, cls), 0)
                counts[(archive + split, cls)] = k + 1
                if skip <= k < skip + n:
                    out = dest / split / cls / parts[-1]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(tar.extractfile(m).read())

    take(train_tgz, "train", 0, n_train)
    if test_tgz:
        take(test_tgz, "val", 0, n_val)
    else:
        counts.clear()
        take(train_tgz, "val", n_train, n_val)
    marker.touch()
    return dest


class ProxyAccuracy:
    """Accuracy of an arch by proxy training at ``factor`` × its resolution (one
    ``TrainEvaluator`` per training resolution; the decoded data is shared)."""

    def __init__(self, config: dict[str, Any], factor: float, min_res: int, deadline: float):
        self.config = config
        self.factor = factor
        self.min_res = min_res
        self.deadline = deadline
        self._evaluators: dict[int, Any] = {}
        self.seconds: list[float] = []

    def resolution(self, arch) -> int:
        from accelsearch.scaling import round_resolution

        return max(self.min_res, round_resolution(arch.resolution * self.factor, 8))

    def __call__(self, arch) -> float:
        from accelsearch.objectives.accuracy import TrainEvaluator

        if time.time() > self.deadline:
            raise TimeBudgetExceeded("time budget spent before this accuracy evaluation")
        res = self.resolution(arch)
        if res not in self._evaluators:
            self._evaluators[res] = TrainEvaluator(**{**self.config, "resolution": res})
        t0 = time.perf_counter()
        acc = self._evaluators[res].evaluate(arch)
        self.seconds.append(time.perf_counter() - t0)
        return acc


def recipe_proxy_options(args) -> dict[str, Any]:
    """The accuracy proxy of ``--recipe`` (its ``accuracy.options``), on this machine's data."""
    import yaml

    opts = dict(yaml.safe_load((ROOT / args.recipe).read_text())["accuracy"]["options"])
    for key in ("dataset", "val_dataset", "device", "log_path", "cache_dir"):
        opts.pop(key, None)
    if args.quick:
        opts.update(dataset="digits", val_dataset=None, device="cpu", amp=None, epochs=1,
                    batch_size=64, lr=0.1, warmup_epochs=0, data_fraction=0.3)  # fmt: skip
    else:
        if not args.cifar_train:
            raise SystemExit("--cifar-train is required with --proxy recipe (or --quick)")
        opts.update(dataset=args.cifar_train, val_dataset=args.cifar_test, device=args.device)
    return opts


class DeferredAccuracy:
    """The recipe's proxy, trained in batches between latency measurements.

    LACS asks for an arch's accuracy while it solves; this records the arch and answers
    NaN, then :meth:`train_pending` trains every recorded arch for every seed at once in
    worker processes that share the GPU (no latency is measured meanwhile), stores the mean
    in LACS's cache, and the caller runs LACS again: every latency and accuracy is then read
    from the cache, so the second pass measures nothing and returns the real scores.
    """

    def __init__(self, options, seeds, workers, device, deadline, say, state=None):
        self.options, self.seeds, self.workers = options, seeds, workers
        self.device, self.deadline, self.say = device, deadline, say
        self.pending: dict[str, Any] = {}
        self.grid_archs: dict[tuple, Any] = {}  # (α, β, γ) -> the arch at the grid target
        self.by_seed: dict[str, dict[int, float]] = {}
        self.records: list[dict[str, Any]] = []
        self.wall_s = 0.0
        self.state = Path(state) if state else None  # trainings of earlier runs (resume)
        if self.state is not None and self.state.exists():
            saved = json.loads(self.state.read_text())
            self.records = saved.get("records", [])
            self.wall_s = float(saved.get("wall_s", 0.0))
            for rec in self.records:
                if "error" not in rec:
                    self.by_seed.setdefault(rec["key"], {})[int(rec["seed"])] = rec["accuracy"]
            say(f"[proxy] resumed {len(self.records)} trainings from {self.state}")

    def complete(self, key: str) -> bool:
        return all(sd in self.by_seed.get(key, {}) for sd in self.seeds)

    def missing_seeds(self, key: str, _mean: float) -> bool:
        """Whether an arch trained in this state lacks one of this run's seeds (an arch this
        state never trained keeps the score it has: it came from elsewhere)."""
        return key in self.by_seed and not self.complete(key)

    def mean(self, key: str) -> float:
        accs = [self.by_seed[key][sd] for sd in self.seeds if sd in self.by_seed.get(key, {})]
        return sum(accs) / len(accs) if accs else math.nan

    def __call__(self, arch) -> float:
        if self.complete(arch.hash()):  # trained in an earlier run of this state
            return self.mean(arch.hash())
        self.pending.setdefault(arch.hash(), arch)
        return math.nan

    def _save(self) -> None:
        if self.state is None:
            return
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(json.dumps({"records": self.records, "wall_s": self.wall_s}, default=str))
        tmp.replace(self.state)

    def train_pending(self, evals) -> None:
        from _proxy_pool import run_pool, warm_data

        archs = list(self.pending.values())
        self.pending.clear()
        if not archs:
            return
        tasks = [
            dict(key=a.hash(), seed=sd, options=self.options, device=self.device,
                 arch=a.to_json(indent=None))
            for a in sorted(archs, key=lambda a: -a.resolution) for sd in self.seeds
            if sd not in self.by_seed.get(a.hash(), {})
        ]  # fmt: skip
        if tasks and time.time() > self.deadline:
            raise TimeBudgetExceeded("time budget spent before the proxy trainings")
        if tasks:
            warm_data(self.options)

        def done(rec):
            self.records.append({k: v for k, v in rec.items() if k != "traceback"})
            acc = rec.get("accuracy", math.nan)
            if "error" not in rec:
                self.by_seed.setdefault(rec["key"], {})[rec["seed"]] = acc
            self._save()
            self.say(
                f"[proxy] {rec['key'][:8]} seed {rec['seed']}: "
                + (rec.get("error") or f"{acc:.2f} % at {rec['train_resolution']} px")
            )

        self.wall_s += run_pool(tasks, self.workers, done)
        self._save()
        for a in archs:
            evals.set_accuracy(a, self.mean(a.hash()))

    def seeds_of(self, arch) -> dict[int, float]:
        return dict(self.by_seed.get(arch.hash(), {}))


class TimeBudgetExceeded(RuntimeError):
    pass


# -- results ---------------------------------------------------------------------------------------
def environment(args) -> dict[str, Any]:
    import timm
    import torch

    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "cuda": torch.version.cuda,
        "host": platform.node(),
        "device": args.device,
    }
    if args.device == "cuda" and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(0)
    else:
        env["device_name"] = platform.processor() or platform.machine()
    return env


class Recorder:
    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = path
        self.data = data
        path.parent.mkdir(parents=True, exist_ok=True)
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        tmp.replace(self.path)


def member_row(m) -> dict[str, Any]:
    return {
        "name": m.name,
        "key": m.arch.hash(),
        "target_ms": m.target_ms,
        "latency_ms": m.latency_ms,
        "error_pct": 100 * m.latency_error,
        "within_tolerance": m.within_tolerance,
        "solve": m.solve,
        "n_measurements": m.n_measurements,
        "phi": m.phi,
        "alpha_beta_gamma": [m.alpha, m.beta, m.gamma],
        "accuracy": m.accuracy,
        "reward": m.reward,
        "params_m": m.params_m,
        "gflops": m.gflops,
        "intensity_flop_per_byte": m.intensity,
        "utilisation": m.utilisation,
        "resolution": m.arch.resolution,
        "depths": [s.depth for s in m.arch.stages],
        "arch": str(m.arch),
        "latency": {
            k: m.latency.get(k)
            for k in ("median_ms", "p10_ms", "p90_ms", "cv", "n", "mode", "noisy")
        },
    }


# -- one base ----------------------------------------------------------------------------------
def run_base(spec: str, args, rec: Recorder, deadline: float) -> None:
    from accelsearch import scaling, spaces
    from accelsearch.accounting import model_cost
    from accelsearch.objectives import latency
    from accelsearch.objectives.reward import mnas_reward

    entry: dict[str, Any] = {"base": spec, "status": "running", "log": []}
    rec.data["bases"].append(entry)
    t0 = time.perf_counter()

    def say(line: str) -> None:
        print(line, flush=True)
        entry["log"].append(f"{time.perf_counter() - t0:7.1f}s {line}")
        rec.write()

    space_name, _, ref = spec.partition(":")
    if space_name not in spaces.list():
        entry["status"] = "skipped"
        entry["error"] = (
            f"space {space_name!r} is not registered in this checkout (have {spaces.list()})"
        )
        say(f"[bench] {spec}: {entry['error']}")
        return
    space = spaces.get(space_name)
    base = space.reference(ref)
    if args.quick:  # a laptop-sized version of the same structure
        base = scaling.scale(base, width=0.25, resolution=32 / base.resolution, space=space)
    entry["base_arch"] = str(base)
    grid = None
    if args.grid != "default":
        grid = [tuple(float(v) for v in part.split(",")) for part in args.grid.split(";")]
    protocol = {
        "warmup": args.lat_warmup,
        "min_reps": args.lat_min_reps,
        "max_reps": args.lat_max_reps,
        "max_seconds": args.lat_max_seconds,
    }
    acc_config = {
        "dataset": rec.data["data"]["dataset"],
        "epochs": args.epochs,
        "batch_size": args.train_batch,
        "lr": args.lr,
        "warmup_epochs": args.warmup_epochs,
        "device": args.device,
        "seed": args.seed,
        "amp": None if args.amp == "none" or args.device == "cpu" else args.amp,
    }
    state = Path(args.state_dir) if args.state_dir else None
    slug = re.sub(r"[^A-Za-z0-9]+", "_", spec).strip("_")
    if state is not None:
        state.mkdir(parents=True, exist_ok=True)
    if args.proxy == "recipe":
        accuracy = DeferredAccuracy(
            rec.data["proxy_options"], [int(v) for v in args.seeds.split(",")], args.workers,
            args.device, deadline, say, state=state / f"{slug}_proxy.json" if state else None,
        )  # fmt: skip
    else:
        accuracy = ProxyAccuracy(acc_config, args.train_res_factor, args.min_train_res, deadline)
    with latency.get_backend(
        "torch", device=args.device, precision=args.precision, protocol=protocol
    ) as backend:

        def measure(arch):
            if time.time() > deadline:
                raise TimeBudgetExceeded("time budget spent before this latency measurement")
            model = space.build(arch, num_classes=1000)
            return backend.measure(model, args.batch_size, arch.resolution)

        def cost(arch):
            return model_cost(space.build(arch, num_classes=1000), arch.resolution, arch.in_chans)

        efficiency = None
        try:
            from accelsearch.objectives.roofline import efficiency_metrics

            def efficiency(arch, result):
                try:
                    return efficiency_metrics(arch, result, num_classes=1000)
                except (ValueError, TypeError, KeyError, RuntimeError) as exc:
                    return {"efficiency_error": str(exc)}
        except ImportError:  # roofline not in this checkout: intensity/utilisation stay empty
            pass

        evals = None
        if state is not None:  # latencies replayed, so a resumed LACS grows the same archs
            evals = scaling.Evaluations(path=state / f"{slug}_evals.json")
            dropped = evals.forget_unscored()
            say(f"[bench] {spec}: state {evals.path}: {evals.restored} known, {dropped} unscored")
            if isinstance(accuracy, DeferredAccuracy):  # more --seeds than the cached means had
                fewer = evals.forget_accuracies(accuracy.missing_seeds)
                say(f"[bench] {spec}: {fewer} cached means lack a requested seed: trained again")
        lacs = scaling.LACS(
            grid,
            evaluations=evals,
            latency=measure,
            accuracy=accuracy,
            reward=lambda acc, lat, target: mnas_reward(acc, lat, target, -0.09),
            max_triples=args.max_triples,
            grid_target=args.grid_target,
            tolerance=args.tolerance,
            max_measurements=args.max_measurements,
            max_multiplier=args.max_multiplier,
            space=space,
            printer=say,
        )
        base_ms, base_res, _ = lacs.latency(base)
        entry["base_latency"] = base_res.to_dict()
        targets = scaling.resolve_targets(scaling.parse_targets(args.targets), base_ms)
        say(f"[bench] {spec}: base {base_ms:.3f} ms; targets {[round(t, 3) for t in targets]} ms")
        try:
            if isinstance(accuracy, DeferredAccuracy):
                family = run_deferred(lacs, accuracy, base, targets, ref, cost, efficiency, args)
            else:
                family = lacs.run(base, targets, name=ref, cost=cost, efficiency=efficiency)
        except TimeBudgetExceeded as exc:
            entry.update(status="stopped", error=str(exc), wall_s=time.perf_counter() - t0)
            entry["measurements"] = lacs.evals.stats()
            say(f"[bench] {spec}: stopped ({exc})")
            return
        entry["lacs"] = {
            "alpha_beta_gamma": [family.alpha, family.beta, family.gamma],
            "members": [member_row(m) for m in family.members],
            "grid": [
                {
                    "alpha_beta_gamma": [g.alpha, g.beta, g.gamma],
                    "phi": g.phi,
                    "predicted_phi": g.predicted_phi,
                    "latency_ms": g.latency_ms,
                    "accuracy": g.accuracy,
                    "reward": g.reward,
                    "n_measurements": g.n_measurements,
                    "error": g.error,
                }
                for g in family.grid
            ],
            "pruning": family.settings.get("pruning"),
            "total_measurements": family.settings.get("total_measurements"),
            "wall_s": family.wall_s,
        }
        entry["status"] = "lacs done"
        rec.write()
        if isinstance(accuracy, DeferredAccuracy):
            entry["lacs"]["choice"] = triple_choice(family, accuracy, args.grid_target)
            entry["lacs"]["accuracy_by_seed"] = {
                m.name: accuracy.seeds_of(m.arch) for m in family.members
            }
        if args.compare_phi != "none":
            try:
                other = lacs.compare(
                    family, "efficientnet", args.compare_phi, cost=cost, efficiency=efficiency
                )
                if isinstance(accuracy, DeferredAccuracy) and accuracy.pending:
                    accuracy.train_pending(lacs.evals)  # then the same growth, all cached
                    other = lacs.compare(
                        family, "efficientnet", args.compare_phi, cost=cost,
                        efficiency=efficiency,
                    )  # fmt: skip
                entry["efficientnet"] = {
                    "alpha_beta_gamma": [other.alpha, other.beta, other.gamma],
                    "phi_from": args.compare_phi,
                    "members": [member_row(m) for m in other.members],
                    "total_measurements": other.settings.get("total_measurements"),
                    "unreachable": other.settings.get("unreachable", []),
                }
                entry["comparison"] = family.comparison()
            except TimeBudgetExceeded as exc:
                entry["comparison_error"] = str(exc)
                say(f"[bench] {spec}: comparison stopped ({exc})")
    entry["measurements"] = lacs.evals.stats()
    if isinstance(accuracy, DeferredAccuracy):
        entry["proxy_trainings"] = accuracy.records
        entry["proxy_wall_s"] = accuracy.wall_s
    else:
        entry["accuracy_eval_s"] = accuracy.seconds
    entry["wall_s"] = time.perf_counter() - t0
    entry["status"] = "done"
    rec.write()


def run_deferred(lacs, accuracy, base, targets, name, cost, efficiency, args):
    """LACS with the proxy trained in batches: the grid's archs, then the chosen members."""
    from accelsearch.scaling import UnreachableTargetError

    first = sorted(targets)[args.grid_target]
    pruned = lacs.prune(base, first, max(targets))
    for triple in pruned.kept:  # latency only: the arch each triple reaches the target with
        try:
            arch = lacs.solve(base, triple, first, pruned.predicted_phi.get(triple)).arch
        except UnreachableTargetError:
            continue
        accuracy.grid_archs[tuple(triple)] = arch
        accuracy(arch)
    accuracy(base)
    accuracy.train_pending(lacs.evals)
    family = lacs.run(base, targets, name=name, cost=cost, efficiency=efficiency)
    if accuracy.pending:  # the chosen triple's members
        accuracy.train_pending(lacs.evals)
        family = lacs.run(base, targets, name=name, cost=cost, efficiency=efficiency)
    return family


def triple_choice(family, accuracy, grid_target: int) -> dict[str, Any]:
    """The chosen (α, β, γ) per seed and how far ahead of the runner-up it was."""
    from accelsearch.objectives.reward import mnas_reward

    scored = [g for g in family.grid if g.reward is not None and g.reward == g.reward]
    if len(scored) < 2:
        return {"note": "fewer than two grid points were scored"}
    ranked = sorted(scored, key=lambda g: -g.reward)
    target = sorted(m.target_ms for m in family.members if m.phi > 0)[grid_target]
    per_seed: dict[int, list] = {}
    for g in scored:
        arch = accuracy.grid_archs.get((g.alpha, g.beta, g.gamma))
        for seed, acc in (accuracy.seeds_of(arch) if arch is not None else {}).items():
            per_seed.setdefault(seed, []).append(
                ((g.alpha, g.beta, g.gamma), mnas_reward(acc, g.latency_ms, target, -0.09))
            )
    choice_by_seed = {s: max(v, key=lambda t: t[1])[0] for s, v in per_seed.items()}
    # the noise of this choice is the seed spread of the two grid archs it is between (the
    # members' spreads belong to other, larger archs)
    spreads = []
    for g in ranked[:2]:
        arch = accuracy.grid_archs.get((g.alpha, g.beta, g.gamma))
        accs = list(accuracy.seeds_of(arch).values()) if arch is not None else []
        if len(accs) > 1:
            spreads.append(max(accs) - min(accs))
    gap = ranked[0].reward - ranked[1].reward
    noise = max(spreads) if spreads else None
    return {
        "chosen": [ranked[0].alpha, ranked[0].beta, ranked[0].gamma],
        "runner_up": [ranked[1].alpha, ranked[1].beta, ranked[1].gamma],
        "reward_gap": gap,
        "seed_accuracy_spread_max": noise,  # of the chosen and the runner-up grid archs
        "chosen_by_seed": {str(s): list(t) for s, t in choice_by_seed.items()},
        "verdict": "tie (inside the seeds' noise)"
        if noise is not None and (gap <= noise or len(set(choice_by_seed.values())) > 1)
        else "clear",
    }


def print_tables(data: dict[str, Any]) -> None:
    for b in data["bases"]:
        print(
            f"\n== {b['base']}: {b['status']}" + (f" ({b.get('error')})" if b.get("error") else "")
        )
        lacs = b.get("lacs")
        if not lacs:
            continue
        a, be, g = lacs["alpha_beta_gamma"]
        print(
            f"   chosen (α, β, γ) = ({a}, {be}, {g}); {lacs['total_measurements']} latency "
            f"measurements; {b.get('wall_s', 0):.0f} s "
            f"(latency {b['measurements']['latency_s']:.0f} s, accuracy {b['measurements']['accuracy_s']:.0f} s)"
        )
        eff = {
            round(m["target_ms"], 6): m for m in (b.get("efficientnet") or {}).get("members", [])
        }
        print(
            f"   {'target':>8} {'LACS ms':>8} {'err %':>6} {'meas':>4} {'acc':>6}   {'EffNet ms':>9} {'err %':>6} {'acc':>6}"
        )
        for m in lacs["members"]:
            e = eff.get(round(m["target_ms"], 6)) if m["phi"] > 0 else None
            line = (
                f"   {m['target_ms']:8.3f} {m['latency_ms']:8.3f} {m['error_pct']:+6.1f} "
                f"{m['n_measurements']:4d} {m['accuracy'] if m['accuracy'] is not None else math.nan:6.2f}"
            )
            if e is not None:
                line += (
                    f"   {e['latency_ms']:9.3f} {e['error_pct']:+6.1f} "
                    f"{e['accuracy'] if e['accuracy'] is not None else math.nan:6.2f}"
                )
            print(line)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.time()
    deadline = start + args.time_budget_s
    out = Path(args.out)
    import torch

    torch.manual_seed(args.seed)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here; use --device cpu or --quick", file=sys.stderr)
        return 2
    data: dict[str, Any] = {
        "benchmark": "lacs_gpu",
        "environment": environment(args),
        "settings": vars(args),
        "latency_backend": "torch (CUDA graphs, channels_last)"
        if args.device == "cuda"
        else "torch eager (CPU)",
        "precision": args.precision,
        "batch_size": args.batch_size,
        "bases": [],
    }
    if args.proxy == "recipe":
        data["proxy_options"] = recipe_proxy_options(args)
        data["data"] = {"dataset": data["proxy_options"]["dataset"]}
    elif args.cifar_train:
        data_dir = (
            Path(args.data_dir)
            if args.data_dir
            else Path(tempfile.gettempdir())
            / (
                f"accelsearch-lacs-cifar-{args.train_per_class}-{args.val_per_class}"
                + ("-test" if args.cifar_test else "")
            )
        )
        t = time.perf_counter()
        folder = cifar_subset(
            args.cifar_train, args.cifar_test, args.train_per_class, args.val_per_class, data_dir
        )
        data["data"] = {
            "dataset": str(folder),
            "train_per_class": args.train_per_class,
            "val_per_class": args.val_per_class,
            "val_source": "cifar test set" if args.cifar_test else "held-out train images",
            "prepare_s": time.perf_counter() - t,
        }
    else:
        if not args.quick:
            print("--cifar-train is required (or --quick, which uses digits)", file=sys.stderr)
            return 2
        data["data"] = {"dataset": "digits", "note": "--quick without CIFAR: sklearn digits"}
    rec = Recorder(out, data)
    for spec in [s.strip() for s in args.bases.split(",") if s.strip()]:
        if time.time() > deadline:
            data["bases"].append({"base": spec, "status": "skipped", "error": "time budget spent"})
            rec.write()
            continue
        try:
            run_base(spec, args, rec, deadline)
        except Exception as exc:  # noqa: BLE001 - one base failing must not lose the other
            entry = (
                data["bases"][-1] if data["bases"] and data["bases"][-1]["base"] == spec else None
            )
            if entry is None:
                entry = {"base": spec}
                data["bases"].append(entry)
            entry.update(
                status="failed",
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(),
            )
            rec.write()
            print(f"[bench] {spec} failed: {exc}", file=sys.stderr)
    data["wall_s"] = time.time() - start
    rec.write()
    print_tables(data)
    print(f"\n[bench] wrote {out} in {data['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
