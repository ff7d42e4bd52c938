"""Latency measurement (``accelsearch.objectives.latency``).

>>> from accelsearch.objectives import latency
>>> r = latency.measure(arch, batch_size=1, backend="torch", device="cpu")
>>> r.median_ms, r.backend, r.device_name

Backends are registered by name (``latency.BACKENDS``); ``"auto"`` picks the best one
available for the device and the result says which one ran.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from accelsearch.arch import Arch
from accelsearch.objectives.latency.base import LatencyBackend, normalize_device
from accelsearch.objectives.latency.protocol import Protocol
from accelsearch.objectives.latency.result import LatencyResult
from accelsearch.objectives.latency.torch_backend import TorchBackend
from accelsearch.registry import Registry

BACKENDS: Registry[type[LatencyBackend]] = Registry("latency backend")
BACKENDS.add("torch", TorchBackend)


def register_backend(name: str):
    """Class decorator registering a :class:`LatencyBackend` subclass."""

    def deco(cls: type[LatencyBackend]) -> type[LatencyBackend]:
        cls.name = name
        BACKENDS.add(name, cls)
        return cls

    return deco


def resolve_backend_name(backend: str, device: str) -> str:
    """The backend ``"auto"`` stands for on ``device``."""
    if backend != "auto":
        BACKENDS.get(backend)  # raises a clear error for unknown names
        return backend
    return "torch"


def get_backend(
    backend: str = "auto",
    device: str | None = None,
    precision: str | None = None,
    protocol: Protocol | dict[str, Any] | None = None,
    **options: Any,
) -> LatencyBackend:
    """A backend instance (use it as a context manager to free what it holds)."""
    device = normalize_device(device)
    name = resolve_backend_name(backend, device)
    if precision is None:
        precision = "fp32" if device == "cpu" else "fp16"
    if isinstance(protocol, dict):
        protocol = Protocol(**protocol)
    return BACKENDS.get(name)(device=device, precision=precision, protocol=protocol, **options)


def measure(
    model_or_arch: nn.Module | Arch,
    batch_size: int = 1,
    resolution: int | None = None,
    backend: str = "auto",
    device: str | None = None,
    precision: str | None = None,
    protocol: Protocol | dict[str, Any] | None = None,
    num_classes: int = 1000,
    **options: Any,
) -> LatencyResult:
    """Measure one model or arch once (builds, times and frees a backend)."""
    with get_backend(backend, device, precision, protocol, **options) as b:
        return b.measure(model_or_arch, batch_size, resolution, num_classes)


__all__ = [
    "BACKENDS",
    "LatencyBackend",
    "LatencyResult",
    "Protocol",
    "get_backend",
    "measure",
    "register_backend",
]
