"""The screen's latency models: a candidate's predicted ms, and how far to trust it.

Both learn from the trials measured (:meth:`observe`) and give the screen a margin, the
95th percentile of their relative error on those trials (:func:`error_quantile`).

* ``lut``: the per-layer lookup table of the recipe's GPU (``accelsearch.objectives.latency.
  lut``), read from its store without a GPU. Its margin starts at a prior (3 × the table's
  fitted MAPE, at least 5 %) and becomes the 95th percentile of its relative error on the
  trials measured so far, once there are ``min_points`` of them. From then on the table's
  predictions are also multiplied by one scale fitted on those trials, where the scaled
  table's leave-one-out error is the smaller: a table filled on another unit of the same
  GPU model, or on larger networks than the search visits, can be off by a steady 10-20 %
  (the GPUNet recipe on an H100: 18 % low on every one of its 20 trials), and a margin
  wide enough for a bias rejects nothing near the budget;
* ``flops``: GFLOPs of the model, turned into ms by a line fitted on the trials measured so
  far (weighted least squares, relative error); it screens nothing until ``min_points``
  trials are measured, and its margin is the 95th percentile of the leave-one-out relative
  errors of that fit. Where the screen builds the candidates (``screen.BuildCost``) it also
  counts their layers with weights (convolutions and linear layers), and the fit takes
  ``a·GFLOPs + c·layers + b`` instead when its leave-one-out error is the smaller: at batch
  1 a GPU runs a small network at the pace it launches kernels, not at its FLOPs (the GPUNet
  recipe on an H100: 8.4 GFLOPs took 2.2 ms, 6.8 GFLOPs 0.34 ms; on its 12 trials the
  leave-one-out error was 127 % for FLOPs alone, 13 % with the layers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np


def error_quantile(errors: list[float], q: float = 0.95) -> float:
    """The ``q`` quantile of relative errors (their maximum while there are fewer than 20)."""
    e = np.abs(np.asarray(errors, dtype=float))
    return float(e.max() if len(e) < 20 else np.quantile(e, q))


class LatencyModel(ABC):
    """What the screen asks of a latency model. ``kind`` (``"lut"``, ``"flops"``) tells the
    screen whether to build candidates for their GFLOPs and layers; ``description`` names
    the model in the run's output."""

    kind: str = ""
    description: str = ""

    @property
    def ready(self) -> bool:
        """Whether :meth:`predict` can answer yet (a fit needs its first trials)."""
        return True

    @abstractmethod
    def predict(
        self, params: dict[str, Any], gflops: float | None = None, layers: float | None = None
    ) -> float | None:
        """A candidate's latency in ms (None: cannot tell yet). Called when the screen judges
        a candidate, before any GPU work; ``gflops`` and ``layers`` where the screen built it."""

    @abstractmethod
    def observe(
        self,
        params: dict[str, Any],
        predicted: float | None,
        measured: float,
        gflops: float | None = None,
        layers: float | None = None,
    ) -> None:
        """Called when a trial the screen passed has measured its latency (``measured`` ms);
        ``predicted`` is what :meth:`predict` said when it was judged (None: nothing)."""

    @abstractmethod
    def margin(self) -> float | None:
        """The relative error to allow, measured on the trials so far (None: no figure yet).
        Called at every judgement."""


class TableLatency(LatencyModel):
    """An ms predictor made by ``make()`` (the LUT; from Python any callable ``Arch -> ms``
    or object with ``predict_many(params)``), with its error measured on the trials."""

    kind = "lut"

    def __init__(
        self,
        make: Callable[[], Any],
        space,
        description: str,
        prior_margin: float = 0.1,
        min_points: int = 4,
        rescale: bool = True,
    ) -> None:
        self.make = make  # picklable: the predictor itself is not kept in snapshots
        self.space = space
        self.description = description
        self.prior_margin = float(prior_margin)
        self.min_points = int(min_points)
        self.rescale = bool(rescale)  # False: the table's own figures, whatever they err
        #: relative errors of the table's own (unscaled) predictions on the trials measured
        self.errors: list[float] = []
        self._predictor = None

    @property
    def predictor(self):
        if self._predictor is None:
            self._predictor = self.make()
        return self._predictor

    def predict_many(self, params: list[dict[str, Any]]) -> np.ndarray:
        p = self.predictor
        if hasattr(p, "predict_many"):
            return np.asarray(p.predict_many(list(params)), dtype=float)
        return np.array([float(p(self.space.decode(x))) for x in params], dtype=float)

    def predict(
        self, params: dict[str, Any], gflops: float | None = None, layers: float | None = None
    ) -> float:
        return self.scale() * float(self.predict_many([params])[0])

    def observe(self, params, predicted, measured, gflops=None, layers=None) -> None:
        """The table's own figure is recorded, not ``predicted``: the scale that carried may
        have changed since."""
        if predicted is not None and measured > 0:
            own = float(self.predict_many([params])[0])
            self.errors.append((own - measured) / measured)

    def scale(self) -> float:
        """1, or the factor fitted on the trials measured where it errs less (module
        docstring); ratios ``predicted / measured`` are ``1 + error``."""
        fit = self._scaled_fit()
        return fit[0] if fit is not None else 1.0

    def _scaled_fit(self) -> tuple[float, list[float]] | None:
        """(scale, its leave-one-out errors) where they beat the plain table's errors."""
        if not getattr(self, "rescale", True) or len(self.errors) < self.min_points:
            return None  # getattr: snapshots from before the scale
        r = 1.0 + np.asarray(self.errors, dtype=float)
        # the scale without trial i, Σr - r_i over Σr² - r_i², at once for every i
        loo = list((r.sum() - r) / ((r * r).sum() - r * r) * r - 1.0)
        if error_quantile(loo) >= error_quantile(self.errors):
            return None
        return _ratio_scale(r), loo

    def margin(self) -> float | None:
        if len(self.errors) < self.min_points:
            return self.prior_margin
        fit = self._scaled_fit()
        return error_quantile(fit[1] if fit is not None else self.errors)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_predictor"] = None  # a LUT holds its whole table: made again when needed
        return state


def _ratio_scale(ratios: np.ndarray) -> float:
    """The ``s`` that minimises the relative error of ``s × predicted`` over ratios
    ``predicted / measured``: ``Σ (s·r − 1)²`` is least at ``s = Σ r / Σ r²``."""
    return float(np.sum(ratios) / np.sum(ratios * ratios))


class FlopsLatency(LatencyModel):
    """GFLOPs (and, where known, the number of layers) -> ms, fitted on the trials measured
    so far: a line in GFLOPs, or a plane in GFLOPs and layers where its leave-one-out error
    is the smaller (module docstring)."""

    kind = "flops"
    with_layers = False  # the fit in use (a class default: snapshots from before it)

    def __init__(self, min_points: int = 4) -> None:
        self.min_points = int(min_points)
        self.points: list[tuple[float, float, float | None]] = []  # (GFLOPs, ms, layers)
        self.coef: tuple[float, ...] | None = None
        self.loo: list[float] = []

    @property
    def description(self) -> str:
        what = "FLOPs and layer count" if self.with_layers else "FLOPs"
        return f"{what}, calibrated on the trials measured so far"

    @property
    def ready(self) -> bool:
        return self.coef is not None

    def predict(
        self, params: dict[str, Any], gflops: float | None = None, layers: float | None = None
    ) -> float | None:
        if self.coef is None or gflops is None or (self.with_layers and layers is None):
            return None
        row = (gflops, layers, 1.0) if self.with_layers else (gflops, 1.0)
        return float(np.dot(self.coef, row))

    def observe(self, params, predicted, measured, gflops=None, layers=None) -> None:
        """A calibration point (``params`` and ``predicted`` are not needed: the fit is on
        GFLOPs and layers)."""
        if gflops is None or measured <= 0:
            return
        self.points.append((float(gflops), float(measured), layers))
        if len(self.points) >= self.min_points:
            self._refit()

    def _refit(self) -> None:
        """The line in GFLOPs, or the plane with the layers where every point has them, they
        differ, and its leave-one-out error (95th percentile) is the smaller."""
        g = np.array([p[0] for p in self.points])
        y = np.array([p[1] for p in self.points])
        line = np.stack([g, np.ones_like(g)], axis=1)
        self.coef, self.loo, self.with_layers = _fit(line, y), _loo_errors(line, y), False
        layers = [p[2] if len(p) > 2 else None for p in self.points]  # older snapshots: 2
        if len(y) < 5 or any(v is None for v in layers) or len(set(layers)) < 2:
            return  # three coefficients from four points: every leave-one-out fit is exact
        plane = np.stack([g, np.array(layers, dtype=float), np.ones_like(g)], axis=1)
        loo = _loo_errors(plane, y)
        if error_quantile(loo) < error_quantile(self.loo):
            self.coef, self.loo, self.with_layers = _fit(plane, y), loo, True

    def margin(self) -> float | None:
        return error_quantile(self.loo) if self.coef is not None else None


def _fit(X: np.ndarray, y: np.ndarray) -> tuple[float, ...]:
    """``y ≈ X·c``, least squares on relative error (rows weighted by 1/y)."""
    w = 1.0 / y
    c, *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
    return tuple(float(v) for v in c)


def _loo_errors(X: np.ndarray, y: np.ndarray) -> list[float]:
    out = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        c = _fit(X[keep], y[keep])
        out.append(float((np.dot(X[i], c) - y[i]) / y[i]))
    return out
