"""Filling the lookup table: layers timed alone (in parallel over identical GPUs) or
estimated from a cost model fitted on the layers already timed."""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from accelsearch.core.accounting import BYTES_PER_ELEMENT
from accelsearch.core.arch import Head, Stage
from accelsearch.core.errors import ArchError, MeasurementError
from accelsearch.objectives.latency.backends import get_backend
from accelsearch.objectives.latency.base import LatencyBackend
from accelsearch.objectives.latency.layers import LayerKey, layer_cost, layer_module
from accelsearch.objectives.latency.lut.store import LUTStore, TableId
from accelsearch.objectives.latency.protocol import Protocol

#: rows written to the store at a time (progress on disk in case the run is cut short)
COMMIT_EVERY = 50


@dataclass
class FillReport:
    """What a fill did: layers measured or estimated, seconds, devices used."""

    measured: int = 0
    estimated: int = 0
    seconds: float = 0.0
    devices: list[str] = field(default_factory=list)


def fill_devices(device: str, device_name: str) -> list[str]:
    """Every GPU of this machine named ``device_name`` (the table's device), else ``device``."""
    if device == "cpu" or not torch.cuda.is_available():
        return [device]
    count = torch.cuda.device_count()
    same = [f"cuda:{i}" for i in range(count) if torch.cuda.get_device_name(i) == device_name]
    return same or [device]


def measure_parallel(spec: dict[str, Any], keys: list[LayerKey], devices: list[str]) -> int:
    """Time ``keys`` over ``devices`` (one spawned process each, see :func:`fill_worker`);
    returns how many were timed."""
    shards = [keys[i :: len(devices)] for i in range(len(devices))]
    with ProcessPoolExecutor(len(devices), mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(fill_worker, spec, d, s) for d, s in zip(devices, shards)]
        return sum(f.result() for f in futures)


def measure_one(backend: LatencyBackend, key: LayerKey, batch_size: int):
    module = layer_module(key)
    try:
        r = backend.measure(module, batch_size, key.size, num_classes=0, in_chans=key.in_chs)
    except MeasurementError as exc:
        raise MeasurementError(f"LUT layer {key.text}: {exc}") from None
    return (key.text, r.median_ms, r.cv, r.n, r.mode)


def fill_worker(spec: dict[str, Any], device: str, keys: list[LayerKey]) -> int:
    """One process per GPU: time ``keys`` on ``device`` and write them to the store."""
    store = LUTStore(spec["store"])
    tid = TableId.from_text(spec["table"])
    backend = get_backend(
        spec["backend"],
        device,
        spec["precision"],
        Protocol(**spec["protocol"]),
        cache=False,
        **spec["options"],
    )
    rows = []
    with backend:
        for key in keys:
            rows.append(measure_one(backend, key, spec["batch_size"]))
            if len(rows) >= COMMIT_EVERY:
                store.put_many(tid, rows)
                rows = []
        store.put_many(tid, rows)
    return len(keys)


class Estimator:
    """Cost model for layers not in the table: per block type,
    ``ms ≈ c0 + c1·MACs·batch + c2·bytes·batch + c3·SE + c4·act + c5·expand + c6·residual``
    (non-negative least squares) fitted on the table's layers; a type with fewer than 5
    layers uses the pooled fit. The last four are 0/1: a squeeze-excite, an activation other
    than ReLU, an expansion (ratio ≠ 1), a residual add. At batch 1 a layer's time is mostly
    its kernels, and each of these adds some: without them the model erred by 20-23 % on
    held-out layers of the H100 and H200 tables at batch 1 (5-fold, biased 25-28 % low on
    the layers of 0.05-0.1 ms), with them by 6-7 % (``benchmarks/results/latency/
    lut_estimator_cv.md``)."""

    def __init__(self, coefs: dict[str, np.ndarray], size: int, batch: int, bpe: int) -> None:
        self.coefs = coefs
        self.size = size
        self.batch = batch
        self.bpe = bpe

    @staticmethod
    def features(key: LayerKey, batch: int, bpe: int) -> np.ndarray:
        c = layer_cost(key)
        gmacs = c.macs * batch / 1e9
        mbytes = (c.params + (c.in_elems + c.out_elems) * batch) * bpe / 1e6
        b = key.block
        if b is None:  # the head: its own fit, from size alone
            return np.array([1.0, gmacs, mbytes, 0.0, 0.0, 0.0, 0.0])
        kernels = (
            b.se > 0,
            b.act not in ("relu", "none"),
            b.expansion != 1,
            key.in_chs == b.width and b.stride == 1,
        )
        return np.array([1.0, gmacs, mbytes, *(float(k) for k in kernels)])

    @classmethod
    def fit(cls, table: dict[str, float], batch: int, precision: str) -> Estimator:
        from scipy.optimize import nnls  # scipy is heavy to import and only this needs it

        bpe = BYTES_PER_ELEMENT[precision]
        rows: dict[str, list[tuple[np.ndarray, float]]] = {}
        for text, ms in table.items():
            key = parse_layer_text(text)
            if key is None:
                continue
            rows.setdefault(key.kind, []).append((cls.features(key, batch, bpe), ms))
        pooled = [r for rs in rows.values() for r in rs]
        if len(pooled) < 3:
            raise MeasurementError(
                f"the LUT table has {len(pooled)} measured layers; fill='estimate' needs at "
                "least 3 to fit its cost model (measure some archs first)"
            )

        def solve(rs):
            X = np.stack([f for f, _ in rs])
            y = np.array([ms for _, ms in rs])
            w = 1.0 / np.maximum(y, 1e-6)
            coef, _ = nnls(X * w[:, None], y * w)
            return coef

        coefs = {"*": solve(pooled)}
        for kind, rs in rows.items():
            if len(rs) >= 5:
                coefs[kind] = solve(rs)
        return cls(coefs, len(table), batch, bpe)

    def predict(self, key: LayerKey) -> float:
        coef = self.coefs.get(key.kind, self.coefs["*"])
        return float(max(self.features(key, self.batch, self.bpe) @ coef, 1e-4))


def parse_layer_text(text: str) -> LayerKey | None:
    """Inverse of ``LayerKey.text`` (``None`` for text it does not understand)."""
    parts = text.split("|")
    try:
        kind = parts[0]
        cin, cout = (int(v) for v in parts[1].split(">"))
        size = int(parts[2][1:])
        if kind == "head":
            head = Head(width=cout, act=parts[3])
            return LayerKey.of_head(head, cin, size, int(parts[4][2:]))
        kw: dict[str, Any] = dict(
            kernel=int(parts[3][1:]),
            stride=int(parts[4][1:]),
            expansion=float(parts[5][1:]),
            se=float(parts[6][2:]),
            act=parts[7],
        )
        for p in parts[8:]:
            if p.startswith("o["):
                kw["ops"] = tuple(p[2:-1].split(",")) if p[2:-1] else ()
            elif p.startswith("n"):
                kw["nominal_in"] = int(p[1:])
            elif p.startswith("d"):
                kw["depth"] = int(p[1:])
        return LayerKey(cin, size, Stage(kind, width=cout, **kw))
    except (ValueError, IndexError, ArchError):
        return None
