"""Roofline and utilisation: peaks (datasheet, calibration), per-layer and network points,
the metrics a search trial reports, the plot."""

from __future__ import annotations

import pytest

from accelsearch.core.accounting import arch_stats
from accelsearch.core.errors import ConfigError
from accelsearch.objectives import roofline, roofline_peaks
from accelsearch.objectives.latency import LatencyResult, lut
from accelsearch.objectives.roofline import Peaks

H100 = Peaks("NVIDIA H100 80GB HBM3", "fp16", 700e12, 3.0e12, "test")


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELSEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ACCELSEARCH_LOCK_DIR", str(tmp_path))


@pytest.fixture(scope="module")
def arch():
    from accelsearch import spaces

    return spaces.get("efficientnet_x").reference("efficientnet-x-b0").replace(resolution=64)


def _result(ms: float, batch: int, device_name: str = H100.device_name) -> LatencyResult:
    return LatencyResult(
        median_ms=ms,
        p10_ms=ms,
        p90_ms=ms,
        mean_ms=ms,
        cv=0.0,
        n=10,
        backend="torch",
        device="cuda:0",
        device_name=device_name,
        precision="fp16",
        batch_size=batch,
        resolution=64,
    )


def test_peaks_ridge_and_ideal_rate():
    assert H100.ridge == pytest.approx(700 / 3.0)
    assert H100.ideal_rate(10) == pytest.approx(30e12)  # memory-bound: I × bandwidth
    assert H100.ideal_rate(1e4) == pytest.approx(700e12)  # compute-bound: peak
    assert H100.ideal_seconds(7e12, 1e9) == pytest.approx(0.01)


@pytest.mark.parametrize(
    "name, label",
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA A100-SXM4-40GB", "A100 SXM 40GB"),
        ("NVIDIA A100 80GB PCIe", "A100 PCIe 80GB"),
        ("Tesla V100-SXM2-16GB", "V100 SXM2"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
    ],
)
def test_datasheet_table(name, label):
    p = roofline.datasheet_peaks(name, "fp16")
    assert p.source == f"datasheet: {label}" and p.flops > 1e13 and p.bandwidth > 1e11
    assert roofline.datasheet_peaks(name, "fp32").flops < p.flops


def test_unknown_gpus_are_not_guessed():
    assert roofline.datasheet_peaks("NVIDIA A10G", "fp16") is None  # not an A10
    with pytest.raises(ConfigError, match="calibrate"):
        roofline.peaks_for("Mystery Accelerator 9000", "fp16")


def test_calibration_on_the_cpu_is_cached(monkeypatch):
    p = roofline.calibrate("cpu", "fp32", quick=True)
    assert p.source == "calibrated" and p.flops > 0 and p.bandwidth > 0
    first = roofline.peaks_for(device="cpu", precision="fp32")
    calls = []
    # peaks_for looks calibrate up where it lives (roofline_peaks), so the stand-in goes there
    monkeypatch.setattr(roofline_peaks, "calibrate", lambda *a, **k: calls.append(a))
    assert roofline.peaks_for(device="cpu", precision="fp32") == first and not calls


def test_network_and_layers_on_the_roofline(arch):
    stats = arch_stats(arch, batch_size=8, precision="fp16")
    roof = roofline.analyze(stats, H100, latency_ms=2.0)
    net = roof.network
    assert net.flops == stats.flops and net.bytes == stats.traffic_bytes
    assert net.intensity == pytest.approx(stats.flops / stats.traffic_bytes)
    assert net.ideal_ms == pytest.approx(sum(p.ideal_ms for p in roof.layers))
    assert net.achieved_rate == pytest.approx(stats.flops / 2e-3)
    assert net.utilisation == pytest.approx(net.achieved_rate / H100.flops)
    assert net.efficiency == pytest.approx(net.achieved_rate / net.ideal_rate)
    kinds = {layer.name: layer.kind for layer in stats.layers}
    depthwise = [p for p in roof.layers if kinds[p.name] == "dwconv"]
    assert depthwise and all(p.memory_bound for p in depthwise)  # EfficientNet-X §2
    assert roof.to_dict()["network"]["flops"] == stats.flops


def test_blocks_with_latencies_from_a_lut(arch):
    from accelsearch.objectives.latency.layers import arch_layers

    stats = arch_stats(arch, batch_size=1, precision="fp32")
    names = [e.name for e in arch_layers(arch)]
    # every block is one LUT layer, or inside one (a fixed-depth stage such as s2d)
    for group in stats.groups():
        assert any(group == n or group.startswith(n + ".") for n in names), group
    lat = {name: 0.01 for name in names}
    roof = roofline.analyze(stats, H100, latency_ms=0.5, layer_latency_ms=lat, per="block")
    assert all(p.latency_ms == 0.01 and p.utilisation is not None for p in roof.layers)
    with pytest.raises(ConfigError, match="per="):
        roofline.analyze(stats, H100, per="kernel")


def test_lut_layer_latencies(arch):
    from accelsearch.objectives.latency.protocol import Protocol

    small = arch.replace(resolution=32)
    p = lut.LUTPredictor(
        batch_size=1,
        device="cpu",
        options={"threads": 1},
        protocol=Protocol(warmup=1, min_reps=3, max_reps=5, max_seconds=0.3, batch_reps=3),
    )
    lat = roofline.lut_layer_latencies(p, small)
    assert lat and all(v > 0 for v in lat.values()) and "head" in lat


def test_efficiency_metrics_for_the_search_trial(arch):
    res = _result(ms=1.5, batch=8)
    m = roofline.efficiency_metrics(arch, res)  # the datasheet: the H100 is not here
    stats = arch_stats(arch, batch_size=8, precision="fp16")
    assert m["intensity"] == pytest.approx(stats.intensity)
    peak = roofline.datasheet_peaks(H100.device_name, "fp16").flops
    assert m["utilisation"] == pytest.approx(stats.flops / 1.5e-3 / peak)
    assert m["peaks_source"] == "datasheet: H100 SXM"
    assert m["memory_bound"] in (0, 1) and m["traffic_mb"] == pytest.approx(
        stats.traffic_bytes / 1e6
    )
    from accelsearch.core.builder import build_model

    same = roofline.efficiency_metrics(build_model(arch), res, peaks=H100)
    assert same["intensity"] == pytest.approx(m["intensity"])
    assert same["peak_tflops"] == pytest.approx(700)


def test_roofline_plot(tmp_path):
    pts = [("a", 5.0, 10e12), ("b", 500.0, 400e12)]
    path = roofline.plot_roofline(pts, H100, tmp_path / "r.png", color_values=[1, 2])
    assert path.exists() and path.stat().st_size > 1000


def test_a_calibrated_peak_below_an_achieved_rate_is_raised(arch):
    """A calibration taken on a busy machine understates the peak; utilisation never
    exceeds 1, and the raised peak is kept for later measurements."""
    stats = arch_stats(arch, batch_size=8, precision="fp16")
    achieved = stats.flops / 1.5e-3
    low = Peaks("Busy GPU", "fp16", achieved / 3, 1e12, "calibrated")
    roofline._write_peaks(low)
    m = roofline.efficiency_metrics(arch, _result(ms=1.5, batch=8, device_name="Busy GPU"))
    assert m["utilisation"] == pytest.approx(1.0)
    assert m["peaks_source"] == "calibrated, raised to an achieved rate"
    assert roofline.peaks_for("Busy GPU", "fp16").flops == pytest.approx(achieved)
    slower = roofline.efficiency_metrics(arch, _result(ms=3.0, batch=8, device_name="Busy GPU"))
    assert slower["utilisation"] == pytest.approx(0.5)
