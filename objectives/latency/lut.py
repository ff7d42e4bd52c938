"""Latency lookup table (GPUNet §3.2): per-layer latencies summed, plus a fusion correction.

GPUNet measured every layer (block) of its space alone with TensorRT, keyed by the layer's
configuration and input shape, and predicted a network as the sum of its layers; the sum
over-predicted by ~75 µs on ~1 ms networks because an engine fuses across layer boundaries
and each layer timed alone pays its own launch and memory round trip. Here:

* a layer is a block as :mod:`~accelsearch.objectives.latency.layers` cuts an ``Arch``;
  its table key is the layer's text form plus the *table*: batch size, precision, measuring
  backend with its timing options and library version, and device name (:class:`TableId`);
* missing layers are measured on demand with a real backend (PyTorch with CUDA graphs by
  default, or TensorRT, ...), in parallel over the machine's identical GPUs, and kept in a
  SQLite file (:class:`LUTStore`, safe for concurrent writers) that can be copied to the
  machine that runs the search: prediction needs no GPU;
* a :class:`Correction` ``ms = a·Σ + b·n_layers + c``, fitted on a few whole-network
  measurements (weighted least squares on relative error), absorbs the per-layer overhead
  and fusion;
* :meth:`LUTPredictor.predict_many` predicts many archs fast: for a space with a registered
  *fast path* (``efficientnet_x``; others: :func:`register_fast_path`) the sum is split into
  terms that each depend on a few parameters (a stage's own choices, the previous stage's
  width, resolution), each distinct combination is decoded once, and the per-sample total
  is a NumPy gather-and-add, so a million Sobol samples take seconds on a CPU.

Use:

>>> from accelsearch.objectives.latency import lut
>>> p = lut.LUTPredictor(batch_size=1, precision="fp16", device="cuda", space="efficientnet_x")
>>> p.predict(arch)                        # ms (measures missing layers first)
>>> p.fit_correction(archs[:20])           # measures 20 whole networks, fits a, b, c
>>> p.predict_many(param_dicts)            # numpy array of ms
>>> p.predict_unit(sobol_points)           # unit-cube samples of the space's parameters

and as a latency backend: ``latency.measure(arch, backend="lut", device="cuda")``.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from accelsearch.arch import Arch
from accelsearch.errors import ConfigError, MeasurementError, choices_text
from accelsearch.objectives.latency.base import (
    BYTES_PER_ELEMENT,
    InputShape,
    LatencyBackend,
    normalize_device,
)
from accelsearch.objectives.latency.cache import cache_dir, connect, retry_locked
from accelsearch.objectives.latency.layers import (
    LayerKey,
    arch_layers,
    layer_cost,
    layer_module,
    stage_layers_of,
)
from accelsearch.objectives.latency.protocol import Protocol, Stats
from accelsearch.registry import Registry

FILL_MODES = ("measure", "estimate", "error")

#: a light protocol for single layers: they are many and each is short
# layers are many and their sum is calibrated: a busy layer timing is not timed again
LAYER_PROTOCOL = Protocol(
    warmup=5, min_reps=10, max_reps=200, max_seconds=1.0, ci_target=0.02, noisy_retries=0
)


# -- the store --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableId:
    """One lookup table: where and how its layers were timed."""

    device_name: str
    backend: str
    options: str  # canonical JSON of the measuring backend's timing options
    precision: str
    batch_size: int
    library: str  # e.g. "torch 2.11", "tensorrt 10.3"

    @property
    def text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> TableId:
        return cls(**json.loads(text))


_LUT_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS layers (
        tbl TEXT NOT NULL, layer TEXT NOT NULL, median_ms REAL NOT NULL, cv REAL,
        n INTEGER, mode TEXT, created REAL, PRIMARY KEY (tbl, layer))""",
    """CREATE TABLE IF NOT EXISTS corrections (
        tbl TEXT NOT NULL, scope TEXT NOT NULL, data TEXT NOT NULL, created REAL,
        PRIMARY KEY (tbl, scope))""",
)


def default_store_path() -> Path:
    return cache_dir() / "lut.sqlite"


class LUTStore:
    """Layer latencies and corrections in one SQLite file (WAL, concurrent writers)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._conn() as conn:
            for stmt in _LUT_SCHEMA:
                retry_locked(lambda s=stmt: conn.execute(s))

    @contextlib.contextmanager
    def _conn(self):
        conn = connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def table(self, tid: TableId) -> dict[str, float]:
        """Every layer latency (ms) of one table, by layer text."""
        with self._conn() as conn:
            rows = retry_locked(
                lambda: conn.execute(
                    "SELECT layer, median_ms FROM layers WHERE tbl = ?", (tid.text,)
                ).fetchall()
            )
        return {layer: float(ms) for layer, ms in rows}

    def put_many(self, tid: TableId, rows: Sequence[tuple[str, float, float, int, str]]) -> None:
        """Store (layer text, median ms, cv, n, mode) rows in one transaction."""
        now = time.time()
        data = [(tid.text, layer, ms, cv, n, mode, now) for layer, ms, cv, n, mode in rows]

        def write() -> None:
            with self._conn() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany("INSERT OR REPLACE INTO layers VALUES (?,?,?,?,?,?,?)", data)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise

        retry_locked(write)

    def tables(self) -> dict[TableId, int]:
        """Every table in the file with its number of layers."""
        with self._conn() as conn:
            rows = retry_locked(
                lambda: conn.execute("SELECT tbl, COUNT(*) FROM layers GROUP BY tbl").fetchall()
            )
        return {TableId.from_text(t): int(n) for t, n in rows}

    def put_correction(self, tid: TableId, scope: str, corr: Correction) -> None:
        row = (tid.text, scope, json.dumps(asdict(corr)), time.time())
        with self._conn() as conn:
            retry_locked(
                lambda: conn.execute("INSERT OR REPLACE INTO corrections VALUES (?,?,?,?)", row)
            )

    def correction(self, tid: TableId, scope: str) -> Correction | None:
        with self._conn() as conn:
            row = retry_locked(
                lambda: conn.execute(
                    "SELECT data FROM corrections WHERE tbl = ? AND scope = ?", (tid.text, scope)
                ).fetchone()
            )
        return Correction(**json.loads(row[0])) if row else None


# -- the correction ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Correction:
    """``ms = a·lut_sum + b·n_layers + c``, fitted on whole-network measurements.

    ``mape_before``/``mape_after`` are the fit's in-sample mean absolute percentage errors
    of the plain sum and of the corrected prediction.
    """

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    n_fit: int = 0
    mape_before: float = float("nan")
    mape_after: float = float("nan")

    def apply(self, raw: np.ndarray | float, n_layers: np.ndarray | float):
        out = self.a * np.asarray(raw, dtype=float) + self.b * np.asarray(n_layers) + self.c
        floor = 0.05 * np.asarray(raw, dtype=float)  # never below 5 % of the plain sum
        return np.maximum(out, floor)

    @classmethod
    def fit(cls, raw: Sequence[float], n_layers: Sequence[float], measured: Sequence[float]):
        """Least squares on relative error (rows weighted by 1/measured); with fewer than
        four networks only the scale ``a`` is fitted."""
        raw_a = np.asarray(raw, dtype=float)
        n_a = np.asarray(n_layers, dtype=float)
        y = np.asarray(measured, dtype=float)
        if len(y) < 1 or np.any(y <= 0) or np.any(raw_a <= 0):
            raise ConfigError("a LUT correction needs at least one positive measurement")
        w = 1.0 / y
        if len(y) >= 4:
            X = np.stack([raw_a, n_a, np.ones_like(raw_a)], axis=1)
            coef, *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
            a, b, c = (float(v) for v in coef)
        else:
            a, b, c = float(np.sum(raw_a * w * y * w) / np.sum((raw_a * w) ** 2)), 0.0, 0.0
        corr = cls(a, b, c, len(y))
        before = mape(raw_a, y)
        after = mape(corr.apply(raw_a, n_a), y)
        return cls(a, b, c, len(y), before, after)


def mape(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent."""
    p = np.asarray(predicted, dtype=float)
    y = np.asarray(measured, dtype=float)
    return float(np.mean(np.abs(p - y) / y) * 100.0)


# -- fast paths -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    """Part of a network's layer sum that depends only on ``params`` (and ``derived``).

    ``layers(values)`` gets a value for each of ``params`` and ``derived`` and returns
    ``(key, a, b)`` triples. Without ``scale`` the term is ``Σ ms(key) · a``. With ``scale``
    (a stage's depth parameter, value d) it is ``Σ ms(key) · (a · [d ≥ 1] + b · max(d − 1,
    0))``: the first block ``(first, 1, 0)`` once if the stage exists, the repeated block
    ``(repeat, 0, 1)`` d − 1 times.

    ``derived`` names quantities computed per sample from whole parameter columns (NumPy
    arrays of values by parameter name), e.g. a stage's input channels when the stage
    before it may be empty: combinations are formed over their distinct values, so a term
    stays small even when its input depends on many parameters.
    """

    params: tuple[str, ...]
    layers: Callable[[dict[str, Any]], list[tuple[LayerKey, float, float]]]
    scale: str | None = None
    derived: tuple[tuple[str, Callable[[Callable[[str], np.ndarray]], np.ndarray]], ...] = ()


#: space name -> function(space, num_classes) -> list[Term] (the terms must add up to the
#: layer sum of ``space.decode(params)`` for every point; tests check that)
FAST_PATHS: Registry[Callable[..., list[Term]]] = Registry("LUT fast path")


def register_fast_path(space_name: str):
    """Register the term decomposition of a space's layer sum (see :class:`Term`)."""
    return FAST_PATHS.register(space_name)


def partial_decoder(space) -> Callable[[dict[str, Any]], Arch]:
    """``decode`` for a few parameters: the rest take their first declared value (terms
    only read the layers their own parameters decide)."""
    defaults = {name: dist.values()[0] for name, dist in space.params().items()}

    def decode(values: dict[str, Any]) -> Arch:
        return space.decode({**defaults, **values})

    return decode


@contextlib.contextmanager
def _declared_once(space):
    """Let ``space.params()`` answer from one evaluation while many points are decoded
    (``decode`` validates against it each time; a space builds it afresh on every call)."""
    declared = space.params()
    shadowed = "params" in vars(space)
    if not shadowed:
        space.params = lambda: declared  # instance attribute, removed below
    try:
        yield declared
    finally:
        if not shadowed:
            del space.params


@register_fast_path("efficientnet_x")
def _efficientnet_x_terms(space, num_classes: int) -> list[Term]:
    """Stem (+ space-to-depth), one term per stage 3-9 scaled by its depth, head.

    A stage's layers depend on its own choices, the previous stage's width, the resolution
    and the stem layout (space-to-depth, space-to-batch when searched)."""
    from accelsearch.spaces.efficientnet_x import STAGES

    declared = space.params()
    decode = partial_decoder(space)
    layout = ("resolution", "space_to_depth") + (
        ("space_to_batch",) if "space_to_batch" in declared else ()
    )

    def act_param(i: int) -> str:
        if f"s{i}_act" in declared:
            return f"s{i}_act"
        groups = getattr(space, "act_groups", None) or ()
        return next(f"g{g + 1}_act" for g, grp in enumerate(groups) if i in grp)

    def stem(v):
        arch = decode(v)
        keys = stage_layers_of(arch, -1) + (stage_layers_of(arch, 0) if v["space_to_depth"] else [])
        return [(k, 1.0, 0.0) for k in keys]

    terms = [Term(layout, stem)]
    prev = None
    for i in STAGES:
        own = tuple(f"s{i}_{f}" for f in ("type", "kernel", "expansion", "se", "width"))
        own += (act_param(i),)
        params = own + ((f"s{prev}_width",) if prev else ()) + layout
        depth = f"s{i}_depth"
        deepest = max(declared[depth].values())

        def stage(v, i=i, depth=depth, deepest=deepest):
            arch = decode({**v, depth: deepest})
            keys = stage_layers_of(arch, STAGES.index(i) + (1 if v["space_to_depth"] else 0))
            return [(keys[0], 1.0, 0.0)] + ([(keys[1], 0.0, 1.0)] if len(keys) > 1 else [])

        terms.append(Term(params, stage, scale=depth))
        prev = i

    def head(v):
        return [(arch_layers(decode(v), num_classes)[-1].key, 1.0, 0.0)]

    terms.append(Term((f"s{STAGES[-1]}_width", *layout), head))
    return terms


@register_fast_path("gpunet")
def _gpunet_terms(space, num_classes: int) -> list[Term]:
    """Stem, stage 1 (the stem's conv repeated), stages 2-7, head. Stages 5 and 7 may be
    empty, so the input channels of stages 6 and 7 and of the head are derived per sample
    (the width of the last non-empty stage before them); all strides are fixed, so sizes
    depend on the resolution only."""
    from accelsearch.arch import Stage
    from accelsearch.objectives.latency.layers import HEAD, stage_layers
    from accelsearch.spaces.gpunet import HEAD_WIDTH, SE_RATIO, STAGES

    order = list(STAGES)
    sizes: dict[int, dict[int, int]] = {}  # resolution -> input size of each stage
    built: dict[tuple, Stage] = {}  # one Stage object per stage choice

    def input_size(resolution: int, i: int) -> int:
        if resolution not in sizes:
            size = math.ceil(resolution / 2)  # stem stride 2; stage 1 stride 1
            table = {}
            for j, rng in STAGES.items():
                table[j] = size
                size = math.ceil(size / rng.stride)
            table[0] = size  # the head's input
            sizes[resolution] = table
        return sizes[resolution][i]

    def in_chs(i: int) -> Callable[[Callable[[str], np.ndarray]], np.ndarray]:
        """Width of the last non-empty stage before ``i`` (stage 1 is never empty)."""

        def fn(col):
            out = col("s0_filters").astype(np.int64)
            for j in order[: order.index(i)] if i else order:
                out = np.where(col(f"s{j}_layers") > 0, col(f"s{j}_filters"), out)
            return out

        return fn

    stem_params = ("resolution", "s0_filters", "s0_kernel", "s0_act")

    def stem(v):
        st = Stage(
            "conv", int(v["s0_filters"]), kernel=int(v["s0_kernel"]), stride=2, act=v["s0_act"]
        )
        return [(k, 1.0, 0.0) for k in stage_layers(st, 3, int(v["resolution"]))[0]]

    def stage1(v):
        f = int(v["s0_filters"])
        st = Stage("conv", f, kernel=int(v["s0_kernel"]), stride=1, act=v["s0_act"])
        key = stage_layers(st, f, math.ceil(int(v["resolution"]) / 2))[0][0]
        return [(key, 1.0, 1.0)]

    terms = [Term(stem_params, stem), Term(stem_params, stage1, scale="s1_layers")]
    for i, rng in STAGES.items():
        own = tuple(f"s{i}_{f}" for f in ("filters", "kernel", "expansion", "act", "se"))

        def stage(v, i=i, rng=rng):
            choice = (i, *(v[f"s{i}_{f}"] for f in ("filters", "kernel", "expansion", "act", "se")))
            st = built.get(choice)
            if st is None:
                st = built[choice] = Stage(
                    rng.type,
                    width=int(v[f"s{i}_filters"]),
                    depth=2,
                    kernel=int(v[f"s{i}_kernel"]),
                    stride=rng.stride,
                    expansion=float(v[f"s{i}_expansion"]),
                    se=SE_RATIO if int(v[f"s{i}_se"]) else 0.0,
                    act=v[f"s{i}_act"],
                )
            keys = stage_layers(st, int(v["in_chs"]), input_size(int(v["resolution"]), i))[0]
            return [(keys[0], 1.0, 0.0), (keys[1], 0.0, 1.0)]

        derived = (("in_chs", in_chs(i)),)
        terms.append(Term((*own, "resolution"), stage, f"s{i}_layers", derived))

    def head(v):
        size = input_size(int(v["resolution"]), 0)
        key = LayerKey(
            HEAD, int(v["in_chs"]), size, HEAD_WIDTH, act="relu", num_classes=num_classes
        )
        return [(key, 1.0, 0.0)]

    terms.append(Term(("resolution",), head, None, (("in_chs", in_chs(0)),)))
    return terms


# -- the predictor ----------------------------------------------------------------------------
@dataclass
class FillReport:
    """What a fill did: layers measured or estimated, seconds, devices used."""

    measured: int = 0
    estimated: int = 0
    seconds: float = 0.0
    devices: list[str] = field(default_factory=list)


class LUTPredictor:
    """Predicts network latency from a per-layer table (see the module docstring).

    ``batch_size``, ``precision``, ``device`` and ``backend`` (+ ``options``, its timing
    options) say which table: layers are timed with that backend on that device. To predict
    on a machine without that device (a CPU search process using a table filled on a GPU),
    give ``device_name`` (e.g. ``"NVIDIA H100 80GB HBM3"``): the predictor then reads the
    matching table from ``store`` and cannot measure (``fill="estimate"`` or ``"error"``).

    ``space`` (a name or a ``SearchSpace``) enables the fast path of
    :meth:`predict_many`/:meth:`predict_unit` and scopes the correction (one per space).
    ``fill`` says what happens to a layer missing from the table: ``"measure"`` it now (in
    parallel over identical GPUs when ``parallel``), ``"estimate"`` it from a cost model
    fitted on the table's measured layers, or raise (``"error"``). ``protocol`` times the
    layers (default :data:`LAYER_PROTOCOL`), ``network_protocol`` the whole networks of
    :meth:`fit_correction` (default: the standard protocol).
    """

    def __init__(
        self,
        batch_size: int = 1,
        precision: str | None = None,
        device: str | None = None,
        backend: str = "torch",
        store: LUTStore | str | Path | None = None,
        space: Any = None,
        fill: str = "measure",
        device_name: str | None = None,
        options: dict[str, Any] | None = None,
        protocol: Protocol | dict[str, Any] | None = None,
        num_classes: int = 1000,
        correction: bool = True,
        parallel: bool = True,
        network_protocol: Protocol | dict[str, Any] | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"LUT batch_size must be a positive integer, got {batch_size!r}")
        if fill not in FILL_MODES:
            raise ConfigError(f"LUT fill={fill!r}; valid choices: {choices_text(FILL_MODES)}")
        if backend == "lut":
            raise ConfigError("the LUT measures its layers with a real backend, not 'lut'")
        self.batch_size = batch_size
        self.num_classes = num_classes
        self.fill = fill
        self.parallel = parallel
        self.use_correction = correction
        self.options = dict(options or {})
        if isinstance(protocol, dict):
            protocol = Protocol(**protocol)
        self.protocol = protocol or LAYER_PROTOCOL
        if isinstance(network_protocol, dict):
            network_protocol = Protocol(**network_protocol)
        self.network_protocol = network_protocol or Protocol()
        self.store = store if isinstance(store, LUTStore) else LUTStore(store)
        self.space = _space(space)
        self.scope = self.space.name if self.space is not None else "default"
        self._backend: LatencyBackend | None = None
        self.device = normalize_device(device) if device_name is None else (device or "remote")
        self.backend_name = backend
        if device_name is None:
            self.precision = precision or ("fp32" if self.device == "cpu" else "fp16")
            self._backend = self._make_backend(self.device)
            self.table_id = TableId(
                device_name=self._backend.device_name,
                backend=backend,
                options=json.dumps(self._backend.timing_options(), sort_keys=True),
                precision=self.precision,
                batch_size=batch_size,
                library=_library(backend, self._backend.versions()),
            )
        else:
            if fill == "measure":
                self.fill = "error"
            self.precision = precision or "fp16"
            self.table_id = self._find_table(device_name, backend)
        self.table: dict[str, float] = self.store.table(self.table_id)
        self.correction: Correction | None = self.store.correction(self.table_id, self.scope)
        self._memo: dict[tuple, list[tuple[LayerKey, float, float]]] = {}
        self._estimator: _Estimator | None = None
        self.last_fill = FillReport()

    # -- set-up ----------------------------------------------------------------------------
    def _make_backend(self, device: str) -> LatencyBackend:
        from accelsearch.objectives import latency

        b = latency.get_backend(
            self.backend_name, device, self.precision, self.protocol, cache=False, **self.options
        )
        return b

    def _find_table(self, device_name: str, backend: str) -> TableId:
        tables = self.store.tables()
        match = [
            t
            for t in tables
            if t.device_name == device_name
            and t.backend == backend
            and t.precision == self.precision
            and t.batch_size == self.batch_size
        ]
        if not match:
            have = sorted(
                f"{t.device_name} / {t.backend} / {t.precision} / batch {t.batch_size}"
                for t in tables
            )
            raise ConfigError(
                f"LUT store {str(self.store.path)!r} has no table for {device_name!r}, backend "
                f"{backend!r}, {self.precision}, batch {self.batch_size}; it has: "
                f"{have or '(none)'}"
            )
        return max(match, key=lambda t: tables[t])

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> LUTPredictor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- single archs ------------------------------------------------------------------------
    def layers(self, arch: Arch) -> list[LayerKey]:
        return [e.key for e in arch_layers(arch, self.num_classes)]

    def layer_sum(self, arch: Arch) -> tuple[float, int]:
        """(plain sum of layer latencies in ms, number of layers), filling missing layers."""
        keys = self.layers(arch)
        self.ensure(keys)
        return float(sum(self.table[k.text] for k in keys)), len(keys)

    def predict(self, arch: Arch, corrected: bool = True) -> float:
        """Predicted latency of ``arch`` in ms (with the space's correction when fitted)."""
        raw, n = self.layer_sum(arch)
        return float(self._correct(np.array([raw]), np.array([n]), corrected)[0])

    def _correct(self, raw: np.ndarray, n: np.ndarray, corrected: bool = True) -> np.ndarray:
        if corrected and self.use_correction and self.correction is not None:
            return self.correction.apply(raw, n)
        return raw

    # -- many archs ------------------------------------------------------------------------
    def predict_many(self, items: Any, corrected: bool = True) -> np.ndarray:
        """Predicted ms for many archs: a sequence of ``Arch``, of parameter dicts of the
        predictor's space, or an integer matrix (N × parameters, in ``space.params()``
        order) of value indices. Parameter forms use the space's fast path when it has one.
        """
        if isinstance(items, np.ndarray):
            return self.predict_indices(items, corrected)
        items = list(items)
        if not items:
            return np.zeros(0)
        if all(isinstance(a, Arch) for a in items):
            raw, n = self.layer_sum_many(items)
            return self._correct(raw, n, corrected)
        if all(isinstance(a, dict) for a in items):
            return self.predict_indices(self.indices_of(items), corrected)
        raise ConfigError("predict_many takes Archs, parameter dicts or an index matrix")

    def predict_unit(self, u: np.ndarray, corrected: bool = True) -> np.ndarray:
        """Predicted ms for points of the unit cube (one column per parameter of the space,
        in ``space.params()`` order), mapped to values as ``distributions.from_unit`` does
        (Sobol samplers produce such points)."""
        space = self._need_space()
        cards = np.array([len(d.values()) for d in space.params().values()])
        u = np.asarray(u, dtype=float)
        if u.ndim != 2 or u.shape[1] != len(cards):
            raise ConfigError(
                f"predict_unit needs an N × {len(cards)} array for space {space.name!r}, "
                f"got shape {u.shape}"
            )
        idx = np.empty(u.shape, dtype=np.int64, order="F")  # columns are read one by one
        for c, card in enumerate(cards):
            col = (u[:, c] * card).astype(np.int64)
            np.minimum(col, card - 1, out=col)
            idx[:, c] = col
        return self.predict_indices(idx, corrected)

    def indices_of(self, params: Sequence[dict[str, Any]]) -> np.ndarray:
        """Parameter dicts -> value-index matrix (``space.params()`` order)."""
        space = self._need_space()
        declared = space.params()
        lookup = [{v: i for i, v in enumerate(d.values())} for d in declared.values()]
        out = np.empty((len(params), len(declared)), dtype=np.int64)
        for r, p in enumerate(params):
            for c, name in enumerate(declared):
                try:
                    out[r, c] = lookup[c][p[name]]
                except KeyError:
                    raise ConfigError(
                        f"parameter {name!r}={p.get(name)!r} is not a value of space "
                        f"{space.name!r}: {list(declared[name].values())}"
                    ) from None
        return out

    def predict_indices(self, idx: np.ndarray, corrected: bool = True) -> np.ndarray:
        """Predicted ms for a value-index matrix (see :meth:`predict_many`)."""
        raw, n = self.layer_sum_indices(idx)
        return self._correct(raw, n, corrected)

    def layer_sum_indices(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(plain sums, layer counts) for a value-index matrix."""
        space = self._need_space()
        idx = np.asfortranarray(idx, dtype=np.int64)
        declared = space.params()
        names = list(declared)
        if idx.ndim != 2 or idx.shape[1] != len(names):
            raise ConfigError(
                f"index matrix must be N × {len(names)} for space {space.name!r}, got {idx.shape}"
            )
        if space.name not in FAST_PATHS:
            values = [d.values() for d in declared.values()]
            archs = [
                space.decode({n: _plain(values[c][row[c]]) for c, n in enumerate(names)})
                for row in idx
            ]
            return self.layer_sum_many(archs)
        with _declared_once(space):
            return self._sum_terms(space, idx, declared, names)

    def _sum_terms(self, space, idx, declared, names) -> tuple[np.ndarray, np.ndarray]:
        terms = FAST_PATHS.get(space.name)(space, self.num_classes)
        values = [[_plain(v) for v in d.values()] for d in declared.values()]
        plans = []
        needed: dict[str, LayerKey] = {}
        columns: dict[str, np.ndarray] = {}

        def col(name: str) -> np.ndarray:
            if name not in columns:
                c = names.index(name)
                columns[name] = _value_array(values[c])[idx[:, c]]
            return columns[name]

        for t_index, term in enumerate(terms):
            cols = [names.index(p) for p in term.params]
            radices = [len(values[c]) for c in cols]
            code = np.zeros(len(idx), dtype=np.int64)
            for c, r in zip(cols, radices):
                code = code * r + idx[:, c]
            derived_values = []
            for _, fn in term.derived:
                uniq_d, inv_d = np.unique(np.asarray(fn(col)), return_inverse=True)
                code = code * len(uniq_d) + inv_d.reshape(-1)
                radices.append(len(uniq_d))
                derived_values.append(uniq_d.tolist())
            uniq, inverse = np.unique(code, return_inverse=True)
            inverse = inverse.reshape(-1)
            combos = []
            for u in uniq.tolist():
                digits = _digits(u, radices)
                memo_key = (id(space), t_index, tuple(digits[: len(cols)]))
                memo_key += tuple(
                    _plain(dv[d]) for dv, d in zip(derived_values, digits[len(cols) :])
                )
                layers = self._memo.get(memo_key)
                if layers is None:
                    vals = {
                        term.params[j]: _plain(values[cols[j]][d])
                        for j, d in enumerate(digits[: len(cols)])
                    }
                    for (dname, _), dv, d in zip(term.derived, derived_values, digits[len(cols) :]):
                        vals[dname] = _plain(dv[d])
                    layers = self._memo[memo_key] = term.layers(vals)
                combos.append(layers)
                for key, _, _ in layers:
                    needed.setdefault(key.text, key)
            scale = None
            if term.scale is not None:
                scale = col(term.scale).astype(float)
            plans.append((combos, inverse, scale))
        self.ensure(list(needed.values()))
        table = self.table
        total = np.zeros(len(idx))
        count = np.zeros(len(idx))
        for combos, inverse, scale in plans:
            A = np.array([sum(table[k.text] * a for k, a, _ in c) for c in combos])
            B = np.array([sum(table[k.text] * b for k, _, b in c) for c in combos])
            NA = np.array([sum(a for _, a, _ in c) for c in combos])
            NB = np.array([sum(b for _, _, b in c) for c in combos])
            if scale is None:
                total += A[inverse]
                count += NA[inverse]
            else:
                first = (scale >= 1).astype(float)
                rest = np.maximum(scale - 1, 0)
                total += A[inverse] * first + B[inverse] * rest
                count += NA[inverse] * first + NB[inverse] * rest
        return total, count

    def layer_sum_many(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """(plain sums, layer counts) of archs, any space (decoded layer by layer)."""
        all_keys = [self.layers(a) for a in archs]
        needed = {k.text: k for keys in all_keys for k in keys}
        self.ensure(list(needed.values()))
        raw = np.array([sum(self.table[k.text] for k in keys) for keys in all_keys])
        return raw, np.array([len(keys) for keys in all_keys], dtype=float)

    def clear_memo(self) -> None:
        """Forget decoded term combinations (to time a cold prediction)."""
        self._memo.clear()

    def _need_space(self):
        if self.space is None:
            raise ConfigError("this needs the predictor's space; pass space=... when creating it")
        return self.space

    # -- filling ---------------------------------------------------------------------------
    def missing(self, keys: Sequence[LayerKey]) -> list[LayerKey]:
        seen: dict[str, LayerKey] = {}
        for k in keys:
            if k.text not in self.table:
                seen.setdefault(k.text, k)
        return list(seen.values())

    def ensure(self, keys: Sequence[LayerKey]) -> FillReport:
        """Make sure every key has a latency (measured, estimated or an error, per ``fill``)."""
        todo = self.missing(keys)
        report = FillReport()
        if not todo:
            return report
        t0 = time.perf_counter()
        if self.fill == "error":
            raise MeasurementError(
                f"{len(todo)} layer(s) are missing from LUT table {self.table_id.device_name!r} "
                f"({self.table_id.backend}, {self.table_id.precision}, batch "
                f"{self.table_id.batch_size}), e.g. {todo[0].text!r}; fill it on that device "
                "or create the predictor with fill='estimate'"
            )
        if self.fill == "estimate":
            self._estimate(todo)
            report.estimated = len(todo)
        else:
            report = self.measure_layers(todo)
        report.seconds = time.perf_counter() - t0
        self.last_fill = report
        return report

    def measure_layers(self, keys: Sequence[LayerKey]) -> FillReport:
        """Time ``keys`` alone and store them (over all identical GPUs when allowed)."""
        keys = self.missing(keys)
        report = FillReport(devices=[self.device])
        if not keys:
            return report
        devices = self._fill_devices() if self.parallel else [self.device]
        if len(devices) > 1 and len(keys) >= 2 * len(devices):
            return self._measure_parallel(keys, devices)
        assert self._backend is not None
        rows = []
        try:
            for i, key in enumerate(keys):
                rows.append(_measure_one(self._backend, key, self.batch_size))
                if len(rows) >= 50:  # keep progress on disk in case the run is cut short
                    self._commit(rows)
                    rows = []
                report.measured = i + 1
        finally:
            self._commit(rows)
        return report

    def _commit(self, rows) -> None:
        if rows:
            self.store.put_many(self.table_id, rows)
            for layer, ms, *_ in rows:
                self.table[layer] = ms

    def _fill_devices(self) -> list[str]:
        if self.device == "cpu" or not torch.cuda.is_available():
            return [self.device]
        name = self.table_id.device_name
        return [
            f"cuda:{i}"
            for i in range(torch.cuda.device_count())
            if torch.cuda.get_device_name(i) == name
        ] or [self.device]

    def _measure_parallel(self, keys: list[LayerKey], devices: list[str]) -> FillReport:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        shards = [keys[i :: len(devices)] for i in range(len(devices))]
        spec = dict(
            store=str(self.store.path),
            table=self.table_id.text,
            backend=self.backend_name,
            precision=self.precision,
            options=self.options,
            protocol=asdict(self.protocol),
            batch_size=self.batch_size,
        )
        with ProcessPoolExecutor(len(devices), mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_fill_worker, spec, d, s) for d, s in zip(devices, shards)]
            counts = [f.result() for f in futures]
        self.table = self.store.table(self.table_id)
        return FillReport(measured=sum(counts), devices=devices)

    def _estimate(self, keys: list[LayerKey]) -> None:
        if self._estimator is None or self._estimator.size != len(self.table):
            self._estimator = _Estimator.fit(self.table, self.batch_size, self.precision)
        for k in keys:
            self.table[k.text] = self._estimator.predict(k)

    # -- correction ------------------------------------------------------------------------
    def fit_correction(
        self, archs: Sequence[Arch], measured_ms: Sequence[float] | None = None, save: bool = True
    ) -> Correction:
        """Fit the fusion correction on whole networks (measured now with the table's
        backend unless ``measured_ms`` is given) and keep it for the predictor's scope."""
        archs = list(archs)
        raw, n = self.layer_sum_many(archs)
        if measured_ms is None:
            if self._backend is None:
                raise ConfigError("measured_ms is needed when the table's device is not here")
            measured_ms = [self.measure_network(a) for a in archs]
        corr = Correction.fit(raw, n, measured_ms)
        self.correction = corr
        if save:
            self.store.put_correction(self.table_id, self.scope, corr)
        return corr

    def measure_network(self, arch: Arch) -> float:
        """Whole-network latency with the table's backend (ms; from the latency cache when
        it has it)."""
        from accelsearch.objectives import latency

        with latency.get_backend(
            self.backend_name,
            self.device,
            self.precision,
            self.network_protocol,
            True,
            **self.options,
        ) as b:
            return b.measure(arch, self.batch_size, num_classes=self.num_classes).median_ms


def _measure_one(backend: LatencyBackend, key: LayerKey, batch_size: int):
    module = layer_module(key)
    try:
        r = backend.measure(module, batch_size, key.size, num_classes=0, in_chans=key.in_chs)
    except MeasurementError as exc:
        raise MeasurementError(f"LUT layer {key.text}: {exc}") from None
    return (key.text, r.median_ms, r.cv, r.n, r.mode)


def _fill_worker(spec: dict[str, Any], device: str, keys: list[LayerKey]) -> int:
    """One process per GPU: time ``keys`` on ``device`` and write them to the store."""
    from accelsearch.objectives import latency

    store = LUTStore(spec["store"])
    tid = TableId.from_text(spec["table"])
    backend = latency.get_backend(
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
            rows.append(_measure_one(backend, key, spec["batch_size"]))
            if len(rows) >= 50:
                store.put_many(tid, rows)
                rows = []
        store.put_many(tid, rows)
    return len(keys)


class _Estimator:
    """Cost model for layers not in the table: per block type,
    ``ms ≈ c0 + c1·MACs·batch + c2·bytes·batch`` (non-negative least squares) fitted on the
    table's layers; a type with fewer than 5 layers uses the pooled fit."""

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
        return np.array([1.0, gmacs, mbytes])

    @classmethod
    def fit(cls, table: dict[str, float], batch: int, precision: str) -> _Estimator:
        from scipy.optimize import nnls

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
            return LayerKey(kind, cin, size, cout, act=parts[3], num_classes=int(parts[4][2:]))
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
        return LayerKey(kind, cin, size, cout, **kw)
    except (ValueError, IndexError):
        return None


def _digits(code: int, radices: list[int]) -> list[int]:
    out = []
    for r in reversed(radices):
        out.append(code % r)
        code //= r
    return out[::-1]


def _value_array(vals: Sequence[Any]) -> np.ndarray:
    """Declared values as an array (numeric where they are numbers, objects otherwise)."""
    if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in vals):
        return np.asarray(vals, dtype=float)
    return np.asarray(vals, dtype=object)


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _library(backend: str, versions: dict[str, str]) -> str:
    lib = {"tensorrt": "tensorrt", "onnxruntime": "onnxruntime"}.get(backend, "torch")
    v = versions.get(lib, "")
    return f"{lib} {'.'.join(v.split('.')[:2])}"


def _space(space: Any):
    if space is None or not isinstance(space, str):
        return space
    from accelsearch import spaces

    return spaces.get(space)


# -- the backend ------------------------------------------------------------------------------
class LUTBackend(LatencyBackend):
    """``backend="lut"``: latency predicted from the lookup table (GPUNet's method).

    The result's ``mode`` is ``lut`` or ``lut+correction``; ``n`` is the number of layers
    summed; ``cv`` is 0 (a prediction, not a sample); ``extra`` holds the plain sum, the
    correction and how many layers had to be measured. Missing layers are measured on the
    backend's device with ``measure_backend`` (default ``torch``). Results are not put in
    the latency cache (a table or correction may change); the table is its own cache.

    Options: ``store`` (LUT file), ``measure_backend``, ``layer_options`` (options of the
    measuring backend), ``fill``, ``space`` (name: fast path and correction scope),
    ``correction`` (default True), ``layer_protocol``, ``device_name``, ``parallel``,
    ``threads`` (CPU threads of the measuring backend, as recipes pass them).
    """

    name = "lut"
    # the measuring backend checks the precision; on a CPU any precision is allowed so
    # that a table filled on a GPU can be read there (option device_name)
    precisions = {"cpu": ("fp32", "fp16", "bf16", "int8"), "cuda": ("fp32", "fp16", "bf16", "int8")}
    option_names = (
        "store",
        "measure_backend",
        "layer_options",
        "fill",
        "space",
        "correction",
        "layer_protocol",
        "device_name",
        "parallel",
        "threads",
    )
    uses_device_lock = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["cache"] = False
        super().__init__(*args, **kwargs)
        self._predictors: dict[tuple[int, int], LUTPredictor] = {}

    def predictor(self, batch_size: int, num_classes: int = 1000) -> LUTPredictor:
        key = (batch_size, num_classes)
        if key not in self._predictors:
            o = self.options
            self._predictors[key] = LUTPredictor(
                batch_size=batch_size,
                precision=self.precision,
                device=self.device,
                backend=o.get("measure_backend", "torch"),
                store=o.get("store"),
                space=o.get("space"),
                fill=o.get("fill", "measure"),
                device_name=o.get("device_name"),
                options=self._layer_options(),
                protocol=o.get("layer_protocol"),
                num_classes=num_classes,
                correction=o.get("correction", True),
                parallel=o.get("parallel", True),
            )
        return self._predictors[key]

    def _layer_options(self) -> dict[str, Any]:
        opts = dict(self.options.get("layer_options") or {})
        if self.options.get("threads") and self.device == "cpu":
            opts.setdefault("threads", self.options["threads"])
        return opts

    @property
    def device_name(self) -> str:
        given = self.options.get("device_name")
        return given if given else super().device_name

    def _prepare(self, model_or_arch: nn.Module | Arch, num_classes: int) -> tuple[Arch, int]:
        if isinstance(model_or_arch, Arch):
            return model_or_arch, num_classes
        arch = getattr(model_or_arch, "arch", None)
        if isinstance(arch, Arch):
            return arch, int(getattr(model_or_arch, "num_classes", num_classes))
        raise MeasurementError(
            f"the lut backend predicts from an Arch (or a module built from one); got a "
            f"{type(model_or_arch).__name__}: measure it with backend='torch' instead"
        )

    def _measure_impl(
        self, model: tuple[Arch, int], input_shape: InputShape
    ) -> tuple[Stats, float, str, dict[str, Any]]:
        batch, chans, res, _ = input_shape
        arch, num_classes = model
        if (res, chans) != (arch.resolution, arch.in_chans):
            arch = arch.replace(resolution=res, in_chans=chans)
        p = self.predictor(batch, num_classes)
        raw, n = p.layer_sum(arch)
        ms = p.predict(arch)
        report = p.last_fill
        p.last_fill = FillReport()
        stats = Stats(ms, ms, ms, ms, 0.0, n, 0.0)
        corrected = p.use_correction and p.correction is not None
        extra = {
            "raw_ms": raw,
            "layers": n,
            "measured_layers": report.measured,
            "estimated_layers": report.estimated,
            "table": asdict(p.table_id),
            "correction": asdict(p.correction) if corrected else None,
            "predicted": True,
        }
        return stats, report.seconds, "lut+correction" if corrected else "lut", extra

    def versions(self) -> dict[str, str]:
        from accelsearch.objectives.latency.base import base_versions

        return base_versions()

    def close(self) -> None:
        for p in self._predictors.values():
            p.close()
        self._predictors.clear()
        super().close()


def _register() -> None:
    from accelsearch.objectives import latency

    if "lut" not in latency.BACKENDS:
        latency.BACKENDS.add("lut", LUTBackend)


_register()

__all__ = [
    "FAST_PATHS",
    "Correction",
    "LUTBackend",
    "LUTPredictor",
    "LUTStore",
    "TableId",
    "Term",
    "mape",
    "register_fast_path",
]
