"""The latency backend registry: ``BACKENDS``, ``get_backend`` and ``measure``.

Kept apart from the package's ``__init__`` so that a backend module (the lookup table
measures its layers with another backend) can import it without importing the package.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError, UnknownNameError, choices_text
from accelsearch.core.registry import Registry
from accelsearch.objectives.latency.base import PRECISIONS, LatencyBackend, normalize_device
from accelsearch.objectives.latency.cache import LatencyCache
from accelsearch.objectives.latency.onnxruntime_backend import OnnxRuntimeBackend
from accelsearch.objectives.latency.protocol import Protocol
from accelsearch.objectives.latency.result import LatencyResult
from accelsearch.objectives.latency.tensorrt_backend import TensorRTBackend, tensorrt_available
from accelsearch.objectives.latency.torch_backend import TorchBackend

BACKENDS: Registry[type[LatencyBackend]] = Registry("latency backend")
BACKENDS.add("torch", TorchBackend)
BACKENDS.add("onnxruntime", OnnxRuntimeBackend)
BACKENDS.add("tensorrt", TensorRTBackend)


def register_backend(name: str):
    """Class decorator registering a :class:`LatencyBackend` subclass under ``name``
    (``BACKENDS.register_class(name)``, kept under this name)."""
    return BACKENDS.register_class(name)


def resolve_backend_name(backend: str, device: str) -> str:
    """The backend ``"auto"`` stands for on ``device`` (others are checked and returned)."""
    if backend != "auto":
        BACKENDS.get(backend)  # raises a clear error for unknown names
        return backend
    if device != "cpu" and tensorrt_available():
        return "tensorrt"
    return "torch"


def get_backend(
    backend: str = "auto",
    device: str | None = None,
    precision: str | None = None,
    protocol: Protocol | dict[str, Any] | None = None,
    cache: bool | str | LatencyCache | None = True,
    **options: Any,
) -> LatencyBackend:
    """A backend instance (use it as a context manager to free what it holds).

    ``precision`` defaults to fp32 on a CPU and fp16 on a GPU. With ``backend="auto"``,
    options the chosen backend does not know are left out (a recipe may name options for
    either); a named backend rejects unknown options.
    """
    if not isinstance(backend, str):
        raise ConfigError(f"latency backend must be a name, got {backend!r}")
    if backend != "auto" and backend not in BACKENDS:
        raise UnknownNameError(
            f"unknown latency backend {backend!r}; valid choices: "
            f"{choices_text(['auto', *BACKENDS.names()])}"
        )
    device = normalize_device(device)
    name = resolve_backend_name(backend, device)
    if precision is None:
        precision = "fp32" if device == "cpu" else "fp16"
    if precision not in PRECISIONS:
        raise ConfigError(
            f"latency precision {precision!r} is not supported (not a known precision); valid "
            f"choices: {choices_text(PRECISIONS)}"
        )
    if isinstance(protocol, dict):
        try:
            protocol = Protocol(**protocol)
        except TypeError as exc:
            raise ConfigError(f"bad latency protocol field: {exc}") from None
    cls = BACKENDS.get(name)
    if backend == "auto":
        options = {k: v for k, v in options.items() if k in cls.option_names}
    instance = cls(device=device, precision=precision, protocol=protocol, cache=cache, **options)
    instance.requested_backend = backend
    return instance


def measure(
    model_or_arch: nn.Module | Arch,
    batch_size: int = 1,
    resolution: int | None = None,
    backend: str = "auto",
    device: str | None = None,
    precision: str | None = None,
    protocol: Protocol | dict[str, Any] | None = None,
    num_classes: int = 1000,
    cache: bool | str | LatencyCache | None = True,
    in_chans: int | None = None,
    refresh: bool = False,
    **options: Any,
) -> LatencyResult:
    """Measure one model or arch once (builds, times and frees a backend).

    ``cache=False`` skips the persistent cache; ``refresh=True`` measures again and
    replaces the cached value. Other keyword options go to the backend.
    """
    with get_backend(backend, device, precision, protocol, cache, **options) as b:
        return b.measure(
            model_or_arch, batch_size, resolution, num_classes, in_chans, refresh=refresh
        )
