"""Latency on the CPU: a full result, the protocol's stopping rule, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from accelsearch.core.errors import ConfigError, UnknownNameError
from accelsearch.objectives import latency
from accelsearch.objectives.latency.protocol import Protocol, median_ci_rel, run_protocol, summarize

FAST = {"warmup": 2, "min_reps": 10, "max_reps": 60, "max_seconds": 1.0}


def test_measure_arch_on_cpu_reports_everything(tiny_space):
    arch = tiny_space.sample_arch(0)
    r = latency.measure(
        arch, batch_size=2, backend="torch", device="cpu", protocol=FAST, num_classes=10
    )
    assert r.median_ms > 0 and r.p10_ms <= r.median_ms <= r.p90_ms
    assert 10 <= r.n <= 60 + Protocol().batch_reps
    assert r.backend == "torch" and r.mode.startswith("eager")
    assert r.device == "cpu" and r.device_name
    assert r.precision == "fp32" and r.batch_size == 2 and r.resolution == 32
    assert {"torch", "timm", "python"} <= set(r.versions)
    assert r.cv >= 0 and r.throughput == pytest.approx(2 / (r.median_ms / 1000))


def test_measure_module_needs_resolution_and_leaves_it_untouched():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    with pytest.raises(ConfigError, match="resolution is needed"):
        latency.measure(model, backend="torch", device="cpu", protocol=FAST)
    r = latency.measure(model, resolution=16, backend="torch", device="cpu", protocol=FAST)
    assert r.resolution == 16 and model.training  # the caller's module keeps its mode


def test_auto_on_cpu_says_which_backend_ran(tiny_space):
    r = latency.measure(tiny_space.sample_arch(1), backend="auto", device="cpu", protocol=FAST)
    assert r.backend == "torch"


def test_protocol_stops_when_the_median_is_tight():
    calls = []

    def steady():
        calls.append(1)
        return 1.0 + 1e-4 * (len(calls) % 3)

    stats = run_protocol(steady, Protocol(warmup=3, min_reps=20, max_reps=1000, max_seconds=5))
    assert stats.n == 20  # first check after min_reps already meets 1 %
    assert stats.ci_rel <= 0.01 and len(calls) == 23


def test_protocol_keeps_going_on_noise_until_the_cap():
    rng = np.random.default_rng(0)
    stats = run_protocol(
        lambda: float(rng.lognormal(0, 1.0)),
        Protocol(warmup=0, min_reps=10, max_reps=200, max_seconds=5),
    )
    assert stats.n == 200 and stats.ci_rel > 0.01


def test_trimmed_statistics_and_ci():
    samples = [1.0] * 18 + [100.0, 0.01]
    s = summarize(samples, trim=0.1)
    assert s.mean_ms == pytest.approx(1.0) and s.cv == pytest.approx(0.0)
    assert s.median_ms == 1.0
    assert median_ci_rel(np.array([1.0, 1.0, 1.0])) == 0.0


@pytest.mark.parametrize(
    "kwargs,err,needle",
    [
        ({"backend": "warp-drive"}, UnknownNameError, "unknown latency backend 'warp-drive'"),
        (
            {"backend": "torch", "precision": "fp64"},
            ConfigError,
            "precision 'fp64' is not supported",
        ),
        ({"backend": "torch", "device": "tpu"}, ConfigError, "latency device is 'tpu'"),
        ({"backend": "torch", "batch_size": 0}, ConfigError, "batch_size must be a positive"),
    ],
)
def test_bad_input_fails_clearly(tiny_space, kwargs, err, needle):
    with pytest.raises(err, match=needle):
        latency.measure(tiny_space.sample_arch(0), protocol=FAST, **kwargs)
