"""Roofline and GPU utilisation (EfficientNet-X §2; Kosaian & Phanishayee).

For a layer or a network doing W FLOPs and moving Q bytes (weights + input + output
activations, activations fused into the producing conv: see
:func:`accelsearch.accounting.arch_stats`):

* arithmetic intensity ``I = W / Q`` (FLOP/byte);
* the device's ridge point ``I* = peak FLOP/s ÷ bandwidth``: below it a layer is
  memory-bound;
* the ideal rate ``C_ideal = min(peak, I · bandwidth)`` and ideal time ``W / C_ideal``
  (for a network: the sum of its layers' ideal times, so each layer sits on its own roof);
* with a measured latency: the achieved rate ``C = W / latency``, the efficiency
  ``E = C / C_ideal`` (latency = W / (C_ideal · E)) and the utilisation ``C / peak``.

Peaks (:class:`Peaks`, :func:`peaks_for`) come from a calibration microbenchmark cached per
device and precision, else a table of datasheet values: see
:mod:`accelsearch.objectives.roofline_peaks`. The plot is
:mod:`accelsearch.objectives.roofline_plot`. Their public names are importable from here.

The search trial calls :func:`efficiency_metrics` with the arch (or its module) and the
``LatencyResult`` and reports ``intensity`` and ``utilisation`` among its metrics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from torch import nn

from accelsearch.core.accounting import ArchStats, arch_stats, model_stats
from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError
from accelsearch.objectives.latency.layers import arch_layers

# The peaks and the plot live in their own modules; their names stay importable from here,
# where they were before the split (efficiency_metrics raises a calibrated peak through
# _write_peaks).
from accelsearch.objectives.roofline_peaks import DATASHEET as DATASHEET
from accelsearch.objectives.roofline_peaks import TERA as TERA
from accelsearch.objectives.roofline_peaks import Peaks as Peaks
from accelsearch.objectives.roofline_peaks import _write_peaks as _write_peaks
from accelsearch.objectives.roofline_peaks import calibrate as calibrate
from accelsearch.objectives.roofline_peaks import datasheet_peaks as datasheet_peaks
from accelsearch.objectives.roofline_peaks import peaks_for as peaks_for
from accelsearch.objectives.roofline_plot import plot_roofline as plot_roofline


@dataclass(frozen=True)
class RooflinePoint:
    """A layer or a network on the roofline (rates in FLOP/s, times in ms)."""

    name: str
    flops: float
    bytes: float
    intensity: float
    ridge: float
    ideal_rate: float
    ideal_ms: float
    latency_ms: float | None = None
    achieved_rate: float | None = None
    efficiency: float | None = None
    utilisation: float | None = None

    @property
    def memory_bound(self) -> bool:
        return self.intensity < self.ridge


def _point(name: str, W: float, Q: float, peaks: Peaks, ideal_s: float, ms: float | None):
    intensity = W / Q if Q else 0.0
    ideal_rate = W / ideal_s if ideal_s > 0 else 0.0
    achieved = eff = util = None
    if ms is not None and ms > 0:
        achieved = W / (ms / 1000.0)
        eff = achieved / ideal_rate if ideal_rate else None
        util = achieved / peaks.flops
    return RooflinePoint(
        name, W, Q, intensity, peaks.ridge, ideal_rate, ideal_s * 1000, ms, achieved, eff, util
    )


@dataclass(frozen=True)
class Roofline:
    """A network's roofline: its layers (or blocks) and the whole."""

    peaks: Peaks
    network: RooflinePoint
    layers: tuple[RooflinePoint, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "peaks": asdict(self.peaks),
            "network": asdict(self.network),
            "layers": [asdict(p) for p in self.layers],
        }


def analyze(
    stats: ArchStats,
    peaks: Peaks,
    latency_ms: float | None = None,
    layer_latency_ms: dict[str, float] | None = None,
    per: str = "layer",
) -> Roofline:
    """Roofline of a network from its :class:`~accelsearch.accounting.ArchStats`.

    ``per="layer"`` gives one point per conv/linear/pool/SE product, ``per="block"`` one per
    block (``stem.0``, ``stages.2.1``, ``head``). ``layer_latency_ms`` (by block name, e.g.
    from :func:`lut_layer_latencies`) adds achieved rate, efficiency and utilisation per
    block; a block name also covers the blocks below it (``stages.0`` covers
    ``stages.0.0``).
    """
    if per not in ("layer", "block"):
        raise ConfigError(f"roofline per={per!r}; valid choices: 'layer', 'block'")
    items = list(stats.groups().values()) if per == "block" else list(stats.layers)
    lat = layer_latency_ms or {}
    points = []
    total_ideal = 0.0
    for item in items:
        ideal_s = peaks.ideal_seconds(item.flops, item.traffic_bytes)
        total_ideal += ideal_s
        ms = _latency_for(item.name, lat) if per == "block" else None
        points.append(_point(item.name, item.flops, item.traffic_bytes, peaks, ideal_s, ms))
    network = _point("network", stats.flops, stats.traffic_bytes, peaks, total_ideal, latency_ms)
    return Roofline(peaks, network, tuple(points))


def _latency_for(name: str, lat: dict[str, float]) -> float | None:
    best = None
    for key in lat:
        if name == key or name.startswith(key + "."):
            if best is None or len(key) > len(best):
                best = key
    return lat[best] if best is not None else None


def lut_layer_latencies(predictor, arch: Arch) -> dict[str, float]:
    """Per-block latencies of ``arch`` from a LUT (block name -> ms, uncorrected)."""
    entries = arch_layers(arch, predictor.num_classes)
    predictor.ensure([e.key for e in entries])
    return {e.name: predictor.table[e.key.text] for e in entries}


def efficiency_metrics(
    model_or_arch: nn.Module | Arch,
    result,
    num_classes: int = 1000,
    peaks: Peaks | None = None,
    stats: ArchStats | None = None,
) -> dict[str, Any]:
    """Roofline metrics of one measured candidate, for the search trial to report.

    Takes the arch (or the module built from it) and its ``LatencyResult``; uses the
    result's batch size, precision and device name. Returns ``intensity`` (FLOP/byte),
    ``utilisation`` (achieved FLOP/s ÷ peak), ``efficiency`` (achieved ÷ ideal rate),
    ``achieved_tflops``, ``ideal_tflops``, ``peak_tflops``, ``bandwidth_tbps``,
    ``ridge_point``, ``memory_bound`` (0/1), ``traffic_mb`` and ``peaks_source``.
    """
    if stats is None:
        if isinstance(model_or_arch, Arch):
            stats = arch_stats(model_or_arch, result.batch_size, result.precision, num_classes)
        else:
            stats = model_stats(
                model_or_arch, result.resolution, result.batch_size, result.precision
            )
    if peaks is None:
        peaks = peaks_for(result.device_name, result.precision, device=result.device)
        achieved = stats.flops / (result.median_ms / 1e3) if result.median_ms else 0.0
        if achieved > peaks.flops and peaks.source.startswith("calibrated"):
            # a calibration taken while the machine was busy: the peak is at least what a
            # network just achieved; keep the higher value for every later measurement
            peaks = replace(peaks, flops=achieved, source="calibrated, raised to an achieved rate")
            _write_peaks(peaks)
    roof = analyze(stats, peaks, latency_ms=result.median_ms)
    net = roof.network
    return {
        "intensity": net.intensity,
        "utilisation": net.utilisation,
        "efficiency": net.efficiency,
        "achieved_tflops": (net.achieved_rate or 0.0) / TERA,
        "ideal_tflops": net.ideal_rate / TERA,
        "peak_tflops": peaks.flops / TERA,
        "bandwidth_tbps": peaks.bandwidth / TERA,
        "ridge_point": peaks.ridge,
        "memory_bound": int(net.memory_bound),
        "traffic_mb": net.bytes / 1e6,
        "peaks_source": peaks.source,
    }
