"""EfficientNet-X: the x-b0 reference and the accelerator extensions (space-to-depth n×n,
space-to-batch stem, activation per block group)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from accelsearch import Arch, spaces
from accelsearch.core.accounting import model_cost
from accelsearch.core.errors import ArchError, ConfigError
from accelsearch.spaces.efficientnet_x import reference_params


def test_x_b0_matches_the_paper():
    space = spaces.get("efficientnet_x")
    arch = space.reference("efficientnet-x-b0")
    cost = model_cost(space.build(arch), 224)
    assert cost.params == pytest.approx(7.6e6, rel=0.05)
    assert cost.macs == pytest.approx(0.91e9, rel=0.10)
    assert (cost.params, round(cost.macs / 1e6)) == (7_584_104, 920)
    assert space.decode(space.encode(arch)) == arch


def _forward(space, n=10, res=64):
    rng = np.random.default_rng(5)
    archs = []
    for _ in range(n):
        params = space.sample(rng)
        arch = space.decode(params)
        assert space.encode(arch) == params
        with torch.no_grad():
            assert space.build(arch, num_classes=3).eval()(torch.randn(1, 3, res, res)).shape == (
                1,
                3,
            )
        archs.append(arch)
    return archs


def test_space_to_depth_4x4():
    space = spaces.get(
        "efficientnet_x",
        width_mult=0.25,
        resolutions=(64,),
        space_to_depth=(True,),
        space_to_depth_size=4,
    )
    arch = _forward(space)[0]
    s2d = arch.stages[0]
    assert (s2d.type, s2d.kernel, s2d.stride, s2d.width) == ("s2d", 4, 4, 16 * arch.stem.width)
    # the conv n×n stride n replaces two stride-2 stages: total stride stays 32
    strides = [arch.stem.stride] + [st.stride for st in arch.stages]
    assert np.prod(strides) == 32
    assert arch.stages[2].stride == 1 and arch.stages[3].stride == 1  # stages 4 and 5
    with pytest.raises(ConfigError, match="space_to_depth_size"):
        spaces.get("efficientnet_x", space_to_depth_size=3)
    with pytest.raises(ConfigError, match="not distinguishable"):
        spaces.get("efficientnet_x", space_to_depth_size=4, kernels=(3, 5, 7))


def test_space_to_batch_stem_is_searched_when_asked():
    plain = spaces.get("efficientnet_x")
    assert "space_to_batch" not in plain.params()  # x-b0's parameters are unchanged
    space = spaces.get(
        "efficientnet_x", width_mult=0.25, resolutions=(64,), space_to_batch=(False, True)
    )
    assert space.params()["space_to_batch"].values() == (False, True)
    archs = _forward(space, n=12)
    stems = {a.stem.type for a in archs}
    assert stems == {"conv", "s2bstem"}
    s2b = next(a for a in archs if a.stem.type == "s2bstem")
    model = space.build(s2b)
    assert isinstance(model.stem[0][0], torch.nn.PixelUnshuffle)
    assert model.stem[0][1].conv.in_channels == 12  # 3 channels × 2×2 blocks


def test_activation_per_block_group():
    groups = [[3, 4, 5], [6, 7, 8, 9]]
    space = spaces.get("efficientnet_x", width_mult=0.25, resolutions=(32,), act_groups=groups)
    p = space.params()
    assert "s3_act" not in p and set(p["g1_act"].values()) == {"relu", "swish"}
    params = space.sample(1)
    params.update(g1_act="swish", g2_act="relu")
    arch = space.decode(params)
    acts = [st.act for st in arch.stages if st.type != "s2d"]
    assert acts == ["swish"] * 3 + ["relu"] * 4
    assert space.encode(arch) == params
    with pytest.raises(ConfigError, match="act_groups"):
        spaces.get("efficientnet_x", act_groups=[[3, 4], [6, 7, 8, 9]])


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
