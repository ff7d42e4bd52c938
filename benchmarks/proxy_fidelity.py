"""Proxy fidelity: does the accuracy proxy rank published models the way ImageNet does?

Each model is proxy-trained from scratch on CIFAR-10 (``TrainEvaluator``, one proxy per
``--variants`` entry, ``--seeds`` seeds), and the proxy's ranking is compared with the
published ImageNet top-1 of the same architectures (timm's ``results-imagenet.csv``, packaged
in ``accelsearch.data``):

* ``kendall_tau``: Kendall's tau-b between mean proxy accuracy and ImageNet top-1 over the
  models that have an ImageNet figure;
* ``within_family_concordance``: the share of same-family pairs that the proxy orders as
  ImageNet does (families from the model names: ``efficientnet_b0..b3``, ``resnet18..101``,
  ``gernet_s/m/l``; the project's own EfficientNet-B0 grown by compound scaling takes the
  order B0 < φ1 < φ2 < φ3 by construction).

Ground truth per timm model: the best top-1 row of timm's *default* pretrained checkpoint
(the tag ``timm.create_model(name, pretrained=True)`` loads), fixed before any proxy ran.

Models (``--models``): any timm names, plus ``accelsearch:efficientnet-b0`` and
``accelsearch:efficientnet-b0-phiN`` (the project's reference B0 grown with EfficientNet's
accuracy-only coefficients α=1.2, β=1.1, γ=1.15 to φ=N). Each is built at its own ImageNet
resolution (timm's pretrained config; 224 px × γ^φ for the grown B0s); a proxy with
``resolution_scale`` trains it at that resolution × the scale.

GPU use: ``--workers`` processes share the GPU (small proxy trainings leave it idle between
kernel launches, so several at once use it better). The GPU-seconds of a model are its
share of the wall time of the phase (one variant, one seed) that trained all models:
``phase wall × 1 / models``, i.e. what the proxy costs when the GPU does nothing else.
Every training is appended to ``<out>.jsonl`` as it finishes; a rerun skips what is there
(a cut run resumes), and ``--summarize`` rebuilds the JSON and the ``.md`` from it.

    # GPU machine (CIFAR-10 archives copied into .data/):
    PYTHONUNBUFFERED=1 python benchmarks/proxy_fidelity.py --device cuda \\
        --train .data/cifar10-train-50k.tar.gz --val .data/cifar10-test-10k.tar.gz \\
        --variants recipe,fixed32 --seeds 0,1 --workers 6 \\
        --out benchmarks/results/accuracy/proxy_fidelity_h100.json
    # CPU, tiny (proves the script end to end):
    python benchmarks/proxy_fidelity.py --quick --out /tmp/pf.json

Needs torch, timm, numpy and PyYAML (for ``--recipe``); no Ray, MLflow or pydantic.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, ResultFile, environment, kendall_tau  # noqa: E402
from _proxy_pool import run_pool, warm_data  # noqa: E402

DEFAULT_MODELS = (
    "efficientnet_b0,efficientnet_b1,efficientnet_b2,efficientnet_b3,"
    "resnet18,resnet34,resnet50,resnet101,gernet_s,gernet_m,gernet_l,"
    "accelsearch:efficientnet-b0,accelsearch:efficientnet-b0-phi1,"
    "accelsearch:efficientnet-b0-phi2,accelsearch:efficientnet-b0-phi3"
)
GPU_PROXY = dict(  # what the GPU recipes shared before this benchmark (issue 15's "old" proxy)
    batch_size=512, lr=0.4, scheduler="onecycle", warmup_epochs=1, label_smoothing=0.1,
    amp="bf16",
)  # fmt: skip
#: proxies by name; "recipe" is read from --recipe
PRESETS: dict[str, dict[str, Any]] = {
    "fixed32": dict(GPU_PROXY, resolution=32, max_stride=8, epochs=8),
    "scale29": dict(GPU_PROXY, resolution_scale=0.286, epochs=8),
    "scale57q": dict(GPU_PROXY, resolution_scale=0.571, epochs=8, data_fraction=0.25),
    "scale29e16": dict(GPU_PROXY, resolution_scale=0.286, epochs=16),
    # the linear-scaling-rule lr (0.1 per 256 images) and a longer warm-up: at lr 0.4 the
    # bottleneck nets (ResNet-50/101, GENet) overshot in epoch 1 (train loss above ln 10)
    "scale29s": dict(GPU_PROXY, resolution_scale=0.286, epochs=8, lr=0.2, warmup_epochs=2),
    # the overshoot's other cures: clip the gradient norm, or the classifier's lr by its width
    "scale29c": dict(GPU_PROXY, resolution_scale=0.286, epochs=8, clip_grad=1.0),
    "scale29h": dict(GPU_PROXY, resolution_scale=0.286, epochs=8, head_lr_width=512),
    "scale29he16": dict(GPU_PROXY, resolution_scale=0.286, epochs=16, head_lr_width=512),
    # the longest budget inside the 90-GPU-s cap for the ResNets (~17 GPU-s per 8 epochs)
    "scale29he32": dict(GPU_PROXY, resolution_scale=0.286, epochs=32, head_lr_width=512),
    # the same number of steps as scale29he32 for a half or a quarter of its compute (smaller
    # batches, lr by the linear-scaling rule): is it steps or epochs the bottleneck nets lack?
    "scale29hb256e16": dict(
        GPU_PROXY, resolution_scale=0.286, epochs=16, head_lr_width=512, batch_size=256, lr=0.2
    ),
    "scale29hb128e8": dict(
        GPU_PROXY, resolution_scale=0.286, epochs=8, head_lr_width=512, batch_size=128, lr=0.1
    ),
    "scale29hb128e16": dict(
        GPU_PROXY, resolution_scale=0.286, epochs=16, head_lr_width=512, batch_size=128, lr=0.1
    ),
    # twice the side (128 px for 224 px): the last stage of a stride-32 net sees 4x4, not 2x2
    "scale57h": dict(GPU_PROXY, resolution_scale=0.571, epochs=8, head_lr_width=512),
}
_PROJECT = "accelsearch:"
_SCORES = ("accuracy", "neg_val_loss", "neg_train_loss")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/results/accuracy/proxy_fidelity.json")
    p.add_argument("--models", default=DEFAULT_MODELS, help="comma-separated (see docstring)")
    p.add_argument("--variants", default="recipe,fixed32", help=f"of {sorted(PRESETS)}, recipe")
    p.add_argument("--recipe", default="recipes/efficientnet_x_gpu.yaml")
    p.add_argument("--primary", default=None, help="variant reported at the top (default: 1st)")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--workers", type=int, default=4, help="trainings sharing the GPU at once")
    p.add_argument(
        "--pack-seeds", action="store_true", help="all seeds of a variant in one GPU batch"
    )
    p.add_argument("--device", default="cuda")
    p.add_argument("--train", help="CIFAR-10 train archive or folder (ImageFolder layout)")
    p.add_argument("--val", help="CIFAR-10 test archive or folder")
    p.add_argument("--time-budget-s", type=float, default=1e9, help="start no phase after this")
    p.add_argument("--summarize", action="store_true", help="rebuild JSON/MD from the JSONL")
    p.add_argument("--quick", action="store_true", help="CPU, digits, two tiny models")
    args = p.parse_args(argv)
    if args.quick:
        args.device, args.workers = "cpu", 2
        if args.models == DEFAULT_MODELS:
            args.models = "resnet10t,resnet14t"
        args.seeds = "0"
    return args


# -- models and ground truth -------------------------------------------------------------------
def model_arch(name: str):
    """The ``Arch`` of a model name at its own ImageNet resolution."""
    if name.startswith(_PROJECT):
        from accelsearch import spaces
        from accelsearch.scaling.efficientnet import EFFICIENTNET_COEFFICIENTS
        from accelsearch.scaling.rules import compound

        ref, _, phi = name[len(_PROJECT) :].partition("-phi")
        space = spaces.get("efficientnet")
        base = space.reference(ref)
        if not phi:
            return base
        return compound(base, *EFFICIENTNET_COEFFICIENTS, float(phi), space=space)
    from accelsearch.spaces.timm_zoo import timm_arch

    return timm_arch(name)


def family_of(name: str) -> str:
    """Family key from a model name: the name without its size suffix."""
    if name.startswith(_PROJECT):
        return name.partition("-phi")[0]
    return re.sub(r"(_?b\d+|_[a-z]{1,2}|\d+[a-z]?|_\d+)$", "", name) or name


def ground_truth(names: list[str]) -> dict[str, dict[str, Any]]:
    """Per model: ImageNet top-1 of timm's default checkpoint, or the order within a grown
    family (``rank``) for the project's compound-scaled models."""
    from accelsearch import data
    from accelsearch.objectives.accuracy.table import TableAccuracy

    table = TableAccuracy.timm(data.timm_imagenet_results())
    truth: dict[str, dict[str, Any]] = {}
    for name in names:
        if name.startswith(_PROJECT):
            phi = name.partition("-phi")[2]
            truth[name] = {"rank": int(phi or 0), "source": "compound scaling order"}
            continue
        key = _default_checkpoint(name)
        try:
            row = table.row(key)
        except KeyError:
            truth[name] = {"source": f"{key} not in the table"}
            continue
        truth[name] = {
            "imagenet_top1": row["top1"], "checkpoint": key, "img_size": row["img_size"],
            "rank": row["top1"], "source": "timm results-imagenet.csv",
        }  # fmt: skip
    return truth


def _default_checkpoint(name: str) -> str:
    if "." in name:
        return name
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    tag = getattr(cfg, "tag", None) if cfg is not None else None
    if not tag:
        from timm.models._registry import _model_default_cfgs  # no public accessor

        tags = getattr(_model_default_cfgs.get(name), "tags", None) or [""]
        tag = tags[0]
    return f"{name}.{tag}" if tag else name


# -- phases --------------------------------------------------------------------------------------
def variant_options(args, name: str) -> dict[str, Any]:
    if name == "recipe":
        import yaml

        recipe = yaml.safe_load((ROOT / args.recipe).read_text())
        opts = dict(recipe["accuracy"]["options"])
    elif name in PRESETS:
        opts = dict(PRESETS[name])
    else:
        raise SystemExit(f"unknown variant {name!r}; valid: recipe, {', '.join(PRESETS)}")
    for key in ("dataset", "val_dataset", "device", "log_path", "cache_dir"):
        opts.pop(key, None)
    if args.quick:
        opts.update(dataset="digits", val_dataset=None, device="cpu", amp=None, epochs=1,
                    batch_size=64, lr=0.1, warmup_epochs=0, data_fraction=0.3)  # fmt: skip
    else:
        opts.update(dataset=args.train, val_dataset=args.val, device=args.device)
    return opts


def load_done(jsonl: Path) -> list[dict[str, Any]]:
    if not jsonl.exists():
        return []
    return [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]


def run_phase(args, variant, seeds, models, jsonl, phases) -> None:
    """Train every model for every seed in ``seeds`` as one batch on the GPU."""
    opts = variant_options(args, variant)
    done = {(r["model"], r["seed"]) for r in load_done(jsonl)
            if r["variant"] == variant and "error" not in r}  # fmt: skip
    todo = [(m, s) for m in models for s in seeds if (m, s) not in done]
    if not todo:
        return
    warm_data(opts)
    # longest first (larger resolution × more blocks), so the phase does not end on one job
    todo.sort(key=lambda ms: -_cost_hint(ms[0]))
    tasks = [dict(variant=variant, model=m, seed=s, options=opts, device=args.device,
                  arch=model_arch(m).to_json()) for m, s in todo]  # fmt: skip

    def record(rec: dict[str, Any]) -> None:
        with open(jsonl, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        what = rec.get("error") or f"{rec['accuracy']:.2f} % at {rec['train_resolution']} px"
        print(f"[{variant} s{rec['seed']}] {rec['model']}: {what} ({rec['wall_s']:.1f} s)",
              flush=True)  # fmt: skip

    wall = run_pool(tasks, args.workers, record)
    phases.append(dict(variant=variant, seeds=sorted({s for _, s in todo}), trainings=len(todo),
                       models=len({m for m, _ in todo}), wall_s=wall, workers=args.workers))  # fmt: skip


def _cost_hint(name: str) -> float:
    arch = model_arch(name)
    return arch.resolution**2 * max(1, getattr(arch, "num_blocks", 1))


# -- summary -------------------------------------------------------------------------------------
def summarize(records, phases, truth, variants, models) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant in variants:
        rows = [r for r in records if r["variant"] == variant and "error" not in r]
        per_model: dict[str, dict[str, Any]] = {}
        for m in models:
            runs = [r for r in rows if r["model"] == m]
            if not runs:
                continue
            accs = [r["accuracy"] for r in runs]
            per_model[m] = {
                "family": family_of(m),
                "train_resolution": runs[0]["train_resolution"],
                "arch_resolution": runs[0]["arch_resolution"],
                "seeds": sorted(r["seed"] for r in runs),
                "accuracy_mean": sum(accs) / len(accs),
                "accuracy_spread": max(accs) - min(accs),
                "accuracy_by_seed": {str(r["seed"]): r["accuracy"] for r in runs},
                "neg_val_loss": -_mean([r["val_loss"][-1] for r in runs]),
                "neg_train_loss": -_mean([r["train_loss"][-1] for r in runs]),
                "train_wall_s_mean": _mean([r["wall_s"] for r in runs]),
                **{k: v for k, v in truth.get(m, {}).items() if k != "rank"},
            }
        gpu_s = _gpu_seconds(phases, variant)
        for v in per_model.values():
            v["gpu_seconds"] = gpu_s.get("per_model_all_seeds")
        scores = {s: _ranking(per_model, truth, s) for s in _SCORES}
        out[variant] = {"models": per_model, "gpu_seconds": gpu_s, **scores["accuracy"],
                        "other_scores": {s: scores[s] for s in _SCORES[1:]}}  # fmt: skip
    return out


def _mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def _gpu_seconds(phases, variant) -> dict[str, Any]:
    mine = [p for p in phases if p["variant"] == variant]
    if not mine:
        return {}
    # a phase trained `trainings` (model, seed) pairs; older phases held one seed each
    trainings = sum(p.get("trainings", p["models"]) for p in mine)
    wall = sum(p["wall_s"] for p in mine)
    seeds = len({s for p in mine for s in p.get("seeds", [p.get("seed")])})
    return {
        "phases": mine,
        "per_training": wall / trainings,
        "per_model_all_seeds": wall / trainings * seeds,
    }


def _ranking(per_model, truth, score: str) -> dict[str, Any]:
    def value(m):
        return per_model[m]["accuracy_mean"] if score == "accuracy" else per_model[m][score]

    imagenet = [m for m in per_model if "imagenet_top1" in truth.get(m, {})]
    tau = kendall_tau([value(m) for m in imagenet], [truth[m]["imagenet_top1"] for m in imagenet])
    pairs, missed = 0, []
    names = list(per_model)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if family_of(a) != family_of(b) or "rank" not in truth.get(a, {}) \
                    or "rank" not in truth.get(b, {}):  # fmt: skip
                continue
            ta, tb = truth[a]["rank"], truth[b]["rank"]
            if ta == tb:
                continue
            pairs += 1
            lo, hi = (a, b) if ta < tb else (b, a)
            if not value(lo) < value(hi):
                missed.append([lo, hi])
    return {
        "kendall_tau": tau,
        "kendall_tau_models": len(imagenet),
        "within_family_pairs": pairs,
        "within_family_concordance": (pairs - len(missed)) / pairs if pairs else None,
        "pairs_out_of_order": missed,
    }


def write_md(path: Path, doc: dict[str, Any]) -> None:
    env, primary = doc["environment"], doc["primary"]
    lines = [
        f"# Proxy fidelity on {env.get('device_name')}: proxy accuracy vs published ImageNet",
        "",
        f"{env['date'][:10]}, torch {env['torch']}, timm {env['timm']}, CUDA {env.get('cuda')}; "
        f"{doc['workers']} trainings share the GPU at a time. Command: `{doc['command']}`",
        "",
        f"Primary proxy `{primary}`: **Kendall τ {_f(doc['kendall_tau'])}**, **within-family "
        f"concordance {_f(doc['within_family_concordance'])}**, "
        f"**{_f(doc['gpu_seconds_per_model'])} GPU-s per model** (all seeds).",
        "",
        "| proxy | τ vs ImageNet | within-family | GPU-s / model | pairs out of order |",
        "|---|---:|---:|---:|---|",
    ]
    for name, v in doc["variants"].items():
        missed = "; ".join(f"{a} ≥ {b}" for a, b in v["pairs_out_of_order"]) or "none"
        lines.append(
            f"| `{name}` | {_f(v['kendall_tau'])} | {_f(v['within_family_concordance'])} "
            f"({v['within_family_pairs']} pairs) | "
            f"{_f(v['gpu_seconds'].get('per_model_all_seeds'))} | {missed} |"
        )
    for name, v in doc["variants"].items():
        missing = [m for m in doc["models_requested"] if m not in v["models"]]
        lines += ["", f"## `{name}`: {json.dumps(doc['options'][name])}", ""]
        if missing:
            lines += [f"**Partial: {len(v['models'])} of {len(doc['models_requested'])} models "
                      f"trained** (missing: {', '.join(missing)}); τ and concordance above cover "
                      "only the trained ones.", ""]  # fmt: skip
        lines += [
                  "| model | ImageNet top-1 | trained at px | proxy acc (mean) | spread | "
                  "seeds | wall s / training |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for m, r in v["models"].items():
            lines.append(
                f"| {m} | {_f(r.get('imagenet_top1'))} | {r['train_resolution']} | "
                f"{r['accuracy_mean']:.2f} | {r['accuracy_spread']:.2f} | {len(r['seeds'])} | "
                f"{r['train_wall_s_mean']:.1f} |"
            )
        other = ", ".join(
            f"{s}: τ {_f(o['kendall_tau'])}, within-family {_f(o['within_family_concordance'])}"
            for s, o in v["other_scores"].items()
        )
        lines += ["", f"Other scores from the same trainings: {other}."]
    if doc.get("failures"):
        lines += ["", "## Failed trainings", ""]
        lines += [f"* {f['variant']} {f['model']} seed {f['seed']}: {f['error']}"
                  for f in doc["failures"]]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def _f(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    jsonl = out.with_suffix(".jsonl")
    out.parent.mkdir(parents=True, exist_ok=True)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    truth = ground_truth(models)
    for m in models:
        model_arch(m)  # an unknown name fails here, before any training
    phases_file = out.with_suffix(".phases.json")
    phases = json.loads(phases_file.read_text()) if phases_file.exists() else []
    run_file = out.with_suffix(".env.json")  # the training run's machine and command
    if not args.summarize or not run_file.exists():
        run_file.write_text(json.dumps({
            "environment": environment(args.device), "workers": args.workers,
            "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
            "options": {v: variant_options(args, v) for v in variants},
        }, indent=1))  # fmt: skip
    run_info = json.loads(run_file.read_text())
    start = time.time()
    if not args.summarize:
        batches = [(v, seeds) for v in variants] if args.pack_seeds else [
            (v, [s]) for s in seeds for v in variants]  # fmt: skip
        for variant, batch in batches:
            if time.time() - start > args.time_budget_s:
                print(f"time budget spent; {variant} seeds {batch} not started", flush=True)
                continue
            run_phase(args, variant, batch, models, jsonl, phases)
            phases_file.write_text(json.dumps(phases, indent=1))
    records = load_done(jsonl)
    summary = summarize(records, phases, truth, variants, models)
    primary = args.primary or variants[0]
    top = summary.get(primary, {})
    doc = {
        "kendall_tau": top.get("kendall_tau"),
        "within_family_concordance": top.get("within_family_concordance"),
        "gpu_seconds_per_model": top.get("gpu_seconds", {}).get("per_model_all_seeds"),
        "primary": primary,
        "targets": {
            "within_family_concordance": 0.9,
            "kendall_tau": 0.5,
            "gpu_seconds_per_model": 90,
        },  # fmt: skip
        "command": run_info["command"],
        "environment": run_info["environment"],
        "workers": run_info["workers"],
        "options": {v: run_info["options"].get(v) or variant_options(args, v) for v in variants},
        "models_requested": models,
        "ground_truth": truth,
        "variants": summary,
        "failures": [r for r in records if "error" in r],
    }
    ResultFile(out, doc)
    write_md(out.with_suffix(".md"), doc)
    print(f"{primary}: tau {_f(doc['kendall_tau'])}, within-family "
          f"{_f(doc['within_family_concordance'])}, GPU-s/model "
          f"{_f(doc['gpu_seconds_per_model'])}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
