"""Every registered latency backend, picked up from ``BACKENDS``, held to the
:class:`LatencyBackend` contract (as Optuna runs one test over all its samplers).

A backend that cannot run on this machine (TensorRT without its wheel, a CUDA-only backend
on a CPU) is held to the part of the contract that can run here: a clear error naming what
is missing and how to get it, raised before any work (no model built, nothing cached).
"""

from __future__ import annotations

import math

import pytest
import torch

from accelsearch.core.errors import BackendUnavailableError, ConfigError
from accelsearch.objectives import latency
from accelsearch.objectives.latency import BACKENDS, LatencyBackend, LatencyResult, Protocol
from accelsearch.objectives.latency import base as latency_base

#: a protocol short enough for CPU tests (timings are not asserted, only behaviour)
FAST = Protocol(warmup=1, min_reps=3, max_reps=6, max_seconds=0.5, batch_reps=3)
CPU_KW = dict(device="cpu", protocol=FAST)


def _cheap_options(cls: type[LatencyBackend]) -> dict:
    """Speed only: one CPU thread where a backend takes ``threads``; the lut times its layers
    with the torch backend, so those get the short protocol and one thread."""
    if "layer_protocol" in cls.option_names:
        return {"layer_protocol": FAST, "layer_options": {"threads": 1}}
    return {"threads": 1} if "threads" in cls.option_names else {}


def _runs_on_cpu(cls: type[LatencyBackend]) -> bool:
    return cls.is_available() and "fp32" in cls.precisions["cpu"]


@pytest.mark.parametrize("name", BACKENDS.names())
def test_registered_under_its_name_with_a_precision_table(name):
    cls = BACKENDS.get(name)
    assert issubclass(cls, LatencyBackend) and cls.name == name
    assert set(cls.precisions) == {"cpu", "cuda"}
    assert all(p in latency_base.PRECISIONS for ps in cls.precisions.values() for p in ps)
    assert isinstance(cls.option_names, tuple)
    assert isinstance(cls.is_available(), bool)


@pytest.mark.parametrize("name", BACKENDS.names())
def test_measures_an_arch_or_says_clearly_why_not(name, tiny_arch, monkeypatch, tmp_path):
    cls = BACKENDS.get(name)
    if not cls.is_available():
        _assert_unavailable_before_any_work(name, tiny_arch, monkeypatch, tmp_path)
        return
    if not _runs_on_cpu(cls):
        # available, but only on a GPU: on a CPU the precision check names the fix
        with pytest.raises(ConfigError, match=rf"{name}.*valid choices there"):
            latency.get_backend(name, precision="fp32", **CPU_KW)
        if not torch.cuda.is_available():
            with pytest.raises(BackendUnavailableError, match="device='cpu'"):
                latency.get_backend(name, device="cuda", protocol=FAST)
        return
    with latency.get_backend(name, precision="fp32", **CPU_KW, **_cheap_options(cls)) as b:
        r = b.measure(tiny_arch, batch_size=2)
        again = b.measure(tiny_arch, batch_size=2)
    _assert_result(r, name, tiny_arch)
    if b.cache is not None and b.stores_in_cache(r):
        # the promise of the cache: a repeated query comes back at once, the same number
        assert again.cached and again.median_ms == r.median_ms
    elif not b.uses_device_lock:
        # a predictor that times nothing answers the same query with the same number
        assert again.median_ms == r.median_ms
    # the context manager released the backend: it refuses further work and says what to do
    with pytest.raises(ConfigError, match="closed; create a new one"):
        b.measure(tiny_arch)


def _assert_result(r: LatencyResult, name: str, arch) -> None:
    assert isinstance(r, LatencyResult)
    assert r.backend == name and r.requested_backend == name
    assert r.device == "cpu" and r.device_name and r.precision == "fp32"
    assert (r.batch_size, r.resolution) == (2, arch.resolution)
    assert math.isfinite(r.median_ms) and r.median_ms > 0
    assert r.p10_ms <= r.median_ms <= r.p90_ms
    assert r.n >= 1 and r.cv >= 0 and r.mode
    assert r.versions["torch"] == torch.__version__
    assert r.model_hash == f"arch-{arch.hash()}-c1000"
    assert LatencyResult.from_json(r.to_json()) == r


def _assert_unavailable_before_any_work(name, arch, monkeypatch, tmp_path):
    """The install hint comes first: before the options are checked, a model is built or
    the cache is opened."""

    def no_build(*args, **kwargs):
        raise AssertionError(f"backend {name!r} built a model before saying it cannot run")

    monkeypatch.setattr(latency_base, "build_model", no_build)
    cache = tmp_path / "cache"
    assert not cache.exists()
    with pytest.raises(BackendUnavailableError) as err:
        latency.measure(arch, backend=name, **CPU_KW)
    assert "install" in str(err.value) and name.lower() in str(err.value).lower()
    # even with a wrong precision and an unknown option, what is missing is said first
    with pytest.raises(BackendUnavailableError, match="install"):
        latency.get_backend(name, precision="fp32", no_such_option=1, **CPU_KW)
    assert not BACKENDS.get(name).is_available()
    assert not cache.exists()


@pytest.mark.parametrize("name", [n for n in BACKENDS.names() if _runs_on_cpu(BACKENDS.get(n))])
def test_bad_input_names_the_field_and_the_fix(name, tiny_arch):
    cls = BACKENDS.get(name)
    with pytest.raises(ConfigError, match=rf"{name}.*no option.*valid options"):
        latency.get_backend(name, no_such_option=1, **CPU_KW)
    with pytest.raises(ConfigError, match=r"'fp64'.*valid choices"):
        latency.get_backend(name, precision="fp64", **CPU_KW)
    with pytest.raises(ConfigError, match="device"):
        latency.get_backend(name, device="tpu", protocol=FAST)
    with latency.get_backend(name, **CPU_KW, **_cheap_options(cls)) as b:
        with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
            b.measure(tiny_arch, batch_size=0)
        with pytest.raises(ConfigError, match="takes an nn.Module or an Arch"):
            b.measure("resnet50")
        with pytest.raises(ConfigError, match="pass resolution="):
            b.measure(torch.nn.Conv2d(3, 4, 3))
    if not torch.cuda.is_available() and cls.precisions["cuda"]:
        with pytest.raises(BackendUnavailableError, match="no CUDA GPU is visible.*device='cpu'"):
            latency.get_backend(name, device="cuda", protocol=FAST, **_cheap_options(cls))
