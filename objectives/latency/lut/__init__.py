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
* :meth:`LUTPredictor.predict_many` predicts many archs fast: for a space that provides the
  *fast path* hook ``lut_terms`` (``efficientnet_x``, ``gpunet``; see
  :mod:`accelsearch.spaces.layer_terms`) the sum is split into terms that each depend on a
  few parameters (a stage's own choices, the previous stage's
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

The package: :mod:`.store` (the SQLite file), :mod:`.correction` (the fusion regression),
:mod:`.predictor`, :mod:`.terms` (the fast path's sums), :mod:`.fill` (timing or estimating
missing layers, in parallel over GPUs) and :mod:`.backend`.
"""

from __future__ import annotations

from accelsearch.objectives.latency.lut.backend import LUTBackend
from accelsearch.objectives.latency.lut.correction import Correction, mape
from accelsearch.objectives.latency.lut.fill import FillReport, parse_layer_text
from accelsearch.objectives.latency.lut.predictor import (
    FILL_MODES,
    LAYER_PROTOCOL,
    LUTPredictor,
)
from accelsearch.objectives.latency.lut.store import LUTStore, TableId, default_store_path
from accelsearch.objectives.latency.lut.terms import FAST_PATHS, register_fast_path
from accelsearch.spaces.layer_terms import LayerRef, Term

__all__ = [
    "FAST_PATHS",
    "FILL_MODES",
    "LAYER_PROTOCOL",
    "Correction",
    "FillReport",
    "LUTBackend",
    "LUTPredictor",
    "LUTStore",
    "LayerRef",
    "TableId",
    "Term",
    "default_store_path",
    "mape",
    "parse_layer_text",
    "register_fast_path",
]
