"""Latency measurement (``accelsearch.objectives.latency``).

>>> from accelsearch.objectives import latency
>>> r = latency.measure(arch, batch_size=1, backend="torch", device="cpu")
>>> r.median_ms, r.backend, r.device_name, r.cached

Backends are registered by name (``latency.BACKENDS``): ``torch`` (CPU eager; CUDA with
channels_last, fp16/bf16 and CUDA-graph replay, optional ``torch.compile``),
``onnxruntime`` (CPU and CUDA execution providers), ``tensorrt`` (ONNX -> engine, GPU
compute time; needs ``pip install accelsearch[tensorrt]``) and ``lut`` (GPUNet's per-layer
lookup table, :mod:`accelsearch.objectives.latency.lut`). ``"auto"`` picks the best one
available for the device (TensorRT on a GPU when it is installed, else PyTorch with CUDA
graphs; PyTorch on a CPU) and the result says which one ran (``backend``) and what was
asked for (``requested_backend``).

Every measurement goes through the same protocol (:class:`Protocol`), one at a time per
device across processes (:mod:`.lock`), and is kept in a persistent SQLite cache
(:mod:`.cache`): a repeated query returns at once with ``cached=True``.
"""

from __future__ import annotations

from accelsearch.objectives.latency import lut  # noqa: F401 - registers backend "lut"
from accelsearch.objectives.latency.backends import (
    BACKENDS,
    get_backend,
    measure,
    register_backend,
    resolve_backend_name,
)
from accelsearch.objectives.latency.base import LatencyBackend
from accelsearch.objectives.latency.cache import LatencyCache
from accelsearch.objectives.latency.protocol import Protocol
from accelsearch.objectives.latency.result import LatencyResult

__all__ = [
    "BACKENDS",
    "LatencyBackend",
    "LatencyCache",
    "LatencyResult",
    "Protocol",
    "get_backend",
    "measure",
    "register_backend",
    "resolve_backend_name",
]
