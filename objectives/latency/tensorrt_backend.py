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
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from accelsearch.core.errors import MeasurementError
from accelsearch.objectives.latency.base import InputShape, LatencyBackend, base_versions
from accelsearch.objectives.latency.cache import cache_dir
from accelsearch.objectives.latency.onnx_export import MIN_OPSET, calibration_batches
from accelsearch.objectives.latency.protocol import Stats, run_protocol

# The settings and caches live in their own modules; their public names stay importable
# from here, where they were before the split.
from accelsearch.objectives.latency.tensorrt_engines import (
    EngineCache,
    atomic_write,
    collecting_logger,
    engine_cache_fields,
    engine_cache_key,
    entropy_calibrator,
    file_lock,
    folder_option,
    timing_cache_path,
)
from accelsearch.objectives.latency.tensorrt_settings import (
    INSTALL_HINT,
    INT8_MODES,
    TYPINGS,
    BuildSettings,
    build_settings,
    import_tensorrt,
    onnx_for_settings,
    tensorrt_available,
)

__all__ = [
    "INSTALL_HINT",
    "INT8_MODES",
    "TYPINGS",
    "BuildSettings",
    "EngineCache",
    "TensorRTBackend",
    "build_settings",
    "engine_cache_fields",
    "engine_cache_key",
    "import_tensorrt",
    "onnx_for_settings",
    "tensorrt_available",
    "timing_cache_path",
]

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
        engines = folder_option(self.options.get("engine_cache"), root / "engines")
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
        logger = collecting_logger(trt)
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
            config.int8_calibrator = entropy_calibrator(
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
        with file_lock(path):
            with contextlib.suppress(OSError):
                on_disk = path.read_bytes()
                if on_disk:
                    config = self.trt.Builder(collecting_logger(self.trt)).create_builder_config()
                    cache.combine(config.create_timing_cache(on_disk), False)
            atomic_write(path, bytes(cache.serialize()))

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
            logger = collecting_logger(trt)
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
