"""TensorRT latency: module -> ONNX -> engine, GPU compute time as ``trtexec`` reports it.

The path (GPUNet §4.1): export the module to ONNX with a static input shape (batch
included) at opset >= 17 (:mod:`~accelsearch.objectives.latency.onnx_export`), parse it with
``trt.OnnxParser``, build a serialized engine with ``Builder.build_serialized_network`` and
time ``IExecutionContext.execute_async_v3`` between two CUDA events on one stream, which is
what ``trtexec`` calls "GPU Compute Time" (no host-device copies, no host overhead). Inputs
and outputs are PyTorch tensors on the GPU whose addresses are given to the context with
``set_tensor_address``, so no other CUDA binding (cuda-python, pycuda) is needed.

Precisions (:func:`build_settings`): with TensorRT 10's weakly typed networks the ONNX stays
fp32 and builder flags allow lower precision (fp16 -> ``FP16``, bf16 -> ``BF16``, int8 ->
``INT8`` + ``FP16``), as ``trtexec --fp16`` does; with strongly typed networks (``typing=
"strong"``, and always from TensorRT 11 on, where the precision flags are gone) the graph
itself carries the types (fp16 converted by ONNX Runtime's tool; bf16 is not available
there, as opset 17's Conv has no bfloat16). int8 comes either from explicit quantization (``int8_mode="qdq"``, default: Q/DQ
pairs calibrated on a small data sample, see :func:`~accelsearch.objectives.latency.
onnx_export.qdq_from_onnx`) or from TensorRT's own entropy calibration
(``int8_mode="calibrate"``, weak typing only; deprecated by NVIDIA in TensorRT 10).

Caches: a persistent timing cache per (TensorRT version, GPU) that every build reads and
merges into (so a second build of similar layers skips most tactic timing), and an engine
cache keyed by (structure hash, input shape, precision, TensorRT version, GPU name, build
settings) (:func:`engine_cache_fields`). Both live under ``$ACCELSEARCH_CACHE/tensorrt``
unless ``engine_cache``/``timing_cache`` name other places (``False`` turns one off).

TensorRT is imported lazily: without it, creating the backend raises
:class:`~accelsearch.errors.BackendUnavailableError` naming ``pip install
accelsearch[tensorrt]``. Options: ``opset``, ``exporter``, ``typing`` ("auto", "weak",
"strong"), ``int8_mode``, ``calibration_data``, ``calibration_batches``,
``workspace_gb`` (default 8), ``optimization_level`` (0-5, default TensorRT's 3),
``engine_cache``, ``timing_cache``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from accelsearch.errors import BackendUnavailableError, ConfigError, MeasurementError
from accelsearch.objectives.latency.base import InputShape, LatencyBackend, base_versions
from accelsearch.objectives.latency.cache import cache_dir
from accelsearch.objectives.latency.onnx_export import (
    MIN_OPSET,
    calibration_batches,
    fp16_from_onnx,
    onnx_from_module,
    qdq_from_onnx,
)
from accelsearch.objectives.latency.protocol import Stats, run_protocol

INSTALL_HINT = (
    "TensorRT is not installed here (the Python package `tensorrt` cannot be imported); "
    "install it with `pip install accelsearch[tensorrt]` (NVIDIA's wheels, for Linux or "
    "Windows with an NVIDIA GPU), or measure with backend='torch' (CUDA graphs) or "
    "backend='auto', which picks the best backend available"
)
TYPINGS = ("auto", "weak", "strong")
INT8_MODES = ("qdq", "calibrate")

#: TensorRT DataType name -> torch dtype (for the I/O buffers)
_TORCH_DTYPES = {
    "FLOAT": torch.float32,
    "HALF": torch.float16,
    "BF16": torch.bfloat16,
    "INT8": torch.int8,
    "INT32": torch.int32,
    "INT64": torch.int64,
    "BOOL": torch.bool,
    "UINT8": torch.uint8,
}


def import_tensorrt():
    """``import tensorrt``, or :class:`BackendUnavailableError` with the install hint."""
    try:
        import tensorrt as trt
    except ImportError:
        raise BackendUnavailableError(INSTALL_HINT) from None
    return trt


def tensorrt_available() -> bool:
    try:
        import_tensorrt()
    except BackendUnavailableError:
        return False
    return True


@dataclass(frozen=True)
class BuildSettings:
    """How an engine is built for one precision.

    ``flags`` are names of ``trt.BuilderFlag`` members to set; ``strongly_typed`` selects
    ``NetworkDefinitionCreationFlag.STRONGLY_TYPED``; ``onnx_precision`` is the graph the
    parser reads ("fp32", "fp16", "bf16" or "int8-qdq"); ``calibrate`` attaches an
    ``IInt8EntropyCalibrator2``.
    """

    precision: str
    flags: tuple[str, ...]
    strongly_typed: bool
    onnx_precision: str
    calibrate: bool = False

    @property
    def mode(self) -> str:
        typing = "strong" if self.strongly_typed else "weak"
        flags = "+".join(f.lower() for f in self.flags) or "fp32"
        return f"engine:{typing}:{flags}" + (":calibrated" if self.calibrate else "")


def build_settings(
    precision: str,
    typing: str = "auto",
    int8_mode: str = "qdq",
    builder_flags: set[str] | None = None,
) -> BuildSettings:
    """The builder flags and ONNX graph for ``precision``.

    ``builder_flags`` are the names ``trt.BuilderFlag`` has in the installed TensorRT (to
    resolve ``typing="auto"``: weak typing where the precision flags exist, strong typing
    otherwise); ``None`` assumes TensorRT 10.
    """
    if precision not in ("fp32", "fp16", "bf16", "int8"):
        raise ConfigError(
            f"tensorrt precision {precision!r}; valid choices: 'fp32', 'fp16', 'bf16', 'int8'"
        )
    if typing not in TYPINGS:
        raise ConfigError(f"tensorrt option typing={typing!r}; valid choices: {TYPINGS}")
    if int8_mode not in INT8_MODES:
        raise ConfigError(f"tensorrt option int8_mode={int8_mode!r}; valid choices: {INT8_MODES}")
    has_precision_flags = builder_flags is None or "FP16" in builder_flags
    if typing == "auto":
        typing = "weak" if has_precision_flags else "strong"
    if typing == "weak" and not has_precision_flags:
        raise ConfigError(
            "this TensorRT has no precision builder flags (TensorRT >= 11 is always strongly "
            "typed); use typing='strong' or 'auto'"
        )
    if typing == "strong":
        if precision == "int8" and int8_mode == "calibrate":
            raise ConfigError(
                "int8_mode='calibrate' needs a weakly typed network; use int8_mode='qdq' "
                "(explicit quantization) with typing='strong'"
            )
        if precision == "bf16":
            raise ConfigError(
                "bf16 with a strongly typed network needs a bf16 ONNX graph, which opset 17 "
                "cannot express (its Conv has no bfloat16); use typing='weak' (TensorRT 10) or "
                "precision='fp16'"
            )
        onnx_precision = "int8-qdq" if precision == "int8" else precision
        return BuildSettings(precision, (), True, onnx_precision)
    flags = {
        "fp32": (),
        "fp16": ("FP16",),
        "bf16": ("BF16",),
        "int8": ("INT8", "FP16"),
    }[precision]
    if precision == "int8":
        calibrate = int8_mode == "calibrate"
        return BuildSettings(
            precision, flags, False, "fp32" if calibrate else "int8-qdq", calibrate
        )
    return BuildSettings(precision, flags, False, "fp32")


def onnx_for_settings(
    model: nn.Module,
    input_shape: InputShape,
    settings: BuildSettings,
    opset: int = MIN_OPSET,
    exporter: str = "torchscript",
    calibration=None,
):
    """The ONNX graph TensorRT parses for ``settings``: fp32 (weak typing, and int8 with
    TensorRT's calibrator), fp16 (converted) or Q/DQ int8 calibrated on ``calibration()``
    batches (default: random images)."""
    kind = settings.onnx_precision
    proto = onnx_from_module(model, input_shape, opset, exporter)
    if kind == "fp16":
        return fp16_from_onnx(proto)
    if kind == "int8-qdq":
        batches = calibration() if calibration is not None else calibration_batches(input_shape)
        return qdq_from_onnx(proto, batches)
    return proto


def engine_cache_fields(
    model_hash: str,
    input_shape: InputShape,
    settings: BuildSettings,
    trt_version: str,
    gpu_name: str,
    options: dict[str, Any],
) -> dict[str, Any]:
    """What identifies an engine: structure, shape (batch), precision, TensorRT version,
    GPU and every build setting."""
    return {
        "model_hash": model_hash,
        "input_shape": list(input_shape),
        "precision": settings.precision,
        "tensorrt": trt_version,
        "gpu": gpu_name,
        "flags": list(settings.flags),
        "strongly_typed": settings.strongly_typed,
        "onnx_precision": settings.onnx_precision,
        "calibrate": settings.calibrate,
        "options": {k: options[k] for k in sorted(options)},
    }


def engine_cache_key(fields: dict[str, Any]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def timing_cache_path(folder: Path, trt_version: str, gpu_name: str) -> Path:
    """One timing cache per TensorRT version and GPU model."""
    return folder / f"timing-trt{_slug(trt_version)}-{_slug(gpu_name)}.cache"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class EngineCache:
    """Serialized engines on disk, ``<key>.engine`` with a ``<key>.json`` of its fields."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.engine"

    def get(self, key: str) -> bytes | None:
        p = self.path(key)
        try:
            return p.read_bytes()
        except OSError:
            return None

    def put(self, key: str, engine: bytes, fields: dict[str, Any]) -> None:
        _atomic_write(self.folder / f"{key}.json", json.dumps(fields, indent=1).encode())
        _atomic_write(self.path(key), bytes(engine))


def _folder_option(value: Any, default: Path) -> Path | None:
    """An ``engine_cache`` option: False -> off, True/None -> ``default``, else a folder."""
    if value is False:
        return None
    if value is True or value is None:
        return default
    return Path(str(value)).expanduser()


class TensorRTBackend(LatencyBackend):
    """TensorRT engines timed like ``trtexec``'s GPU Compute Time (module docstring)."""

    name = "tensorrt"
    precisions = {"cpu": (), "cuda": ("fp32", "fp16", "bf16", "int8")}
    option_names = (
        "opset",
        "exporter",
        "typing",
        "int8_mode",
        "calibration_data",
        "calibration_batches",
        "workspace_gb",
        "optimization_level",
        "engine_cache",
        "timing_cache",
    )

    @classmethod
    def check_available(cls) -> None:
        import_tensorrt()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trt = import_tensorrt()
        flags = set(self.trt.BuilderFlag.__members__)
        self.settings = build_settings(
            self.precision,
            self.options.get("typing", "auto"),
            self.options.get("int8_mode", "qdq"),
            flags,
        )
        root = cache_dir() / "tensorrt"
        engines = _folder_option(self.options.get("engine_cache"), root / "engines")
        self.engines = EngineCache(engines) if engines is not None else None
        timing = self.options.get("timing_cache")
        if timing is False:
            self.timing_cache_file = None
        elif timing in (None, True):
            self.timing_cache_file = timing_cache_path(root, self.trt.__version__, self.device_name)
        else:
            self.timing_cache_file = Path(str(timing)).expanduser()
        self._held: list[Any] = []

    def timing_options(self) -> dict[str, Any]:
        return {
            "opset": int(self.options.get("opset", MIN_OPSET)),
            "exporter": self.options.get("exporter", "torchscript"),
            "typing": "strong" if self.settings.strongly_typed else "weak",
            "int8_mode": self.options.get("int8_mode", "qdq") if self.precision == "int8" else "",
            "workspace_gb": float(self.options.get("workspace_gb", 8)),
            "optimization_level": self.options.get("optimization_level"),
        }

    def versions(self) -> dict[str, str]:
        return {**base_versions(), "tensorrt": self.trt.__version__}

    def close(self) -> None:
        self._held.clear()
        super().close()

    # -- ONNX and engine ---------------------------------------------------------------
    def onnx_for(self, model: nn.Module, input_shape: InputShape):
        """The ONNX graph the parser reads for this backend's build settings."""
        opts = self.timing_options()
        return onnx_for_settings(
            model,
            input_shape,
            self.settings,
            opts["opset"],
            opts["exporter"],
            lambda: self._calibration(input_shape),
        )

    def _calibration(self, input_shape: InputShape):
        return calibration_batches(
            input_shape,
            self.options.get("calibration_data"),
            int(self.options.get("calibration_batches", 4)),
        )

    def engine_from_onnx(self, onnx_bytes: bytes, input_shape: InputShape) -> bytes:
        """Parse ``onnx_bytes`` and build a serialized engine (timing cache read and merged)."""
        trt = self.trt
        logger = _collecting_logger(trt)
        builder = trt.Builder(logger)
        flags = 0
        if self.settings.strongly_typed:
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(onnx_bytes):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise MeasurementError(f"TensorRT could not parse the ONNX graph: {errors[:5]}")
        config = builder.create_builder_config()
        gb = float(self.options.get("workspace_gb", 8))
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(gb * (1 << 30)))
        level = self.options.get("optimization_level")
        if level is not None:
            config.builder_optimization_level = int(level)
        for flag in self.settings.flags:
            config.set_flag(getattr(trt.BuilderFlag, flag))
        if self.settings.calibrate:
            config.int8_calibrator = _entropy_calibrator(
                trt, self._calibration(input_shape), torch.device(self.device)
            )
        cache = None
        if self.timing_cache_file is not None:
            data = b""
            with contextlib.suppress(OSError):
                data = self.timing_cache_file.read_bytes()
            cache = config.create_timing_cache(data)
            config.set_timing_cache(cache, ignore_mismatch=False)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise MeasurementError(
                "TensorRT could not build an engine"
                + (f": {logger.errors[-3:]}" if logger.errors else "")
                + "; a smaller batch_size or workspace_gb may help"
            )
        if cache is not None:
            self._save_timing_cache(config.get_timing_cache())
        return bytes(serialized)

    def _save_timing_cache(self, cache) -> None:
        """Merge the build's timing cache into the file (other processes may add too)."""
        path = self.timing_cache_file
        with _file_lock(path):
            with contextlib.suppress(OSError):
                on_disk = path.read_bytes()
                if on_disk:
                    config = self.trt.Builder(_collecting_logger(self.trt)).create_builder_config()
                    cache.combine(config.create_timing_cache(on_disk), False)
            _atomic_write(path, bytes(cache.serialize()))

    # -- timing ------------------------------------------------------------------------
    def _measure_impl(
        self, model: nn.Module, input_shape: InputShape
    ) -> tuple[Stats, float, str, dict[str, Any]]:
        trt = self.trt
        t0 = time.perf_counter()
        fields = engine_cache_fields(
            self.current_model_hash,
            input_shape,
            self.settings,
            trt.__version__,
            self.device_name,
            self.timing_options(),
        )
        key = engine_cache_key(fields)
        engine_bytes = self.engines.get(key) if self.engines is not None else None
        engine_cached = engine_bytes is not None
        if engine_bytes is None:
            proto = self.onnx_for(model, input_shape)
            engine_bytes = self.engine_from_onnx(proto.SerializeToString(), input_shape)
            if self.engines is not None:
                self.engines.put(key, engine_bytes, fields)
        del model
        dev = torch.device(self.device)
        with torch.cuda.device(dev):
            logger = _collecting_logger(trt)
            runtime = trt.Runtime(logger)
            engine = runtime.deserialize_cuda_engine(engine_bytes)
            if engine is None:
                raise MeasurementError(f"TensorRT could not load the engine: {logger.errors[-3:]}")
            context = engine.create_execution_context()
            self._held[:] = [runtime, engine, context]
            buffers = []
            for i in range(engine.num_io_tensors):
                name = engine.get_tensor_name(i)
                shape = tuple(engine.get_tensor_shape(name))
                dtype = _TORCH_DTYPES[engine.get_tensor_dtype(name).name]
                if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                    t = torch.randn(shape, device=dev).to(dtype)
                else:
                    t = torch.empty(shape, device=dev, dtype=dtype)
                context.set_tensor_address(name, t.data_ptr())
                buffers.append(t)
            stream = torch.cuda.Stream(dev)
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)

            def once() -> float:
                start.record(stream)
                ok = context.execute_async_v3(stream.cuda_stream)
                end.record(stream)
                end.synchronize()
                if not ok:
                    raise MeasurementError(f"TensorRT execution failed: {logger.errors[-3:]}")
                return start.elapsed_time(end)

            torch.cuda.synchronize(dev)
            build_s = time.perf_counter() - t0
            stats = run_protocol(once, self.protocol)
            self._held.clear()
        extra = {
            "tensorrt": trt.__version__,
            "engine_cached": engine_cached,
            "engine_key": key,
            "flags": list(self.settings.flags),
            "strongly_typed": self.settings.strongly_typed,
            "onnx_precision": self.settings.onnx_precision,
            "timing": "GPU compute time (CUDA events around execute_async_v3)",
        }
        return stats, build_s, self.settings.mode, extra


def _collecting_logger(trt):
    """A ``trt.ILogger`` that keeps errors (for messages) and prints nothing below them."""

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity, msg) -> None:
            if severity in (trt.ILogger.Severity.ERROR, trt.ILogger.Severity.INTERNAL_ERROR):
                self.errors.append(str(msg))

    return _Logger()


def _entropy_calibrator(trt, batches, device: torch.device):
    """TensorRT's entropy calibrator over fp32 ``batches`` (numpy arrays of one shape)."""

    class _Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._batches = [torch.from_numpy(b).to(device) for b in batches]
            self._next = 0

        def get_batch_size(self) -> int:
            return int(batches[0].shape[0])

        def get_batch(self, names):
            if self._next >= len(self._batches):
                return None
            t = self._batches[self._next]
            self._next += 1
            return [int(t.data_ptr())]

        def read_calibration_cache(self):
            return None

        def write_calibration_cache(self, cache) -> None:
            return None

    return _Calibrator()
