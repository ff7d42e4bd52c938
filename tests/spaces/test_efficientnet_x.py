"""EfficientNet-X: the x-b0 reference and the accelerator extensions (space-to-depth n×n,
space-to-batch stem, activation per block group)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from accelsearch import spaces
from accelsearch.accounting import model_cost
from accelsearch.errors import ConfigError


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
