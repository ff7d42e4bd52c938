"""Benchmark: the lookup table's cost model for layers it never measured.

A table (``lut.sqlite``) holds measured layers; a network with a layer the table lacks gets
that layer from ``Estimator`` (``accelsearch/objectives/latency/lut/fill.py``), fitted on
the table. Two checks, each for the model's features as they are (``kernels``) and for the
first three alone (``size``: constant, MACs, bytes - the model before the kernel terms):

1. **Layers**: 5-fold cross-validation on every table of the store - each layer estimated
   by a model fitted on the other four folds; relative error, mean and absolute.
2. **Networks** (``--trials``, a JSON list of ``{"arch": text, "in_trial_ms": ms}``, and
   ``--measured``, JSON lines with ``"alone_ms"``): whole networks measured on a GPU against
   the table's prediction
   (its missing layers estimated, the fusion correction applied), for ``--device-name``'s
   table at batch 1.

    python benchmarks/lut_estimator_cv.py \\
        --trials benchmarks/results/latency/contention_archs.json \\
        --measured benchmarks/results/latency/latency_contention_h100.jsonl \\
        --device-name "NVIDIA H100 80GB HBM3" --out benchmarks/results/latency/lut_estimator_cv.json

CPU only, ~1 min.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from accelsearch.core.accounting import BYTES_PER_ELEMENT  # noqa: E402
from accelsearch.core.arch import Arch  # noqa: E402
from accelsearch.objectives.latency.lut import fill  # noqa: E402
from accelsearch.objectives.latency.lut.predictor import LUTPredictor  # noqa: E402
from accelsearch.objectives.latency.lut.store import LUTStore  # noqa: E402

STORE = "benchmarks/results/latency/lut.sqlite"
FEATURES = {"kernels": None, "size": 3}  # how many of Estimator.features to keep
_FULL = fill.Estimator.features


def use(variant: str) -> None:
    """Make ``Estimator`` use ``variant``'s features (the size-only model: the first 3)."""
    keep = FEATURES[variant]
    fill.Estimator.features = staticmethod(
        _FULL if keep is None else (lambda key, batch, bpe: _FULL(key, batch, bpe)[:keep])
    )


def layer_cv(table: dict[str, float], batch: int, precision: str, folds: int = 5) -> dict:
    keys = [k for k in table if fill.parse_layer_text(k) is not None]
    order = np.random.default_rng(0).permutation(len(keys))
    errors, sizes = [], []
    for part in np.array_split(order, folds):
        held = set(part.tolist())
        est = fill.Estimator.fit(
            {keys[i]: table[keys[i]] for i in range(len(keys)) if i not in held}, batch, precision
        )
        for i in part:
            y = table[keys[i]]
            errors.append((est.predict(fill.parse_layer_text(keys[i])) - y) / y)
            sizes.append(y)
    e, ms = np.array(errors), np.array(sizes)
    slow = ms >= 0.05
    return {
        "layers": len(e),
        "mean_error_pct": 100 * float(e.mean()),
        "mape_pct": 100 * float(np.abs(e).mean()),
        "p90_abs_error_pct": 100 * float(np.quantile(np.abs(e), 0.9)),
        "mean_error_pct_layers_0.05ms_up": 100 * float(e[slow].mean()) if slow.any() else None,
    }


def network_errors(items: list[dict], device_name: str) -> dict:
    lut = LUTPredictor(
        device_name=device_name,
        backend="torch",
        precision="fp16",
        batch_size=1,
        store=STORE,
        fill="estimate",
        num_classes=10,
    )
    archs = [Arch.from_string(it["arch"]) for it in items]
    pred = lut.predict_many(archs)
    ref = np.array([it.get("alone_ms", it.get("in_trial_ms")) for it in items])
    e = (pred - ref) / ref
    return {
        "networks": len(e),
        "mean_error_pct": 100 * float(e.mean()),
        "mape_pct": 100 * float(np.abs(e).mean()),
        "worst_pct": 100 * float(e[np.argmax(np.abs(e))]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trials", help="archs with their in-trial latency (JSON list)")
    p.add_argument("--measured", help="the same archs measured alone (JSON lines), if any")
    p.add_argument("--device-name", default="NVIDIA H100 80GB HBM3")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    store = LUTStore(STORE)
    out: dict = {"store": STORE, "layers": [], "networks": []}
    for variant in FEATURES:
        use(variant)
        for tid in store.tables():
            if tid.precision not in BYTES_PER_ELEMENT:
                continue
            row = {"features": variant, "table": tid.device_name, "batch": tid.batch_size}
            row.update(layer_cv(store.table(tid), tid.batch_size, tid.precision))
            out["layers"].append(row)
            print(json.dumps(row))
        if args.trials:
            items = json.loads(Path(args.trials).read_text())
            sets = {"in the trial": items}
            if args.measured:
                alone = [json.loads(line) for line in Path(args.measured).read_text().splitlines()]
                sets["alone"] = alone
            for name, rows in sets.items():
                row = {"features": variant, "table": args.device_name, "reference": name}
                row.update(network_errors(rows, args.device_name))
                out["networks"].append(row)
                print(json.dumps(row))
    use("kernels")
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
