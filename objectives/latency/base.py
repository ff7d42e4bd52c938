"""``LatencyBackend``: the extension point for measuring latency.

Polygraphy's habit: the public :meth:`LatencyBackend.measure` validates its input, builds
the model when given an ``Arch``, takes the per-device lock and assembles the result; a
subclass implements only :meth:`_measure_impl` (and :meth:`close` when it holds engines or
buffers). Backends are context managers, so ``with get_backend(...) as b:`` frees what they
hold.
"""

from __future__ import annotations

import os
import platform
import time
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from accelsearch.arch import Arch
from accelsearch.errors import ConfigError, choices_text
from accelsearch.objectives.latency.lock import device_lock
from accelsearch.objectives.latency.protocol import Protocol, Stats
from accelsearch.objectives.latency.result import LatencyResult

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def normalize_device(device: str | None) -> str:
    """``None``/"auto" -> "cuda" when a GPU is visible, else "cpu"; "cuda" -> "cuda:0"."""
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        device = "cuda:0"
    if device != "cpu" and not device.startswith("cuda:"):
        raise ConfigError(f"latency device is {device!r}; valid: 'cpu', 'cuda', 'cuda:N', 'auto'")
    return device


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} cores, torch threads {torch.get_num_threads()})"


def base_versions() -> dict[str, str]:
    import timm

    v = {"torch": torch.__version__, "timm": timm.__version__, "python": platform.python_version()}
    if torch.version.cuda:
        v["cuda"] = str(torch.version.cuda)
    return v


class LatencyBackend(ABC):
    """Measures the latency of a model's forward pass at a batch size and precision.

    Subclasses set ``name`` and ``precisions`` (per device kind) and implement
    :meth:`_measure_impl`, called with the per-device lock held.
    """

    name: str = ""
    #: allowed precisions by device kind ("cpu", "cuda")
    precisions: dict[str, tuple[str, ...]] = {"cpu": ("fp32",), "cuda": ("fp32", "fp16", "bf16")}

    def __init__(
        self,
        device: str | None = None,
        precision: str = "fp32",
        protocol: Protocol | None = None,
        **options: Any,
    ) -> None:
        self.device = normalize_device(device)
        kind = "cuda" if self.device.startswith("cuda") else "cpu"
        allowed = self.precisions.get(kind, ())
        if precision not in allowed:
            raise ConfigError(
                f"latency precision {precision!r} is not supported by backend {self.name!r} "
                f"on {kind}; valid choices: {choices_text(allowed)}"
            )
        if kind == "cuda" and not torch.cuda.is_available():
            from accelsearch.errors import BackendUnavailableError

            raise BackendUnavailableError(
                f"latency device {self.device!r} was asked for but no CUDA GPU is visible; "
                "use device='cpu' or run on a GPU machine"
            )
        self.precision = precision
        self.protocol = protocol or Protocol()
        self.options = options
        self._closed = False

    # -- context manager ---------------------------------------------------------------
    def __enter__(self) -> LatencyBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free engines, graphs and buffers (hook; default frees the CUDA cache)."""
        self._closed = True
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    # -- public ------------------------------------------------------------------------
    @property
    def device_key(self) -> str:
        return "cpu" if self.device == "cpu" else "cuda" + self.device.split(":")[1]

    def versions(self) -> dict[str, str]:
        return base_versions()

    def measure(
        self,
        model_or_arch: nn.Module | Arch,
        batch_size: int = 1,
        resolution: int | None = None,
        num_classes: int = 1000,
    ) -> LatencyResult:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"latency batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(model_or_arch, Arch):
            resolution = resolution or model_or_arch.resolution
        if not resolution or resolution < 1:
            raise ConfigError(
                "latency resolution is needed when measuring an nn.Module; pass resolution=..."
            )
        wall0 = time.perf_counter()
        with device_lock(self.device_key):
            stats, build_s, mode, extra = self._measure_impl(
                model_or_arch, batch_size, int(resolution), num_classes
            )
        return LatencyResult(
            median_ms=stats.median_ms,
            p10_ms=stats.p10_ms,
            p90_ms=stats.p90_ms,
            mean_ms=stats.mean_ms,
            cv=stats.cv,
            n=stats.n,
            backend=self.name,
            mode=mode,
            device=self.device,
            device_name=device_name(self.device),
            precision=self.precision,
            batch_size=batch_size,
            resolution=int(resolution),
            versions=self.versions(),
            build_s=build_s,
            wall_s=time.perf_counter() - wall0,
            noisy=stats.cv > self.protocol.noisy_cv,
            ci_rel=stats.ci_rel,
            extra=extra,
        )

    @abstractmethod
    def _measure_impl(
        self, model_or_arch: nn.Module | Arch, batch_size: int, resolution: int, num_classes: int
    ) -> tuple[Stats, float, str, dict[str, Any]]:
        """Return (stats, seconds spent building/compiling, mode, extra fields)."""


def as_module(model_or_arch: nn.Module | Arch, num_classes: int) -> nn.Module:
    if isinstance(model_or_arch, Arch):
        from accelsearch.builder import build_model

        return build_model(model_or_arch, num_classes=num_classes)
    if not isinstance(model_or_arch, nn.Module):
        raise ConfigError(
            f"latency.measure takes an nn.Module or an Arch, got {type(model_or_arch).__name__}"
        )
    return model_or_arch
