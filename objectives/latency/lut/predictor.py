"""The lookup-table predictor: an arch's latency as the sum of its layers' latencies."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

import accelsearch.spaces as spaces
from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError, MeasurementError, choices_text
from accelsearch.objectives.latency.backends import get_backend
from accelsearch.objectives.latency.base import LatencyBackend, normalize_device
from accelsearch.objectives.latency.layers import LayerKey, arch_layers
from accelsearch.objectives.latency.lut.correction import Correction
from accelsearch.objectives.latency.lut.fill import (
    COMMIT_EVERY,
    Estimator,
    FillReport,
    fill_devices,
    measure_one,
    measure_parallel,
)
from accelsearch.objectives.latency.lut.store import LUTStore, TableId, library_of
from accelsearch.objectives.latency.lut.terms import TermSum, add_plans, plain
from accelsearch.objectives.latency.protocol import Protocol

FILL_MODES = ("measure", "estimate", "error")

#: a light protocol for single layers: they are many, each is short, and their sum is
#: calibrated (a busy layer timing is not timed again)
LAYER_PROTOCOL = Protocol(
    warmup=5, min_reps=10, max_reps=200, max_seconds=1.0, ci_target=0.02, noisy_retries=0
)


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
        self.space = spaces.get(space) if isinstance(space, str) else space  # a name, or kept
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
                library=library_of(backend, self._backend.versions()),
            )
        else:
            if fill == "measure":
                self.fill = "error"
            self.precision = precision or "fp16"
            self.table_id = self._find_table(device_name, backend)
        self.table: dict[str, float] = self.store.table(self.table_id)
        self.correction: Correction | None = self.store.correction(self.table_id, self.scope)
        self._memo: dict[tuple, list[tuple[LayerKey, float, float]]] = {}
        self._estimator: Estimator | None = None
        self._estimated: set[str] = set()  # layers in self.table that the cost model filled
        self.last_fill = FillReport()

    # -- set-up ----------------------------------------------------------------------------
    def _make_backend(self, device: str) -> LatencyBackend:
        return get_backend(
            self.backend_name, device, self.precision, self.protocol, cache=False, **self.options
        )

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
        terms = space.lut_terms()
        if terms is None:
            values = [d.values() for d in declared.values()]
            archs = [
                space.decode({n: plain(values[c][row[c]]) for c, n in enumerate(names)})
                for row in idx
            ]
            return self.layer_sum_many(archs)
        plans, needed = TermSum(space, terms, self.num_classes, self._memo).plan(idx)
        self.ensure(list(needed.values()))
        return add_plans(plans, self.table.__getitem__, len(idx))

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
        """Keys without a latency; when measuring, estimated ones count as missing."""
        redo = self._estimated if self.fill == "measure" else set()
        seen: dict[str, LayerKey] = {}
        for k in keys:
            if k.text not in self.table or k.text in redo:
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
        devices = [self.device]
        if self.parallel:
            devices = fill_devices(self.device, self.table_id.device_name)
        if len(devices) > 1 and len(keys) >= 2 * len(devices):
            return self._measure_parallel(keys, devices)
        if self._backend is None:
            raise MeasurementError("this LUT predictor has no backend to measure layers with")
        rows = []
        try:
            for i, key in enumerate(keys):
                rows.append(measure_one(self._backend, key, self.batch_size))
                if len(rows) >= COMMIT_EVERY:
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
                self._estimated.discard(layer)

    def _measure_parallel(self, keys: list[LayerKey], devices: list[str]) -> FillReport:
        """Time ``keys`` over ``devices``, one worker process each."""
        spec = dict(
            store=str(self.store.path),
            table=self.table_id.text,
            backend=self.backend_name,
            precision=self.precision,
            options=self.options,
            protocol=asdict(self.protocol),
            batch_size=self.batch_size,
        )
        measured = measure_parallel(spec, keys, devices)
        self.table = self.store.table(self.table_id)
        self._estimated.clear()
        return FillReport(measured=measured, devices=devices)

    def _estimate(self, keys: list[LayerKey]) -> None:
        # the cost model learns from measured layers only, never from its own estimates
        measured = len(self.table) - len(self._estimated)
        if self._estimator is None or self._estimator.size != measured:
            rows = {t: ms for t, ms in self.table.items() if t not in self._estimated}
            self._estimator = Estimator.fit(rows, self.batch_size, self.precision)
        for k in keys:
            self.table[k.text] = self._estimator.predict(k)
            self._estimated.add(k.text)

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
        with get_backend(
            self.backend_name,
            self.device,
            self.precision,
            self.network_protocol,
            True,
            **self.options,
        ) as b:
            return b.measure(arch, self.batch_size, num_classes=self.num_classes).median_ms
