"""The TensorRT backend up to the engine: build settings, cache keys, the ONNX it parses.

TensorRT itself cannot be installed on these machines; what runs without it is tested here,
and the engine build and ``execute_async_v3`` timing are exercised where TensorRT exists.
"""

from __future__ import annotations

import onnx
import pytest
import torch

from accelsearch.core.builder import build_model
from accelsearch.core.errors import BackendUnavailableError, ConfigError
from accelsearch.objectives.latency.onnx_export import onnx_input_shapes, onnx_opset
from accelsearch.objectives.latency.tensorrt_backend import (
    INSTALL_HINT,
    EngineCache,
    TensorRTBackend,
    build_settings,
    engine_cache_fields,
    engine_cache_key,
    onnx_for_settings,
    timing_cache_path,
)

TRT10_FLAGS = {"FP16", "BF16", "INT8", "TF32", "FP8", "REFIT"}
TRT11_FLAGS = {"TF32", "REFIT"}  # strongly typed only: no precision flags


@pytest.mark.parametrize(
    "precision, flags, onnx_kind",
    [
        ("fp32", (), "fp32"),
        ("fp16", ("FP16",), "fp32"),
        ("bf16", ("BF16",), "fp32"),
        ("int8", ("INT8", "FP16"), "int8-qdq"),
    ],
)
def test_weak_typing_sets_the_precision_flags(precision, flags, onnx_kind):
    s = build_settings(precision, "auto", "qdq", TRT10_FLAGS)
    assert s.flags == flags and not s.strongly_typed and s.onnx_precision == onnx_kind
    assert s.mode.startswith("engine:weak")


def test_int8_with_tensorrts_calibrator():
    s = build_settings("int8", "weak", "calibrate", TRT10_FLAGS)
    assert s.calibrate and s.onnx_precision == "fp32" and "INT8" in s.flags


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_strong_typing_puts_the_precision_in_the_graph(precision):
    for flags, typing in ((TRT11_FLAGS, "auto"), (TRT10_FLAGS, "strong")):
        s = build_settings(precision, typing, "qdq", flags)
        assert s.strongly_typed and s.flags == ()
        assert s.onnx_precision == ("int8-qdq" if precision == "int8" else precision)


@pytest.mark.parametrize(
    "args, match",
    [
        (("fp8", "auto", "qdq", TRT10_FLAGS), "precision 'fp8'"),
        (("fp16", "loose", "qdq", TRT10_FLAGS), "typing='loose'"),
        (("int8", "auto", "ptq", TRT10_FLAGS), "int8_mode='ptq'"),
        (("fp16", "weak", "qdq", TRT11_FLAGS), "always strongly"),
        (("int8", "strong", "calibrate", TRT10_FLAGS), "weakly typed"),
        (("bf16", "strong", "qdq", TRT10_FLAGS), "opset 17"),
        (("bf16", "auto", "qdq", TRT11_FLAGS), "opset 17"),
    ],
)
def test_bad_settings(args, match):
    with pytest.raises(ConfigError, match=match):
        build_settings(*args)


def test_engine_cache_key_covers_structure_batch_precision_version_and_gpu():
    s16 = build_settings("fp16", builder_flags=TRT10_FLAGS)
    base = dict(
        model_hash="arch-abc-c1000",
        input_shape=(1, 3, 224, 224),
        settings=s16,
        trt_version="10.3.0",
        gpu_name="NVIDIA H100 80GB HBM3",
        options={"opset": 17},
    )
    key = engine_cache_key(engine_cache_fields(**base))
    assert key == engine_cache_key(engine_cache_fields(**base))
    changes = [
        {"model_hash": "arch-def-c1000"},
        {"input_shape": (128, 3, 224, 224)},
        {"settings": build_settings("bf16", builder_flags=TRT10_FLAGS)},
        {"trt_version": "10.4.0"},
        {"gpu_name": "NVIDIA H200"},
        {"options": {"opset": 18}},
    ]
    keys = {engine_cache_key(engine_cache_fields(**{**base, **c})) for c in changes}
    assert len(keys) == len(changes) and key not in keys


def test_timing_cache_is_per_version_and_gpu(tmp_path):
    a = timing_cache_path(tmp_path, "10.3.0", "NVIDIA H100 80GB HBM3")
    b = timing_cache_path(tmp_path, "10.3.0", "NVIDIA H200")
    assert a != b and a.parent == tmp_path and " " not in a.name
    assert "10.3.0" in a.name and "H100" in a.name


def test_engine_cache_round_trip(tmp_path):
    cache = EngineCache(tmp_path / "engines")
    assert cache.get("k") is None
    cache.put("k", b"\x00engine", {"precision": "fp16"})
    assert cache.get("k") == b"\x00engine"
    assert (tmp_path / "engines" / "k.json").exists()


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_the_onnx_tensorrt_parses(precision, tiny_arch):
    model = build_model(tiny_arch).eval()
    shape = (4, 3, tiny_arch.resolution, tiny_arch.resolution)
    settings = build_settings(precision, "strong", "qdq", TRT10_FLAGS)
    proto = onnx_for_settings(model, shape, settings)
    onnx.checker.check_model(proto, full_check=True)
    assert onnx_opset(proto) >= 17
    assert list(onnx_input_shapes(proto).values()) == [shape]
    elem = proto.graph.input[0].type.tensor_type.elem_type
    assert elem == (onnx.TensorProto.FLOAT16 if precision == "fp16" else onnx.TensorProto.FLOAT)
    ops = {n.op_type for n in proto.graph.node}
    assert ("QuantizeLinear" in ops) == (precision == "int8")
    # the caller's model is not changed by the export
    assert next(model.parameters()).dtype == torch.float32


def test_missing_tensorrt_is_a_clear_error():
    if TensorRTBackend.is_available():
        pytest.skip("TensorRT is installed here")
    with pytest.raises(BackendUnavailableError) as info:
        TensorRTBackend(device="cuda", precision="fp16")
    assert str(info.value) == INSTALL_HINT
    assert "TensorRT" in INSTALL_HINT and "pip install accelsearch[tensorrt]" in INSTALL_HINT
