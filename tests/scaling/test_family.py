"""Family: JSON round trip, comparison rows, ONNX export per member."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lacs_synthetic import small_base, synthetic_ms

from accelsearch.core.builder import build_model
from accelsearch.scaling import EFFICIENTNET_COEFFICIENTS, LACS, Family


def tiny_family() -> Family:
    base = small_base(resolution=32)
    lacs = LACS(
        grid=[(1.4, 1.0, 1.0), EFFICIENTNET_COEFFICIENTS],
        latency=synthetic_ms,
        accuracy=lambda arch: float(sum(s.depth for s in arch.stages)),
        printer=lambda s: None,
    )
    ms = synthetic_ms(base)
    family = lacs.run(base, [ms * 1.6, ms * 2.5], name="tiny")
    lacs.compare(family)
    return family


def test_json_round_trip_is_exact(tmp_path):
    family = tiny_family()
    path = family.save(tmp_path / "family.json")
    again = Family.load(path)
    assert again.to_dict() == family.to_dict()
    assert again.baseline is not None and again.baseline.method == "efficientnet"
    assert again.members[1].arch == family.members[1].arch
    assert again.comparison() == family.comparison()
    d = family.to_dict()
    assert {"intensity", "utilisation", "n_measurements", "solve"} <= set(d["members"][0])


def test_onnx_export_one_file_per_member(tmp_path):
    import onnx
    import onnxruntime as ort

    family = tiny_family()
    family.members = family.members[:2]
    paths = family.export_onnx(tmp_path / "onnx", num_classes=10)
    assert [p.name for p in paths] == ["tiny-0.onnx", "tiny-1.onnx"]
    for p, m in zip(paths, family.members):
        model = onnx.load(str(p))
        onnx.checker.check_model(model)
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert dims == [1, 3, m.arch.resolution, m.arch.resolution]
        x = np.random.default_rng(0).standard_normal(dims).astype(np.float32)
        (out,) = ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(
            None, {"input": x}
        )
        torch.manual_seed(0)
        assert out.shape == (1, 10)
    # the exported graph computes what the module computes (same seed, same weights)
    family.members = family.members[1:]
    torch.manual_seed(1)
    (path,) = family.export_onnx(tmp_path / "one", num_classes=10)
    torch.manual_seed(1)
    arch = family.members[0].arch
    module = build_model(arch, num_classes=10).eval()
    x = torch.randn(1, 3, arch.resolution, arch.resolution)
    with torch.no_grad():
        expected = module(x).numpy()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(
        sess.run(None, {"input": x.numpy()})[0], expected, rtol=1e-3, atol=1e-4
    )


def test_member_for_and_comparison_without_baseline():
    family = tiny_family()
    target = family.members[2].target_ms
    assert family.member_for(target) is family.members[2]
    assert family.member_for(12345.0) is None
    family.baseline = None
    assert family.comparison() == []
    assert family.total_measurements == family.settings["total_measurements"]
    with pytest.raises(KeyError):
        Family.from_dict({"name": "x"})
