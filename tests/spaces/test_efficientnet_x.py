"""EfficientNet-X: the reference matches the paper, the space round-trips and builds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from accelsearch import Arch, spaces
from accelsearch.accounting import arch_cost
from accelsearch.errors import ArchError, ConfigError
from accelsearch.spaces.efficientnet_x import reference_params

# Published: 7.6 M parameters, 0.91 G multiply-adds at 224 px (Li et al., Table 1).
PUBLISHED_PARAMS_M = 7.6
PUBLISHED_GMACS = 0.91


def test_registered_and_reachable():
    assert "efficientnet_x" in spaces.list()
    space = spaces.get("efficientnet_x")
    assert space.name == "efficientnet_x"
    assert "efficientnet-x-b0" in space.references()


def test_b0_matches_published_size():
    arch = spaces.get("efficientnet_x").reference("efficientnet-x-b0")
    cost = arch_cost(arch, num_classes=1000)
    assert cost.params_m == pytest.approx(PUBLISHED_PARAMS_M, rel=0.05)  # measured 7.58 M
    assert cost.gmacs == pytest.approx(PUBLISHED_GMACS, rel=0.10)  # measured 0.92 G


def test_b0_structure_matches_table_1():
    arch = spaces.get("efficientnet_x").reference("efficientnet-x-b0")
    assert arch.resolution == 224
    assert (arch.stem.type, arch.stem.kernel, arch.stem.stride, arch.stem.width) == (
        "conv",
        3,
        2,
        32,
    )
    s2d, *blocks = arch.stages
    assert (s2d.type, s2d.kernel, s2d.stride, s2d.width) == ("s2d", 2, 2, 128)
    table1 = [  # (type, expansion, output channels, layers, stride)
        ("mbconv", 1, 64, 1, 1),
        ("fused", 6, 24, 2, 1),
        ("fused", 6, 40, 2, 2),
        ("mbconv", 6, 80, 3, 2),
        ("mbconv", 6, 112, 3, 1),
        ("mbconv", 6, 192, 4, 2),
        ("mbconv", 6, 320, 1, 1),
    ]
    assert [(b.type, b.expansion, b.width, b.depth, b.stride) for b in blocks] == table1
    assert all(st.act == "relu" for st in arch.stages)  # GPU model: ReLU everywhere
    assert arch.head.width == 1280


def test_b0_feature_map_sizes_follow_table_1():
    arch = spaces.get("efficientnet_x").reference("efficientnet-x-b0")
    model = spaces.get("efficientnet_x").build(arch).eval()
    sizes = []
    x = model.stem(torch.zeros(1, 3, 224, 224))
    for stage in model.stages:
        sizes.append(x.shape[-1])
        x = stage(x)
    # input resolution of Table 1's stages 2..9
    assert sizes == [112, 56, 56, 56, 28, 14, 14, 7]
    assert x.shape[-1] == 7


def test_encode_decode_round_trip():
    space = spaces.get("efficientnet_x")
    ref = space.reference("efficientnet-x-b0")
    assert space.encode(ref) == reference_params()
    rng = np.random.default_rng(0)
    for _ in range(30):
        params = space.sample(rng)
        assert space.encode(space.decode(params)) == params


def test_samples_build_and_run(tiny_space):
    for seed in range(8):
        arch = tiny_space.sample_arch(seed)
        out = tiny_space.build(arch, num_classes=10)(torch.randn(2, 3, 32, 32))
        assert out.shape == (2, 10)


def test_conversions_cover_every_parameter(tiny_space):
    names = set(tiny_space.params())
    assert set(tiny_space.optuna_space()) == names
    assert set(tiny_space.tune_space()) == names
    assert set(tiny_space.pymoo_vars()) == names
    assert tiny_space.size() > 10**15
    assert tiny_space.log10_size() == pytest.approx(np.log10(float(tiny_space.size())))


def test_bad_parameters_and_options_fail_clearly(tiny_space):
    params = tiny_space.sample(0)
    params["s5_kernel"] = 7
    with pytest.raises(ConfigError, match="parameter 's5_kernel' .* is 7; valid values"):
        tiny_space.decode(params)
    with pytest.raises(ConfigError, match="kernels must be odd"):
        spaces.get("efficientnet_x", kernels=(2, 3))
    foreign = Arch(resolution=32, stages=())
    with pytest.raises(ArchError, match="efficientnet_x archs have 7"):
        tiny_space.encode(foreign)
