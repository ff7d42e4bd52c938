"""Parameters, multiply-adds and per-layer traffic (the inputs of the roofline)."""

from __future__ import annotations

import pytest
import torch

from accelsearch.core.accounting import arch_cost, arch_stats, model_cost, model_stats
from accelsearch.core.builder import build_model


@pytest.fixture(scope="module")
def arch():
    from accelsearch import spaces

    return spaces.get("efficientnet_x").reference("efficientnet-x-b0")


def test_model_cost_matches_the_published_efficientnet_x_b0(arch):
    cost = arch_cost(arch)
    assert cost.params_m == pytest.approx(7.58, abs=0.01)
    assert cost.gmacs == pytest.approx(0.92, abs=0.01)
    assert cost.gflops == pytest.approx(2 * cost.gmacs)


def test_arch_stats_totals_equal_model_cost(arch):
    stats = arch_stats(arch, batch_size=1, precision="fp16")
    cost = arch_cost(arch)
    assert (stats.params, stats.macs) == (cost.params, cost.macs)
    assert stats.flops == 2 * cost.macs  # every counted multiply-add sits in a layer
    assert stats.traffic_bytes == sum(x.traffic_bytes for x in stats.layers)
    assert stats.traffic_bytes == stats.weight_bytes + stats.activation_bytes


def test_bytes_scale_with_batch_and_precision(arch):
    a = arch.replace(resolution=96)
    s1 = arch_stats(a, batch_size=1, precision="fp16")
    s8 = arch_stats(a, batch_size=8, precision="fp16")
    s8_32 = arch_stats(a, batch_size=8, precision="fp32")
    assert s8.weight_bytes == s1.weight_bytes  # weights are read once per batch
    assert s8.activation_bytes == 8 * s1.activation_bytes
    assert s8.flops == 8 * s1.flops
    assert s8_32.traffic_bytes == 2 * s8.traffic_bytes
    assert s8.intensity > s1.intensity  # larger batches reuse the weights
    int8 = arch_stats(a, batch_size=8, precision="int8")
    assert int8.traffic_bytes * 2 == s8.traffic_bytes


def test_layer_kinds_and_blocks(arch):
    stats = arch_stats(arch.replace(resolution=64), precision="fp16")
    kinds = {x.kind for x in stats.layers}
    assert {"conv", "dwconv", "linear", "pool", "se_scale"} <= kinds
    conv = next(x for x in stats.layers if x.name == "stem.0.conv")
    assert conv.group == "stem.0"
    assert conv.weight_bytes == 32 * 3 * 3 * 3 * 2
    assert conv.in_bytes == 3 * 64 * 64 * 2 and conv.out_bytes == 32 * 32 * 32 * 2
    assert conv.intensity == pytest.approx(conv.flops / conv.traffic_bytes)
    groups = stats.groups()
    assert list(groups)[0] == "stem.0" and list(groups)[-1] == "head"
    assert sum(g.macs for g in groups.values()) == sum(x.macs for x in stats.layers)


def test_any_timm_model():
    import timm

    model = timm.create_model("resnet18")
    stats = model_stats(model, 64, batch_size=2, precision="bf16")
    cost = model_cost(model, 64)
    assert stats.macs == cost.macs and stats.params == cost.params
    assert stats.layers[0].group == "conv1"
    assert model.training  # train/eval mode is restored


def test_bad_precision():
    with pytest.raises(ValueError, match="precision"):
        model_stats(build_model(_tiny()), 32, precision="fp64")


def _tiny():
    from accelsearch.core.arch import Arch, Head, Stage

    return Arch(32, (Stage("conv", 8, stride=2),), Stage("conv", 8, stride=2), Head(16))


def test_model_cost_on_an_arch_built_on_the_cpu():
    model = build_model(_tiny(), num_classes=10)
    assert model_cost(model, 32).params == sum(p.numel() for p in model.parameters())
    assert torch.is_grad_enabled()
