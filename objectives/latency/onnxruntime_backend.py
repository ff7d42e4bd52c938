"""ONNX Runtime latency: the module exported to ONNX, run by the CPU or CUDA provider.

The result says which execution provider actually ran (``mode`` and
``extra["providers"]``): ONNX Runtime silently falls back to the CPU when its CUDA provider
cannot load, so the backend checks the session's providers and refuses to report a CPU
timing as a GPU one. On the CPU each sample is the host time of one ``session.run``; on a
GPU the input and output stay on the device (I/O binding) and each sample is the host time
of one ``run_with_iobinding`` (which waits for the GPU), so it includes ONNX Runtime's
launch overhead, as an application would see it.

Precisions: fp32 everywhere; fp16 on CUDA (the fp32 graph converted by ONNX Runtime's
float16 tool); int8 (explicit Q/DQ quantization calibrated on ``calibration_data`` or random
images, see :func:`~accelsearch.objectives.latency.onnx_export.qdq_from_onnx`).

Options: ``threads`` (intra-op threads; default ONNX Runtime's), ``opset`` (default 17),
``exporter`` ("torchscript" or "dynamo"), ``graph_optimization`` ("all", "extended",
"basic", "disable"; default "all"), ``calibration_data``, ``calibration_batches``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import nn

from accelsearch.core.errors import BackendUnavailableError, ConfigError, MeasurementError
from accelsearch.objectives.latency.base import (
    InputShape,
    LatencyBackend,
    base_versions,
    device_name,
)
from accelsearch.objectives.latency.onnx_export import (
    MIN_OPSET,
    calibration_batches,
    fp16_from_onnx,
    onnx_from_module,
    qdq_from_onnx,
)
from accelsearch.objectives.latency.protocol import Stats, run_protocol

_OPT_LEVELS = ("all", "extended", "basic", "disable")


class OnnxRuntimeBackend(LatencyBackend):
    """ONNX Runtime with the CPU or CUDA execution provider (see the module docstring)."""

    name = "onnxruntime"
    precisions = {"cpu": ("fp32", "int8"), "cuda": ("fp32", "fp16", "int8")}
    option_names = (
        "threads",
        "opset",
        "exporter",
        "graph_optimization",
        "calibration_data",
        "calibration_batches",
    )

    @classmethod
    def check_available(cls) -> None:
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailableError(
                f"the onnxruntime latency backend needs the `onnx` and `onnxruntime` packages "
                f"({exc}); install them with `pip install onnx onnxruntime` (or "
                "onnxruntime-gpu for CUDA), or use backend='torch'"
            ) from None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        import onnxruntime as ort

        level = self.options.get("graph_optimization", "all")
        if level not in _OPT_LEVELS:
            raise ConfigError(
                f"onnxruntime option graph_optimization={level!r}; valid choices: {_OPT_LEVELS}"
            )
        # errors only: ONNX Runtime 1.31 warns about plugin providers at every CUDA session
        ort.set_default_logger_severity(3)
        if self.device != "cpu" and hasattr(ort, "preload_dlls"):
            # the CUDA provider links CUDA/cuDNN by soname; load them from the nvidia-* wheels
            # PyTorch installed, where the system has none (ONNX Runtime >= 1.21)
            try:
                ort.preload_dlls()
            except Exception:  # noqa: BLE001 - the session below then reports the missing library
                pass
        if self.device != "cpu" and "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendUnavailableError(
                "ONNX Runtime here has no CUDA execution provider (available: "
                f"{ort.get_available_providers()}); install `onnxruntime-gpu` for device "
                f"{self.device!r}, or use device='cpu' or backend='torch'"
            )

    @property
    def device_name(self) -> str:
        if self.device != "cpu":
            return super().device_name
        return device_name("cpu", self.options.get("threads"), runtime="onnxruntime")

    @property
    def provider(self) -> str:
        return "CPUExecutionProvider" if self.device == "cpu" else "CUDAExecutionProvider"

    def timing_options(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "threads": self.options.get("threads"),
            "opset": int(self.options.get("opset", MIN_OPSET)),
            "exporter": self.options.get("exporter", "torchscript"),
            "graph_optimization": self.options.get("graph_optimization", "all"),
        }

    def versions(self) -> dict[str, str]:
        import onnx
        import onnxruntime as ort

        return {**base_versions(), "onnxruntime": ort.__version__, "onnx": onnx.__version__}

    def onnx_for(self, model: nn.Module, input_shape: InputShape):
        """The graph this backend runs for ``model`` (exported, converted, quantized)."""
        opts = self.timing_options()
        proto = onnx_from_module(model, input_shape, opts["opset"], opts["exporter"])
        if self.precision == "fp16":
            proto = fp16_from_onnx(proto)
        elif self.precision == "int8":
            batches = calibration_batches(
                input_shape,
                self.options.get("calibration_data"),
                int(self.options.get("calibration_batches", 4)),
            )
            proto = qdq_from_onnx(proto, batches)
        return proto

    def _measure_impl(
        self, model: nn.Module, input_shape: InputShape
    ) -> tuple[Stats, float, str, dict[str, Any]]:
        import onnxruntime as ort

        t0 = time.perf_counter()
        proto = self.onnx_for(model, input_shape)
        del model
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.graph_optimization_level = {
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        }[self.timing_options()["graph_optimization"]]
        threads = self.options.get("threads")
        if threads:
            so.intra_op_num_threads = int(threads)
        if self.device == "cpu":
            providers: list[Any] = ["CPUExecutionProvider"]
        else:
            index = int(self.device.split(":")[1])
            providers = [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
        try:
            sess = ort.InferenceSession(proto.SerializeToString(), so, providers=providers)
        except Exception as exc:  # ORT raises its own exception types
            raise MeasurementError(
                f"ONNX Runtime could not load the exported graph: {exc}"
            ) from None
        ran = sess.get_providers()
        if ran[0] != self.provider:
            raise MeasurementError(
                f"ONNX Runtime ran the model with {ran[0]} instead of {self.provider} "
                f"(session providers {ran}); check the onnxruntime-gpu install"
            )
        inp = sess.get_inputs()[0]
        np_dtype = np.float16 if self.precision == "fp16" else np.float32
        x = np.random.default_rng(0).standard_normal(input_shape).astype(np_dtype)
        if self.device == "cpu":

            def once() -> float:
                s = time.perf_counter()
                sess.run(None, {inp.name: x})
                return (time.perf_counter() - s) * 1000.0

        else:
            dev = torch.device(self.device)
            xt = torch.from_numpy(x).to(dev)
            binding = sess.io_binding()
            binding.bind_input(inp.name, "cuda", dev.index, np_dtype, list(xt.shape), xt.data_ptr())
            for out in sess.get_outputs():
                binding.bind_output(out.name, "cuda", dev.index)

            def once() -> float:
                s = time.perf_counter()
                sess.run_with_iobinding(binding)
                torch.cuda.synchronize(dev)
                return (time.perf_counter() - s) * 1000.0

        build_s = time.perf_counter() - t0
        stats = run_protocol(once, self.protocol)
        extra = {
            "providers": ran,
            "opset": self.timing_options()["opset"],
            "threads": threads or so.intra_op_num_threads,
        }
        return stats, build_s, ran[0], extra
