"""Latency predictors: cheap guesses of an arch's latency, never a measurement.

Searches use one to bin or filter candidates before any trial (stratified, LLR); LACS uses
one to prune its (α, β, γ) grid and to place the first φ probe (it measures every member).
One abstraction, :class:`LatencyPredictor`, and one registry, :data:`PREDICTORS`:

* ``"flops"`` (:class:`FlopsPredictor`): FLOPs of the arch; in GFLOPs (a ranking, not ms)
  until :meth:`~LatencyPredictor.calibrate` gives it a measured base model, then in ms
  (latency ∝ FLOPs). FLOPs of archs scaled from that base come from :class:`StageFlops`,
  which counts the base once and rescales per stage (microseconds a prediction).
* ``"lut"`` (:class:`LUTLatencyPredictor`): GPUNet's per-layer lookup table,
  :class:`accelsearch.objectives.latency.lut.LUTPredictor`, which predicts many parameter
  points of a space at once through the space's fast path.

:func:`create` turns a name, an instance, a ``LUTPredictor`` or a function ``arch -> ms``
into a predictor (``"none"`` into None). Register another with
``@register_predictor("name")`` on a subclass.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from accelsearch.core.accounting import count_flops
from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError, choices_text
from accelsearch.core.registry import Registry
from accelsearch.objectives.latency.lut import LUTPredictor


class LatencyPredictor(ABC):
    """Predicts latency without measuring (see the module docstring)."""

    #: registered name ("flops", "lut", ...), set by :func:`register_predictor`
    name: str = ""

    @abstractmethod
    def predict_ms(self, arch: Arch) -> float:
        """Predicted latency of ``arch`` (in :attr:`unit`). Called for every arch a caller
        holds - LACS's grid points and φ probes, LLR's start - so it must be cheap."""

    @abstractmethod
    def predict_params(self, space, params: Sequence[dict[str, Any]]) -> np.ndarray:
        """Predicted latency of many parameter points of ``space``, as an array. Called once
        per pool by the searches (stratified, LLR), with up to millions of points."""

    # -- optional hooks ------------------------------------------------------------------------
    def calibrate(self, base: Arch, base_ms: float) -> None:
        """Called once by LACS with its base model and the base's measured latency, before
        any prediction (no-op by default)."""

    @property
    def unit(self) -> str:
        """What a prediction is in: ``"ms"`` unless the predictor only ranks archs."""
        return "ms"

    def describe(self) -> str:
        return self.name or type(self).__name__

    def __call__(self, arch: Arch) -> float:
        return self.predict_ms(arch)

    @classmethod
    def create(cls, space=None, **options: Any) -> LatencyPredictor:
        """An instance for ``space`` from a recipe's ``predictor_options`` (by default
        ``cls(space, **options)``)."""
        try:
            return cls(space, **options)
        except TypeError as exc:
            raise ConfigError(f"predictor_options of {cls.name!r}: {exc}") from None


PREDICTORS: Registry[type[LatencyPredictor]] = Registry("latency predictor")


def register_predictor(name: str):
    """Class decorator registering a :class:`LatencyPredictor` subclass under ``name``
    (``PREDICTORS.register_class(name)``, kept under this name)."""
    return PREDICTORS.register_class(name)


def decode_and_predict(predictor: LatencyPredictor, space, params) -> np.ndarray:
    """``predict_params`` the plain way: decode every point and predict it alone."""
    return np.array([float(predictor.predict_ms(space.decode(p))) for p in params], dtype=float)


# -- FLOPs -------------------------------------------------------------------------------------
class StageFlops:
    """FLOPs of archs scaled from ``base``, estimated per stage from one count of the base.

    Per stage, the first block's FLOPs scale with (input × output channels) and the other
    blocks' with output channels², each with resolution²; added or removed blocks count as
    the stage's average repeated block. Archs that are not scalings of ``base`` (other
    stage types or count) are counted exactly instead (slower, cached).
    """

    def __init__(self, base: Arch, build: Callable[..., Any] | None = None) -> None:
        self.base = base
        self.build = build
        counts = count_flops(base, build)
        self.total = float(counts.get("Global", 0))
        prefix = str(counts.pop("__model__"))
        self._exact: dict[str, float] = {base.hash(): self.total}
        self._per_stage: list[tuple[float, float]] | None = None
        if f"{prefix}.stages" not in counts and base.stages:
            return  # not the generic builder's ArchNet: count every arch exactly
        per_stage = []
        for i, st in enumerate(base.stages):
            blocks = [counts.get(f"{prefix}.stages.{i}.{j}", 0) for j in range(st.depth)]
            first = float(blocks[0]) if blocks else 0.0
            rest = [float(b) for b in blocks[1:]]
            per_stage.append((first, sum(rest) / len(rest) if rest else math.nan))
        self._per_stage = per_stage
        self._stem = float(counts.get(f"{prefix}.stem", 0))
        self._head = float(counts.get(f"{prefix}.conv_head", 0))
        self._fc = float(counts.get(f"{prefix}.classifier", 0))
        known = self._stem + self._head + self._fc + float(counts.get(f"{prefix}.stages", 0))
        self._other = max(0.0, self.total - known)

    def _compatible(self, arch: Arch) -> bool:
        b = self.base
        return (
            self._per_stage is not None
            and len(arch.stages) == len(b.stages)
            and all(s.type == t.type for s, t in zip(arch.stages, b.stages))
            and (arch.stem is None) == (b.stem is None)
            and arch.in_chans == b.in_chans
        )

    def flops(self, arch: Arch) -> float:
        """Estimated FLOPs of ``arch`` for one image."""
        if not self._compatible(arch):
            key = arch.hash()
            if key not in self._exact:
                self._exact[key] = float(count_flops(arch, self.build).get("Global", 0))
            return self._exact[key]
        b = self.base
        area = (arch.resolution / b.resolution) ** 2
        total = self._other * area
        prev_new = prev_old = arch.in_chans
        if arch.stem is not None and b.stem is not None:
            total += self._stem * (arch.stem.width / b.stem.width) * area
            prev_new, prev_old = arch.stem.width, b.stem.width
        for (first, rest), new, old in zip(self._per_stage or [], arch.stages, b.stages):
            if old.depth == 0 or new.depth == 0:
                continue
            w = new.width / old.width
            total += first * (prev_new / prev_old) * w * area
            if rest != rest:  # NaN: the base stage has one block; estimate a repeat from it
                rest = first * old.width / max(1, prev_old)
            total += rest * (new.depth - 1) * w * w * area
            prev_new, prev_old = new.width, old.width
        if arch.head is not None and b.head is not None and b.head.width:
            h = arch.head.width / b.head.width
            total += self._head * h * (prev_new / prev_old) * area + self._fc * h
        else:
            total += self._fc * (prev_new / prev_old)
        return total


@register_predictor("flops")
class FlopsPredictor(LatencyPredictor):
    """FLOPs of an arch: GFLOPs per image until calibrated, then ms ∝ FLOPs, scaled so
    that the calibration's base model predicts its measured latency.

    ``space`` builds the archs it counts (its ``build``) unless ``build`` is given; neither:
    the generic builder. Counts are memoised.
    """

    def __init__(self, space=None, build: Callable[..., Any] | None = None) -> None:
        self.build = build or (space.build if space is not None else None)
        self.model: StageFlops | None = None
        self.base_ms: float | None = None
        self._memo: dict[str, float] = {}

    @classmethod
    def create(cls, space=None, **options: Any) -> FlopsPredictor:
        options.pop("num_classes", None)  # FLOPs per image rank archs the same for any head
        return super().create(space, **options)

    def calibrate(self, base: Arch, base_ms: float) -> None:
        self.model = StageFlops(base, self.build)
        self.base_ms = float(base_ms)

    @property
    def unit(self) -> str:
        return "ms" if self.model is not None else "GFLOPs"

    def flops(self, arch: Arch) -> float:
        """FLOPs of ``arch`` for one image."""
        if self.model is not None:
            return self.model.flops(arch)
        key = arch.hash()
        if key not in self._memo:
            self._memo[key] = float(count_flops(arch, self.build).get("Global", 0))
        return self._memo[key]

    def predict_ms(self, arch: Arch) -> float:
        if self.model is None or self.base_ms is None:
            return self.flops(arch) / 1e9
        return self.base_ms * self.model.flops(arch) / max(self.model.total, 1.0)

    def predict_params(self, space, params) -> np.ndarray:
        return decode_and_predict(self, space, params)


# -- the lookup table --------------------------------------------------------------------------
@register_predictor("lut")
class LUTLatencyPredictor(LatencyPredictor):
    """GPUNet's lookup table (:class:`~accelsearch.objectives.latency.lut.LUTPredictor`).

    Options go to ``LUTPredictor`` (``batch_size``, ``precision``, ``device``, ``backend``,
    ``store``, ``fill`` ...; e.g. ``device_name: "NVIDIA H100 80GB HBM3", fill: estimate``
    reads a table filled on a GPU). With ``fill="measure"`` (the table's default) a
    prediction may time missing layers first; a filled table with ``fill="estimate"``
    predicts for free.
    """

    def __init__(self, table: LUTPredictor) -> None:
        self.table = table  # or any object with predict(arch) (and predict_many(params))

    @classmethod
    def create(cls, space=None, **options: Any) -> LUTLatencyPredictor:
        options.pop("build", None)
        options.setdefault("space", space)
        try:
            return cls(LUTPredictor(**options))
        except TypeError as exc:
            raise ConfigError(f"predictor_options of 'lut': {exc}") from None

    def predict_ms(self, arch: Arch) -> float:
        return float(self.table.predict(arch))

    def predict_params(self, space, params) -> np.ndarray:
        own = getattr(self.table, "space", None)
        if own is None or own.name != space.name or not hasattr(self.table, "predict_many"):
            return decode_and_predict(self, space, params)
        return np.asarray(self.table.predict_many(list(params)), dtype=float)


# -- any function ------------------------------------------------------------------------------
class CallablePredictor(LatencyPredictor):
    """Wraps a function ``arch -> predicted ms`` (or a result with ``median_ms``)."""

    def __init__(self, fn: Callable[[Arch], float], name: str = "callable") -> None:
        self.fn = fn
        self.name = name

    def predict_ms(self, arch: Arch) -> float:
        value = self.fn(arch)
        return float(getattr(value, "median_ms", value))

    def predict_params(self, space, params) -> np.ndarray:
        return decode_and_predict(self, space, params)


def create(spec: Any, space=None, **options: Any) -> LatencyPredictor | None:
    """A predictor from a registered name, ``"none"`` (None), a :class:`LatencyPredictor`,
    a ``LUTPredictor``, an object with ``predict_ms`` or a function ``arch -> ms``."""
    if spec is None or spec == "none":
        return None
    if isinstance(spec, LatencyPredictor):
        return spec
    if isinstance(spec, LUTPredictor) or hasattr(spec, "predict"):
        return LUTLatencyPredictor(spec)
    if hasattr(spec, "predict_ms"):
        return CallablePredictor(spec.predict_ms, type(spec).__name__)
    if callable(spec):
        return CallablePredictor(spec)
    if spec not in PREDICTORS:
        raise ConfigError(
            f"unknown latency predictor {spec!r}; valid choices: "
            f"{choices_text([*PREDICTORS.names(), 'none'])}, a LatencyPredictor or a "
            "function arch -> ms"
        )
    return PREDICTORS.get(spec).create(space, **options)


__all__ = [
    "PREDICTORS",
    "CallablePredictor",
    "FlopsPredictor",
    "LUTLatencyPredictor",
    "LatencyPredictor",
    "StageFlops",
    "count_flops",
    "create",
    "register_predictor",
]
