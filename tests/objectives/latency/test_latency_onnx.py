"""The ONNX graphs the ONNX Runtime and TensorRT backends consume."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from accelsearch.core.builder import build_model
from accelsearch.core.errors import ConfigError, MeasurementError
from accelsearch.objectives.latency.onnx_export import (
    calibration_batches,
    check_onnx,
    fp16_from_onnx,
    onnx_from_module,
    onnx_input_shapes,
    onnx_opset,
    qdq_from_onnx,
    run_onnxruntime,
)


def _rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def model_and_input(tiny_arch):
    model = build_model(tiny_arch, num_classes=10).eval()
    x = torch.randn(2, 3, tiny_arch.resolution, tiny_arch.resolution)
    return model, x


def test_export_is_static_checked_and_matches_pytorch(model_and_input):
    model, x = model_and_input
    proto = onnx_from_module(model, tuple(x.shape))
    onnx.checker.check_model(proto, full_check=True)
    assert onnx_opset(proto) >= 17
    assert onnx_input_shapes(proto) == {"input": tuple(x.shape)}  # batch included
    out_dims = [d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim]
    assert out_dims == [2, 10]
    with torch.no_grad():
        ref = model(x).numpy()
    got = run_onnxruntime(proto, x.numpy())
    assert _rel_err(got, ref) < 1e-4


def test_timm_model_export_matches_pytorch():
    import timm

    model = timm.create_model("resnet10t", num_classes=7).eval()
    x = torch.randn(1, 3, 48, 48)
    proto = onnx_from_module(model, tuple(x.shape))
    with torch.no_grad():
        ref = model(x).numpy()
    assert _rel_err(run_onnxruntime(proto, x.numpy()), ref) < 1e-4


def test_fp16_graph_has_half_io_and_stays_close(model_and_input):
    model, x = model_and_input
    proto = fp16_from_onnx(onnx_from_module(model, tuple(x.shape)))
    check_onnx(proto, tuple(x.shape))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    with torch.no_grad():
        ref = model(x).numpy()
    got = run_onnxruntime(proto, x.numpy().astype(np.float16)).astype(np.float32)
    assert _rel_err(got, ref) < 1e-2


def test_qdq_graph_is_explicitly_quantized_and_close(model_and_input):
    model, x = model_and_input
    shape = tuple(x.shape)
    proto = qdq_from_onnx(onnx_from_module(model, shape), calibration_batches(shape, x.numpy()))
    ops = {n.op_type for n in proto.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    scales = [
        onnx.numpy_helper.to_array(i)
        for i in proto.graph.initializer
        if i.name.endswith("_zero_point")
    ]
    assert scales and all(np.all(z == 0) for z in scales)  # symmetric, as TensorRT wants
    with torch.no_grad():
        ref = model(x).numpy()
    got = run_onnxruntime(proto, x.numpy())
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.9


def test_calibration_batches_from_data_and_random():
    rnd = calibration_batches((2, 3, 8, 8), None, batches=3)
    assert len(rnd) == 3 and all(b.shape == (2, 3, 8, 8) and b.dtype == np.float32 for b in rnd)
    data = np.random.rand(5, 3, 16, 16).astype(np.float32)
    got = calibration_batches((2, 3, 8, 8), data, batches=4)
    assert len(got) == 4 and got[0].shape == (2, 3, 8, 8)
    with pytest.raises(ConfigError, match="N×3×H×W"):
        calibration_batches((2, 3, 8, 8), np.zeros((4, 1, 8, 8)))


class _NotExportable(torch.nn.Module):
    def forward(self, x):
        return torch.linalg.eigvals(x[:, 0])  # complex output: no ONNX for it


def test_a_model_that_cannot_be_exported_gives_a_clear_error():
    with pytest.raises(MeasurementError, match="could not be exported to ONNX.*backend='torch'"):
        onnx_from_module(_NotExportable(), (1, 3, 8, 8))


def test_old_opset_and_unknown_exporter_are_rejected(model_and_input):
    model, x = model_and_input
    with pytest.raises(ConfigError, match="opset >= 17"):
        onnx_from_module(model, tuple(x.shape), opset=13)
    with pytest.raises(ConfigError, match="exporter"):
        onnx_from_module(model, tuple(x.shape), exporter="magic")
