"""Latency predictors for the strategies that need latency before any trial (stratified, LLR).

A predictor is anything callable as ``predictor(arch) -> ms``. One that also has
``predict_many(list_of_param_dicts) -> array`` (the lookup table of
``accelsearch.objectives.latency.lut``) is asked for many candidates at once.

``make_predictor(spec, space, options)`` turns a recipe's ``predictor`` option into one:

* ``"lut"``: :class:`accelsearch.objectives.latency.lut.LUTPredictor` (GPUNet's per-layer
  table), made with ``predictor_options`` (e.g. ``{batch_size: 1, precision: fp16,
  device_name: "NVIDIA H100 80GB HBM3", fill: estimate}`` to read a table filled on a GPU);
* ``"flops"``: GFLOPs of the built model as a stand-in for milliseconds (it ranks archs,
  its unit is not ms); cheap, no GPU, fine for binning and tests;
* ``"auto"``: the LUT when that module is installed, else ``"flops"``;
* a callable: used as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from accelsearch.arch import Arch
from accelsearch.errors import ConfigError, choices_text
from accelsearch.kinds import check_options
from accelsearch.objectives.latency.protocol import Protocol

PREDICTOR_NAMES = ("auto", "lut", "flops")

LatencyPredictor = Callable[[Arch], float]


class FlopsPredictor:
    """GFLOPs per image of the built model (``torch.utils.flop_counter``), memoised."""

    unit = "GFLOPs"

    def __init__(self, space, num_classes: int = 1000) -> None:
        self.space = space
        self.num_classes = num_classes
        self._memo: dict[str, float] = {}

    def __call__(self, arch: Arch) -> float:
        key = arch.hash()
        if key not in self._memo:
            from accelsearch.accounting import model_cost

            model = self.space.build(arch, num_classes=self.num_classes)
            self._memo[key] = model_cost(model, arch.resolution, arch.in_chans).gflops
        return self._memo[key]


class _LUTCall:
    """Adapts ``LUTPredictor`` to the callable form (keeps ``predict_many``)."""

    unit = "ms"

    def __init__(self, lut) -> None:
        self.lut = lut

    def __call__(self, arch: Arch) -> float:
        return float(self.lut.predict(arch))

    def predict_many(self, params: Sequence[dict[str, Any]]) -> np.ndarray:
        return np.asarray(self.lut.predict_many(list(params)), dtype=float)


def lut_available() -> bool:
    try:
        from accelsearch.objectives.latency import lut  # noqa: F401
    except ImportError:
        return False
    return True


def check_predictor(spec: Any, options: dict[str, Any] | None = None) -> None:
    """Fail early (before any trial) for a predictor name that is unknown or not here, or
    lookup-table ``options`` (``predictor_options``) it does not take."""
    if callable(spec) or hasattr(spec, "predict"):
        return
    if spec not in PREDICTOR_NAMES:
        raise ConfigError(
            f"search.options.predictor is {spec!r}; valid choices: {choices_text(PREDICTOR_NAMES)} "
            "or a callable Arch -> ms (from Python)"
        )
    if spec == "lut" and not lut_available():
        raise ConfigError(
            "search.options.predictor is 'lut' but accelsearch.objectives.latency.lut is not "
            "installed here; use predictor: flops, or install the latency lookup table"
        )
    if options and spec in ("lut", "auto") and lut_available():
        from accelsearch.objectives.latency.lut import LUTPredictor

        prefix = "search.options.predictor_options"
        owner = "the lookup-table predictor"
        check_options(LUTPredictor.__init__, options, prefix, ("space",), owner)
        for key in ("protocol", "network_protocol"):
            if isinstance(options.get(key), dict):
                check_options(Protocol, options[key], f"{prefix}.{key}")


def make_predictor(spec: Any, space, options: dict[str, Any] | None = None) -> LatencyPredictor:
    """A latency predictor from a name or a callable (see the module docstring)."""
    options = dict(options or {})
    if callable(spec):
        return spec
    if hasattr(spec, "predict"):
        return _LUTCall(spec)
    if spec not in PREDICTOR_NAMES:
        raise ConfigError(
            f"search.options.predictor is {spec!r}; valid choices: {choices_text(PREDICTOR_NAMES)} "
            "or a callable Arch -> ms (from Python)"
        )
    if spec == "auto":
        spec = "lut" if lut_available() else "flops"
    if spec == "flops":
        return FlopsPredictor(space, num_classes=int(options.pop("num_classes", 1000)))
    if not lut_available():
        raise ConfigError(
            "search.options.predictor is 'lut' but accelsearch.objectives.latency.lut is not "
            "installed here; use predictor: flops, or install the latency lookup table"
        )
    from accelsearch.objectives.latency.lut import LUTPredictor

    options.setdefault("space", space)
    try:
        return _LUTCall(LUTPredictor(**options))
    except TypeError as exc:
        raise ConfigError(f"search.options.predictor_options: {exc}") from None


def predict_params(predictor, space, params: Sequence[dict[str, Any]]) -> np.ndarray:
    """Predicted latency of many parameter assignments (batched when the predictor can)."""
    if hasattr(predictor, "predict_many"):
        return np.asarray(predictor.predict_many(list(params)), dtype=float)
    return np.array([float(predictor(space.decode(p))) for p in params], dtype=float)


def unit_of(predictor) -> str:
    return getattr(predictor, "unit", "ms")
