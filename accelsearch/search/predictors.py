"""Latency predictors for the strategies that need latency before any trial (stratified, LLR).

The predictors are the latency room's (:mod:`accelsearch.objectives.latency.predictors`):
a :class:`LatencyPredictor` is callable as ``predictor(arch)`` and predicts a pool of
parameter points at once with ``predict_params`` (the lookup table through the space's
fast path).

``make_predictor(spec, space, options)`` turns a recipe's ``predictor`` option into one:

* ``"lut"``: GPUNet's per-layer table, made with ``predictor_options`` (e.g.
  ``{batch_size: 1, precision: fp16, device_name: "NVIDIA H100 80GB HBM3", fill: estimate}``
  to read a table filled on a GPU);
* ``"flops"``: GFLOPs of the arch as a stand-in for milliseconds (it ranks archs, its unit
  is not ms); cheap, no GPU, fine for binning and tests;
* ``"auto"``: the lookup table;
* a callable (or a ``LUTPredictor``): used through the same interface.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from accelsearch.core.errors import ConfigError, choices_text
from accelsearch.core.kinds import check_options
from accelsearch.objectives.latency.lut import LUTPredictor
from accelsearch.objectives.latency.predictors import PREDICTORS as _REGISTRY
from accelsearch.objectives.latency.predictors import (
    FlopsPredictor,
    LatencyPredictor,
    create,
)
from accelsearch.objectives.latency.protocol import Protocol

#: the names a search takes ("auto" is the lookup table)
PREDICTOR_NAMES = ("auto", *_REGISTRY.names())


def _check_name(spec: Any) -> None:
    if spec not in PREDICTOR_NAMES:
        raise ConfigError(
            f"search.options.predictor is {spec!r}; valid choices: {choices_text(PREDICTOR_NAMES)} "
            "or a callable Arch -> ms (from Python)"
        )


def check_predictor(spec: Any, options: dict[str, Any] | None = None) -> None:
    """Fail early (before any trial) for an unknown predictor name, or lookup-table
    ``options`` (``predictor_options``) it does not take."""
    if callable(spec) or hasattr(spec, "predict"):
        return
    _check_name(spec)
    if options and spec in ("lut", "auto"):
        prefix = "search.options.predictor_options"
        owner = "the lookup-table predictor"
        check_options(LUTPredictor.__init__, options, prefix, ("space",), owner)
        for key in ("protocol", "network_protocol"):
            if isinstance(options.get(key), dict):
                check_options(Protocol, options[key], f"{prefix}.{key}")


def make_predictor(spec: Any, space, options: dict[str, Any] | None = None) -> LatencyPredictor:
    """A latency predictor from a name or a callable (see the module docstring)."""
    if isinstance(spec, str):
        _check_name(spec)
        spec = "lut" if spec == "auto" else spec
    elif not (callable(spec) or hasattr(spec, "predict")):
        _check_name(spec)
    return create(spec, space, **dict(options or {}))


def predict_params(predictor, space, params: Sequence[dict[str, Any]]) -> np.ndarray:
    """Predicted latency of many parameter assignments (batched when the predictor can)."""
    return create(predictor).predict_params(space, list(params))


def unit_of(predictor) -> str:
    return getattr(predictor, "unit", "ms")


__all__ = [
    "PREDICTOR_NAMES",
    "FlopsPredictor",
    "LatencyPredictor",
    "check_predictor",
    "make_predictor",
    "predict_params",
    "unit_of",
]
