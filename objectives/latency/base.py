"""``LatencyBackend``: the extension point for measuring latency.

Polygraphy's habit: the public :meth:`LatencyBackend.measure` validates its input, answers
from the persistent cache when it can, builds the model when given an ``Arch`` (outside the
device lock), takes the per-device lock, turns an out-of-memory failure into a clear
:class:`~accelsearch.errors.MeasurementError` (freeing what the attempt held, so the process
keeps working) and assembles the result; a subclass implements only :meth:`_measure_impl`
(and :meth:`close` when it holds engines or buffers). Optional hooks with defaults:
:meth:`check_available` (is the library installed?), :meth:`_prepare` (``Arch`` -> module),
:meth:`timing_options` (options that change the number, part of the cache key) and
:meth:`versions`. Backends are context managers, so ``with get_backend(...) as b:`` frees
what they hold.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import hashlib
import time
from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from accelsearch.core.arch import Arch
from accelsearch.core.builder import build_model
from accelsearch.core.errors import (
    BackendUnavailableError,
    ConfigError,
    MeasurementError,
    choices_text,
)
from accelsearch.objectives.latency.cache import LatencyCache, key_digest, open_cache

# The device and environment helpers live in their own module; their names stay importable
# from here, where they were first defined.
from accelsearch.objectives.latency.device import base_versions as base_versions
from accelsearch.objectives.latency.device import device_kind as device_kind
from accelsearch.objectives.latency.device import device_name as device_name
from accelsearch.objectives.latency.device import is_out_of_memory as is_out_of_memory
from accelsearch.objectives.latency.device import normalize_device as normalize_device
from accelsearch.objectives.latency.lock import device_lock, lock_key
from accelsearch.objectives.latency.protocol import Protocol, Stats
from accelsearch.objectives.latency.result import LatencyResult

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}

InputShape = tuple[int, int, int, int]  # (batch, channels, height, width)


def structure_hash(model_or_arch: nn.Module | Arch, num_classes: int = 1000) -> str:
    """What was timed, as a short digest: the arch hash for an ``Arch`` or a module built
    from one (so both share cache entries), else the module's text form and tensor shapes."""
    if isinstance(model_or_arch, Arch):
        return f"arch-{model_or_arch.hash()}-c{num_classes}"
    arch = getattr(model_or_arch, "arch", None)
    if isinstance(arch, Arch) and type(model_or_arch).__name__ == "ArchNet":
        return f"arch-{arch.hash()}-c{getattr(model_or_arch, 'num_classes', num_classes)}"
    h = hashlib.sha256()
    h.update(type(model_or_arch).__qualname__.encode())
    h.update(repr(model_or_arch).encode())
    for name, t in list(model_or_arch.named_parameters()) + list(model_or_arch.named_buffers()):
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
    return f"module-{h.hexdigest()[:20]}"


class LatencyBackend(ABC):
    """Measures the latency of a model's forward pass at a batch size and precision.

    Subclasses set ``name``, ``precisions`` (per device kind) and ``option_names`` (the
    keyword options they accept) and implement :meth:`_measure_impl`, called with the
    per-device lock held.
    """

    name: str = ""
    #: allowed precisions by device kind ("cpu", "cuda")
    precisions: dict[str, tuple[str, ...]] = {"cpu": ("fp32",), "cuda": ("fp32", "fp16", "bf16")}
    #: keyword options this backend accepts (anything else is a ConfigError)
    option_names: tuple[str, ...] = ()
    #: whether measure() holds the device lock (False for predictors that time nothing)
    uses_device_lock: bool = True

    def __init__(
        self,
        device: str | None = None,
        precision: str = "fp32",
        protocol: Protocol | None = None,
        cache: bool | str | LatencyCache | None = True,
        **options: Any,
    ) -> None:
        self.check_available()
        self.device = normalize_device(device)
        kind = device_kind(self.device)
        if precision not in PRECISIONS:
            raise ConfigError(
                f"latency precision {precision!r} is not supported (not a known precision); "
                f"valid choices: {choices_text(PRECISIONS)}"
            )
        allowed = self.precisions.get(kind, ())
        if precision not in allowed:
            raise ConfigError(
                f"latency precision {precision!r} is not supported by backend {self.name!r} "
                f"on {kind}; valid choices there: {choices_text(allowed) or '(none)'}"
            )
        unknown = sorted(set(options) - set(self.option_names))
        if unknown:
            raise ConfigError(
                f"latency backend {self.name!r} has no option(s) {unknown}; valid options: "
                f"{choices_text(self.option_names) or '(none)'}"
            )
        if kind == "cuda":
            if not torch.cuda.is_available():
                raise BackendUnavailableError(
                    f"latency device {self.device!r} was asked for but no CUDA GPU is visible; "
                    "use device='cpu' or run on a GPU machine"
                )
            index = int(self.device.split(":")[1])
            if index >= torch.cuda.device_count():
                raise ConfigError(
                    f"latency device {self.device!r} does not exist; this machine has "
                    f"{torch.cuda.device_count()} GPU(s): cuda:0 ... "
                    f"cuda:{torch.cuda.device_count() - 1}"
                )
        if protocol is not None and not isinstance(protocol, Protocol):
            raise ConfigError(f"latency protocol must be a Protocol, got {protocol!r}")
        self.precision = precision
        self.protocol = protocol or Protocol()
        self.options = options
        self.cache = open_cache(cache)
        #: what the caller asked for ("auto" when resolved by get_backend)
        self.requested_backend = self.name
        #: structure hash of the model being measured (set by measure() for _measure_impl)
        self.current_model_hash = ""
        self._closed = False

    # -- hooks ------------------------------------------------------------------------
    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`BackendUnavailableError` when a library this backend needs is
        missing (called first, so the install hint comes before anything else)."""

    @classmethod
    def is_available(cls) -> bool:
        try:
            cls.check_available()
        except BackendUnavailableError:
            return False
        return True

    def timing_options(self) -> dict[str, Any]:
        """Options that change the timing (part of the cache key); default: all options."""
        return {k: v for k, v in sorted(self.options.items()) if _plain_json(v)}

    def versions(self) -> dict[str, str]:
        return base_versions()

    def _prepare(self, model_or_arch: nn.Module | Arch, num_classes: int) -> Any:
        """Turn the caller's input into what :meth:`_measure_impl` takes (outside the lock).

        Default: a private module (an ``Arch`` is built, a module deep-copied so the
        caller's module is never changed)."""
        if isinstance(model_or_arch, Arch):
            return as_module(model_or_arch, num_classes)
        return copy.deepcopy(as_module(model_or_arch, num_classes))

    # -- context manager ---------------------------------------------------------------
    def __enter__(self) -> LatencyBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Free engines, graphs and buffers (hook; default frees the CUDA cache)."""
        self._closed = True
        if self.device.startswith("cuda"):
            gc.collect()
            torch.cuda.empty_cache()

    # -- public ------------------------------------------------------------------------
    @property
    def device_key(self) -> str:
        return lock_key(self.device)

    @property
    def device_name(self) -> str:
        threads = self.options.get("threads") if self.device == "cpu" else None
        return device_name(self.device, threads)

    def cache_fields(
        self, model_hash: str, input_shape: InputShape, num_classes: int
    ) -> dict[str, Any]:
        """Everything that identifies one measurement (hashed into the cache key)."""
        batch, chans, height, _ = input_shape
        return {
            "model_hash": model_hash,
            "backend": self.name,
            "options": self.timing_options(),
            "device_name": self.device_name,
            "precision": self.precision,
            "batch_size": batch,
            "resolution": height,
            "in_chans": chans,
            "num_classes": num_classes,
            "versions": self.versions(),
        }

    def measure(
        self,
        model_or_arch: nn.Module | Arch,
        batch_size: int = 1,
        resolution: int | None = None,
        num_classes: int = 1000,
        in_chans: int | None = None,
        *,
        refresh: bool = False,
    ) -> LatencyResult:
        """Latency of one forward pass of a ``batch_size`` batch.

        ``resolution`` defaults to the arch's (also for a module built from an arch); any
        other module needs it. ``in_chans`` defaults to the arch's, or 3. ``refresh=True`` measures again even when the
        cache has the answer (and replaces it).
        """
        if self._closed:
            raise ConfigError(f"latency backend {self.name!r} was closed; create a new one")
        input_shape = input_shape_of(model_or_arch, batch_size, resolution, in_chans)
        resolution = input_shape[2]
        model_hash = structure_hash(model_or_arch, num_classes)
        fields = self.cache_fields(model_hash, input_shape, num_classes)
        key = key_digest(fields)
        if self.cache is not None and not refresh:
            hit = self.cache.get(key)
            if hit is not None:
                return hit.replace(requested_backend=self.requested_backend)

        wall0 = time.perf_counter()
        self.current_model_hash = model_hash
        outcome = self._run_guarded(model_or_arch, num_classes, input_shape)
        if isinstance(outcome, str):
            raise MeasurementError(
                f"out of memory measuring batch {batch_size} at {resolution}px "
                f"({self.precision}, backend {self.name!r}) on {self.device}: {outcome}; use "
                "a smaller batch_size or resolution (nothing was cached; the process can go on)"
            )
        stats, build_s, mode, extra = outcome
        result = LatencyResult(
            median_ms=stats.median_ms,
            p10_ms=stats.p10_ms,
            p90_ms=stats.p90_ms,
            mean_ms=stats.mean_ms,
            cv=stats.cv,
            n=stats.n,
            backend=self.name,
            mode=mode,
            device=self.device,
            device_name=self.device_name,
            precision=self.precision,
            batch_size=batch_size,
            resolution=int(resolution),
            versions=self.versions(),
            build_s=build_s,
            wall_s=time.perf_counter() - wall0,
            noisy=bool(stats.busy),
            noisy_reason=stats.busy,
            drift=stats.drift,
            attempts=stats.attempts,
            ci_rel=stats.ci_rel,
            requested_backend=self.requested_backend,
            model_hash=model_hash,
            extra=extra,
        )
        if self.cache is not None and self.stores_in_cache(result):
            self.cache.put(key, {**fields, "protocol": vars(self.protocol)}, result)
        return result

    def stores_in_cache(self, result: LatencyResult) -> bool:
        """Hook: whether ``result`` goes into the persistent cache (default: always)."""
        return True

    def _run_guarded(self, model_or_arch, num_classes, input_shape):
        """Prepare and measure; an out-of-memory failure comes back as its message, after
        everything the attempt held has been released (the traceback, which keeps the
        failed frames and their tensors alive, is gone by then)."""
        message = None
        try:
            prepared = self._prepare(model_or_arch, num_classes)
            lock = (
                device_lock(self.device_key) if self.uses_device_lock else contextlib.nullcontext()
            )
            with lock:
                return self._measure_impl(prepared, input_shape)
        except BaseException as exc:
            if not is_out_of_memory(exc):
                raise
            message = (
                str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            )
        prepared = None  # noqa: F841 - drop the module before freeing memory
        gc.collect()
        self._after_out_of_memory()
        return message

    def _after_out_of_memory(self) -> None:
        """Hook: release what a failed attempt left (default: the CUDA caching allocator)."""
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    @abstractmethod
    def _measure_impl(
        self, model: Any, input_shape: InputShape
    ) -> tuple[Stats, float, str, dict[str, Any]]:
        """Time ``model`` (what :meth:`_prepare` returned) on inputs of ``input_shape``.

        Called with the device lock held. Returns (stats, seconds spent building/compiling
        /capturing, mode string, extra fields for the result)."""


def input_shape_of(
    model_or_arch: nn.Module | Arch, batch_size: int, resolution: int | None, in_chans: int | None
) -> InputShape:
    """The checked (batch, channels, height, width) to time; resolution and channels
    default to the arch's (also for a module built from an arch)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"latency batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(model_or_arch, (Arch, nn.Module)):
        raise ConfigError(
            f"latency.measure takes an nn.Module or an Arch, got {type(model_or_arch).__name__}"
        )
    described = model_or_arch if isinstance(model_or_arch, Arch) else None
    if described is None and isinstance(getattr(model_or_arch, "arch", None), Arch):
        described = model_or_arch.arch  # a module built from an Arch
    if described is not None:
        resolution = resolution or described.resolution
        in_chans = in_chans or described.in_chans
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ConfigError(
            f"latency resolution is needed for an nn.Module and must be a positive integer, "
            f"got {resolution!r}; pass resolution=..."
        )
    return (batch_size, int(in_chans or 3), int(resolution), int(resolution))


def as_module(model_or_arch: nn.Module | Arch, num_classes: int) -> nn.Module:
    if isinstance(model_or_arch, Arch):
        return build_model(model_or_arch, num_classes=num_classes)
    if not isinstance(model_or_arch, nn.Module):
        raise ConfigError(
            f"latency.measure takes an nn.Module or an Arch, got {type(model_or_arch).__name__}"
        )
    return model_or_arch


def _plain_json(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str, list, tuple, dict))
