"""Latency predictors for LACS: cheap guesses that prune the grid and narrow φ's bracket.

A prediction never becomes a member's latency: LACS measures every member. Predictors only
decide which (α, β, γ) are worth measuring and where the first φ probe goes, and the φ
solver corrects them with the measurements it makes (it assumes measured/predicted changes
slowly along φ).

The interface is one method, :meth:`LatencyPredictor.predict_ms`, plus a
:meth:`~LatencyPredictor.calibrate` hook called once with the base model and its measured
latency. Two implementations:

* :class:`FlopsPredictor` (the default, ``"flops"``): latency ∝ multiply-adds, calibrated on
  the base model. Multiply-adds of a scaled model come from :class:`StageFlops`, which
  counts the base once (``torch.utils.flop_counter`` on the meta device, no real compute)
  and rescales per stage, so a prediction costs microseconds.
* :class:`CallablePredictor`: any ``arch -> ms`` function, e.g. the lookup-table predictor
  of ``accelsearch.objectives.latency.lut`` (``make_predictor("lut", ...)`` wraps it when
  that module is installed).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from accelsearch.arch import Arch
from accelsearch.errors import BackendUnavailableError, ConfigError, choices_text

PREDICTORS = ("flops", "lut", "none")


class LatencyPredictor(ABC):
    """Predicts the latency of an arch in ms (no measurement)."""

    name: str = ""

    @abstractmethod
    def predict_ms(self, arch: Arch) -> float:
        """Predicted latency of ``arch``; called many times, so it must be cheap."""

    def calibrate(self, base: Arch, base_ms: float) -> None:
        """Called once by LACS with the base model and its measured latency (no-op here)."""

    def describe(self) -> str:
        return self.name or type(self).__name__


# -- multiply-adds of scaled archs ------------------------------------------------------------
def count_flops(arch: Arch, build: Callable[..., Any] | None = None) -> dict[str, int]:
    """FLOPs (2 × multiply-adds) per module for one image, counted on the meta device."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if build is None:
        from accelsearch.builder import build_model as build
    try:
        with torch.device("meta"):
            model = build(arch, num_classes=1000).eval()
            x = torch.zeros(1, arch.in_chans, arch.resolution, arch.resolution)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    except (NotImplementedError, RuntimeError):  # an op without a meta kernel: count on CPU
        model = build(arch, num_classes=1000).eval()
        x = torch.zeros(1, arch.in_chans, arch.resolution, arch.resolution)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
    counts = {k: int(sum(v.values())) for k, v in counter.get_flop_counts().items()}
    counts["__model__"] = type(model).__name__  # type: ignore[assignment]
    return counts


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


class FlopsPredictor(LatencyPredictor):
    """Latency ∝ FLOPs, calibrated so that the base model predicts its measured latency."""

    name = "flops"

    def __init__(self, build: Callable[..., Any] | None = None) -> None:
        self.build = build
        self.model: StageFlops | None = None
        self.base_ms: float | None = None

    def calibrate(self, base: Arch, base_ms: float) -> None:
        self.model = StageFlops(base, self.build)
        self.base_ms = float(base_ms)

    def flops(self, arch: Arch) -> float:
        if self.model is None:
            raise ConfigError("FlopsPredictor.calibrate(base, base_ms) must be called first")
        return self.model.flops(arch)

    def predict_ms(self, arch: Arch) -> float:
        if self.model is None or self.base_ms is None:
            raise ConfigError("FlopsPredictor.calibrate(base, base_ms) must be called first")
        return self.base_ms * self.model.flops(arch) / max(self.model.total, 1.0)


class CallablePredictor(LatencyPredictor):
    """Wraps a function ``arch -> predicted ms`` (or an object with ``predict_ms``)."""

    def __init__(self, fn: Callable[[Arch], float], name: str = "callable") -> None:
        self.fn = fn
        self.name = name

    def predict_ms(self, arch: Arch) -> float:
        value = self.fn(arch)
        return float(getattr(value, "median_ms", value))


def make_predictor(spec: Any = "flops", **options: Any) -> LatencyPredictor | None:
    """A predictor from a name (``"flops"``, ``"lut"``, ``"none"``), an instance or a function.

    ``options`` go to the lookup-table predictor (batch size, precision, device ...).
    """
    if spec is None or spec == "none":
        return None
    if isinstance(spec, LatencyPredictor):
        return spec
    if callable(spec) and not isinstance(spec, str):
        return CallablePredictor(spec)
    if hasattr(spec, "predict_ms"):
        return CallablePredictor(spec.predict_ms, type(spec).__name__)
    if spec == "flops":
        return FlopsPredictor(options.get("build"))
    if spec == "lut":
        return _lut_predictor(**options)
    raise ConfigError(
        f"unknown LACS latency predictor {spec!r}; valid choices: {choices_text(PREDICTORS)}, "
        "a LatencyPredictor or a function arch -> ms"
    )


def _lut_predictor(**options: Any) -> LatencyPredictor:
    """The latency room's lookup table (``latency.lut.LUTPredictor``), when installed.

    ``options`` go to ``LUTPredictor`` (``batch_size``, ``precision``, ``device``,
    ``backend``, ``space``, ``store``, ``fill`` ...). Scaled models are mostly new layer
    shapes: with ``fill="measure"`` (the table's default) each prediction may time layers
    first, so pruning a large grid this way costs GPU time; a filled table with
    ``fill="estimate"`` predicts for free.
    """
    try:
        from accelsearch.objectives.latency import lut  # type: ignore[attr-defined]
    except ImportError:
        raise BackendUnavailableError(
            "the lookup-table latency predictor (accelsearch.objectives.latency.lut) is not "
            "available in this installation; use predictor='flops'"
        ) from None
    options.pop("build", None)
    cls = getattr(lut, "LUTPredictor", None)
    if cls is None:
        raise BackendUnavailableError(
            "accelsearch.objectives.latency.lut has no LUTPredictor; pass a LatencyPredictor "
            "or a function arch -> ms as the predictor instead"
        )
    table = cls(**options)
    method = getattr(table, "predict_ms", None) or table.predict
    return CallablePredictor(method, "lut")
