"""Bad input: out of memory, a model that cannot be exported; the cache stays consistent
and the process keeps working."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from accelsearch.core.errors import MeasurementError
from accelsearch.objectives import latency
from accelsearch.objectives.latency import LatencyCache, Protocol
from accelsearch.objectives.latency.base import is_out_of_memory
from accelsearch.objectives.latency.cache import default_cache_path

FAST = Protocol(warmup=1, min_reps=3, max_reps=6, max_seconds=0.5, batch_reps=3)
KW = dict(device="cpu", protocol=FAST, resolution=16)
LIVE: list = []  # weak references to modules that ran (to check the failed one is freed)


class OutOfMemoryAbove(torch.nn.Module):
    """Runs like a small conv net but fails like an allocator above a batch size."""

    def __init__(self, limit: int, error=torch.cuda.OutOfMemoryError) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.limit = limit
        self.error = error

    def forward(self, x):
        LIVE.append(weakref.ref(self))
        if x.shape[0] > self.limit:
            big = torch.empty(1 << 20)  # something the failed attempt holds  # noqa: F841
            raise self.error("CUDA out of memory. Tried to allocate 80.00 GiB")
        return self.conv(x)


@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError,
        MemoryError,
        lambda m: RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 1 TB"),
    ],
)
def test_out_of_memory_is_a_clear_error_and_the_process_goes_on(error):
    model = OutOfMemoryAbove(limit=4, error=error)
    cache = LatencyCache(default_cache_path())
    before = len(cache)
    LIVE.clear()
    with pytest.raises(MeasurementError, match="out of memory.*batch 8.*smaller batch_size"):
        latency.measure(model, batch_size=8, backend="torch", **KW)
    gc.collect()
    assert all(ref() is None for ref in LIVE), "the failed attempt's module is still alive"
    assert len(cache) == before and cache.integrity_ok()
    ok = latency.measure(model, batch_size=2, backend="torch", **KW)
    assert ok.median_ms > 0 and not ok.cached
    assert len(cache) == before + 1


def test_out_of_memory_detection():
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(MeasurementError("out of memory measuring ..."))


class NotExportable(torch.nn.Module):
    def forward(self, x):
        return torch.linalg.eigvals(x[:, 0])


def test_export_failure_leaves_the_cache_consistent():
    cache = LatencyCache(default_cache_path())
    before = len(cache)
    with pytest.raises(MeasurementError, match="could not be exported to ONNX.*backend='torch'"):
        latency.measure(NotExportable(), backend="onnxruntime", **KW)
    assert len(cache) == before and cache.integrity_ok()
    # the same model still measures with PyTorch, and the cache takes it
    r = latency.measure(NotExportable(), backend="torch", **KW)
    assert r.median_ms > 0 and len(cache) == before + 1


def test_a_failing_forward_is_not_swallowed():
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise ValueError("bad shapes in forward")

    with pytest.raises(ValueError, match="bad shapes"):
        latency.measure(Broken(), backend="torch", **KW)
    assert LatencyCache(default_cache_path()).integrity_ok()
