"""Device and environment helpers for latency measurement, kept apart from the template.

What a measurement says about where it ran: :func:`normalize_device` (``None``/"auto"/"cuda"
-> "cpu" or "cuda:N", checked), :func:`device_kind`, :func:`device_name` (the GPU's or CPU's
name, part of the cache key), :func:`base_versions` (torch, timm, python, CUDA) and
:func:`is_out_of_memory` (which exceptions are allocation failures). They depend on torch and
the machine only, not on :class:`~accelsearch.objectives.latency.base.LatencyBackend`, so
they live here and are usable (by the screen, the roofline, the survey) without the backend
template; :mod:`accelsearch.objectives.latency.base` re-exports them under their old paths.
"""

from __future__ import annotations

import os
import platform

import torch

from accelsearch.core.errors import ConfigError, MeasurementError


def normalize_device(device: str | None) -> str:
    """``None``/"auto" -> "cuda" when a GPU is visible, else "cpu"; "cuda" -> "cuda:0"."""
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str):
        raise ConfigError(f"latency device is {device!r}; valid: 'cpu', 'cuda', 'cuda:N', 'auto'")
    if device == "cuda":
        device = "cuda:0"
    if device != "cpu" and not (device.startswith("cuda:") and device[5:].isdigit()):
        raise ConfigError(f"latency device is {device!r}; valid: 'cpu', 'cuda', 'cuda:N', 'auto'")
    return device


def device_kind(device: str) -> str:
    return "cpu" if device == "cpu" else "cuda"


def device_name(device: str, threads: int | str | None = None, runtime: str = "torch") -> str:
    """Marketing name of the GPU, or the CPU model with its core count and the number of
    threads the measurement uses (``threads``, default PyTorch's current setting)."""
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
    threads = threads or (torch.get_num_threads() if runtime == "torch" else "default")
    return f"{name} ({os.cpu_count()} cores, {runtime} threads {threads})"


def base_versions() -> dict[str, str]:
    import timm

    v = {"torch": torch.__version__, "timm": timm.__version__, "python": platform.python_version()}
    if torch.version.cuda:
        v["cuda"] = str(torch.version.cuda)
    return v


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA and CPU allocation failures (torch raises them as several types)."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    if isinstance(exc, RuntimeError) and not isinstance(exc, MeasurementError):
        msg = str(exc).lower()
        return (
            "out of memory" in msg
            or "can't allocate memory" in msg
            or "cudnn_status_alloc_failed" in msg
            or "failed to allocate" in msg
        )
    return False
