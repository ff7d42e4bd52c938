"""TensorRT build settings: the install check, builder flags and ONNX graph per precision.

Part of the TensorRT backend (:mod:`~accelsearch.objectives.latency.tensorrt_backend`, whose
docstring describes the whole path); nothing here imports TensorRT at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from accelsearch.core.errors import BackendUnavailableError, ConfigError
from accelsearch.objectives.latency.base import InputShape
from accelsearch.objectives.latency.onnx_export import (
    MIN_OPSET,
    calibration_batches,
    fp16_from_onnx,
    onnx_from_module,
    qdq_from_onnx,
)

INSTALL_HINT = (
    "TensorRT is not installed here (the Python package `tensorrt` cannot be imported); "
    "install it with `pip install accelsearch[tensorrt]` (NVIDIA's wheels, for Linux or "
    "Windows with an NVIDIA GPU), or measure with backend='torch' (CUDA graphs) or "
    "backend='auto', which picks the best backend available"
)
TYPINGS = ("auto", "weak", "strong")
INT8_MODES = ("qdq", "calibrate")


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
