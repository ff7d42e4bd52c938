"""Backends behind one interface: torch, onnxruntime, auto (the contract over the registry
is test_backend_contract.py)."""

from __future__ import annotations

import pytest
import torch

from accelsearch.core.errors import AccelSearchError, BackendUnavailableError, ConfigError
from accelsearch.objectives import latency
from accelsearch.objectives.latency import BACKENDS, Protocol

#: a protocol short enough for CPU tests (timings are not asserted, only behaviour)
FAST = Protocol(warmup=1, min_reps=3, max_reps=6, max_seconds=0.5, batch_reps=3)


CPU_KW = dict(device="cpu", protocol=FAST)


def test_torch_backend_leaves_the_callers_module_alone():
    import timm

    model = timm.create_model("resnet10t", num_classes=5).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = latency.measure(model, batch_size=1, resolution=32, backend="torch", threads=1, **CPU_KW)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert next(model.parameters()).dtype == torch.float32
    assert r.model_hash.startswith("module-") and r.extra["threads"] == 1
    assert "torch threads 1" in r.device_name


def test_torch_backend_bf16_on_cpu(tiny_arch):
    r = latency.measure(tiny_arch, backend="torch", precision="bf16", threads=1, **CPU_KW)
    assert r.precision == "bf16" and r.median_ms > 0


def test_onnxruntime_says_which_provider_ran(tiny_arch):
    r = latency.measure(tiny_arch, batch_size=2, backend="onnxruntime", threads=1, **CPU_KW)
    assert r.mode == "CPUExecutionProvider"
    assert r.extra["providers"][0] == "CPUExecutionProvider"
    assert r.extra["opset"] >= 17
    assert "onnxruntime" in r.versions and "onnxruntime threads 1" in r.device_name


def test_onnxruntime_int8_runs_the_quantized_graph(tiny_arch):
    r = latency.measure(tiny_arch, backend="onnxruntime", precision="int8", threads=1, **CPU_KW)
    assert r.precision == "int8" and r.median_ms > 0


def test_auto_picks_torch_on_cpu_and_says_so(tiny_arch):
    assert latency.resolve_backend_name("auto", "cpu") == "torch"
    r = latency.measure(tiny_arch, backend="auto", threads=1, cuda_graphs=True, **CPU_KW)
    assert r.backend == "torch" and r.requested_backend == "auto"
    assert r.precision == "fp32"  # the CPU default


def test_tensorrt_missing_names_tensorrt_and_the_install_command(tiny_arch):
    if BACKENDS.get("tensorrt").is_available():
        pytest.skip("TensorRT is installed here")
    for device in ("cpu", "cuda"):
        with pytest.raises(AccelSearchError) as info:
            latency.measure(tiny_arch, backend="tensorrt", device=device)
        assert isinstance(info.value, BackendUnavailableError)
        assert "TensorRT" in str(info.value)
        assert "pip install accelsearch[tensorrt]" in str(info.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_a_gpu_is_a_clear_error(tiny_arch):
    with pytest.raises(BackendUnavailableError, match="no CUDA GPU"):
        latency.measure(tiny_arch, backend="torch", device="cuda")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"backend": "tensorflow"}, "unknown latency backend 'tensorflow'.*'onnxruntime'"),
        ({"backend": "torch", "precision": "fp8"}, "precision 'fp8' is not supported.*'bf16'"),
        ({"backend": "torch", "precision": "int8"}, "not supported by backend 'torch' on cpu"),
        ({"backend": "onnxruntime", "precision": "fp16"}, "not supported.*onnxruntime"),
        ({"backend": "torch", "warp_speed": True}, "no option.*warp_speed.*cuda_graphs"),
        ({"backend": "torch", "threads": 0}, "threads must be an integer"),
        ({"backend": "torch", "device": "tpu"}, "latency device is 'tpu'"),
        ({"backend": "torch", "batch_size": 0}, "batch_size must be a positive integer"),
        ({"backend": "onnxruntime", "graph_optimization": "max"}, "graph_optimization"),
        ({"backend": "torch", "protocol": {"min_reps": 1}}, "min_reps"),
        ({"backend": "torch", "protocol": {"reps": 1}}, "bad latency protocol field"),
    ],
)
def test_bad_input_gives_a_clear_error(kwargs, match, tiny_arch):
    kw = {"device": "cpu", **kwargs}
    with pytest.raises(ConfigError, match=match):
        latency.measure(tiny_arch, **kw)


def test_a_module_needs_a_resolution():
    with pytest.raises(ConfigError, match="resolution"):
        latency.measure(torch.nn.Conv2d(3, 4, 3), backend="torch", device="cpu")
    with pytest.raises(ConfigError, match="nn.Module or an Arch"):
        latency.measure("resnet50", backend="torch", device="cpu")
