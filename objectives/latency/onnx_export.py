"""Module -> ONNX for the ONNX Runtime and TensorRT backends (Polygraphy's naming).

:func:`onnx_from_module` exports a module with a *static* input shape (batch included: the
engines are built for one batch size, as GPUNet measured them) at opset >= 17, checks the
graph with ``onnx.checker`` (full check, with shape inference) and returns the
``ModelProto``. The export runs in fp32 on the CPU; a reduced-precision graph comes from
:func:`fp16_from_onnx` (ONNX Runtime's converter) or, for int8, :func:`qdq_from_onnx`
(ONNX Runtime's static quantizer writing explicit QuantizeLinear/DequantizeLinear pairs,
symmetric as TensorRT wants them). A model that cannot be exported raises
:class:`~accelsearch.errors.MeasurementError` naming the cause and the way out
(``backend='torch'``).

The default exporter is PyTorch's TorchScript-based one (``exporter="torchscript"``): it
writes opset 17 directly and takes a fraction of a second per CNN; ``exporter="dynamo"``
uses ``torch.export`` (needs ``onnxscript``; it writes opset 18).
"""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from accelsearch.core.errors import ConfigError, MeasurementError

MIN_OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "output"
EXPORTERS = ("torchscript", "dynamo")


def onnx_from_module(
    model: nn.Module,
    input_shape: tuple[int, ...],
    opset: int = MIN_OPSET,
    exporter: str = "torchscript",
    dtype: torch.dtype = torch.float32,
):
    """Export ``model`` for inputs of exactly ``input_shape``; returns an ``onnx.ModelProto``.

    The module is put in eval mode and moved to the CPU in ``dtype`` (pass a private copy).
    """
    import onnx

    if opset < MIN_OPSET:
        raise ConfigError(f"ONNX opset {opset} is too old; use opset >= {MIN_OPSET}")
    if exporter not in EXPORTERS:
        raise ConfigError(f"unknown ONNX exporter {exporter!r}; valid choices: {EXPORTERS}")
    model = model.eval().to(device="cpu", dtype=dtype)
    x = torch.randn(*input_shape, dtype=dtype)
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            if exporter == "torchscript":
                torch.onnx.export(
                    model,
                    (x,),
                    buf,
                    opset_version=opset,
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    do_constant_folding=True,
                    dynamo=False,
                )
                proto = onnx.load_from_string(buf.getvalue())
            else:
                program = torch.onnx.export(
                    model,
                    (x,),
                    None,
                    opset_version=max(opset, 18),
                    input_names=[INPUT_NAME],
                    output_names=[OUTPUT_NAME],
                    dynamo=True,
                    verbose=False,
                )
                proto = program.model_proto
    except Exception as exc:  # exporters raise many types; all mean "cannot export"
        raise MeasurementError(
            f"{type(model).__name__} could not be exported to ONNX (opset {opset}, "
            f"{exporter} exporter): {type(exc).__name__}: {str(exc).strip()[:400]}; measure it "
            "with backend='torch' instead, or try exporter='dynamo'"
        ) from None
    proto = _static_outputs(proto)
    check_onnx(proto, input_shape)
    return proto


def _static_outputs(proto):
    """Re-infer output shapes from the static input where the exporter left a symbolic
    dimension (it does for some graphs, e.g. a Gemm after a 1×1 pool)."""
    import onnx

    symbolic = any(
        not d.HasField("dim_value")
        for o in proto.graph.output
        for d in o.type.tensor_type.shape.dim
    )
    if not symbolic:
        return proto
    for o in proto.graph.output:
        o.type.tensor_type.ClearField("shape")
    del proto.graph.value_info[:]
    try:
        return onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError):
        return proto


def check_onnx(proto, input_shape: tuple[int, ...] | None = None, min_opset: int = MIN_OPSET):
    """Raise :class:`MeasurementError` unless ``proto`` passes ``onnx.checker`` (full check),
    has opset >= ``min_opset`` and one input of the static ``input_shape``."""
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise MeasurementError(f"exported ONNX graph is invalid: {exc}") from None
    opset = onnx_opset(proto)
    if opset < min_opset:
        raise MeasurementError(f"exported ONNX graph has opset {opset}; need >= {min_opset}")
    shapes = onnx_input_shapes(proto)
    if len(shapes) != 1:
        raise MeasurementError(f"exported ONNX graph has {len(shapes)} inputs; expected 1")
    shape = next(iter(shapes.values()))
    if any(d is None for d in shape):
        raise MeasurementError(f"exported ONNX input shape {shape} is not static")
    if input_shape is not None and tuple(shape) != tuple(input_shape):
        raise MeasurementError(f"exported ONNX input shape {shape} != requested {input_shape}")
    return proto


def onnx_opset(proto) -> int:
    return max((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=0)


def onnx_input_shapes(proto) -> dict[str, tuple[int | None, ...]]:
    """Graph inputs (initializers excluded) and their dims (``None`` where symbolic)."""
    inits = {i.name for i in proto.graph.initializer}
    out = {}
    for inp in proto.graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        out[inp.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    return out


def fp16_from_onnx(proto):
    """The graph with float16 weights, activations and I/O (ONNX Runtime's converter)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    return convert_float_to_float16(proto, keep_io_types=False, disable_shape_infer=False)


def calibration_batches(
    input_shape: tuple[int, ...], data: Any = None, batches: int = 4, seed: int = 0
) -> list[np.ndarray]:
    """fp32 batches of ``input_shape`` for int8 calibration: slices of ``data`` (an array
    or tensor of N×C×H×W images, resized when needed) or, without data, random normal
    images (latency does not depend on the values; accuracy would)."""
    b, c, h, w = input_shape
    if data is None:
        rng = np.random.default_rng(seed)
        return [rng.standard_normal(input_shape).astype(np.float32) for _ in range(batches)]
    t = torch.as_tensor(np.asarray(data) if not isinstance(data, torch.Tensor) else data)
    if t.ndim != 4 or t.shape[1] != c:
        raise ConfigError(
            f"int8 calibration_data must be N×{c}×H×W images, got shape {tuple(t.shape)}"
        )
    t = t.float()
    if tuple(t.shape[2:]) != (h, w):
        t = torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
    reps = int(np.ceil(b * batches / t.shape[0]))
    t = t.repeat(max(1, reps), 1, 1, 1)[: b * batches]
    return [t[i * b : (i + 1) * b].numpy() for i in range(len(t) // b)]


def qdq_from_onnx(proto, batches: list[np.ndarray], per_channel: bool = True):
    """Explicitly quantized (Q/DQ, symmetric int8) graph calibrated on ``batches``.

    TensorRT builds such a graph with int8 kernels where the Q/DQ pairs say so (explicit
    quantization); ONNX Runtime's CPU provider runs it too.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    name = proto.graph.input[0].name

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{name: b} for b in batches])

        def get_next(self):
            return next(self._it, None)

    with tempfile.TemporaryDirectory(prefix="accelsearch-qdq-") as tmp:
        src, pre, dst = Path(tmp, "fp32.onnx"), Path(tmp, "pre.onnx"), Path(tmp, "int8.onnx")
        onnx.save(proto, src)
        try:
            from onnxruntime.quantization.shape_inference import quant_pre_process

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            src = pre
        except Exception:  # pre-processing only improves the result; go on without it
            pass
        import logging

        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # the quantizer warns per bias it cannot fold
        try:
            quantize_static(
                str(src),
                str(dst),
                _Reader(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
            )
        except Exception as exc:
            raise MeasurementError(
                f"int8 quantization (ONNX Runtime quantize_static) failed: {exc}"
            ) from None
        finally:
            root.setLevel(level)
        return onnx.load(dst)


def run_onnxruntime(proto, x: np.ndarray) -> np.ndarray:
    """Output of ``proto`` on ``x`` with ONNX Runtime's CPU provider (for checks)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return sess.run(None, {name: x})[0]
