"""The one builder: every foundation block type builds from timm blocks and runs."""

from __future__ import annotations

import pytest
import torch
from timm.models._efficientnet_blocks import (
    ConvBnAct,
    DepthwiseSeparableConv,
    EdgeResidual,
    InvertedResidual,
)

from accelsearch import Arch, Head, Stage
from accelsearch.core.builder import build_model
from accelsearch.core.errors import ArchError, UnknownNameError


def _arch(*stages, res=32):
    return Arch(
        resolution=res, stem=Stage("conv", width=16, stride=2), stages=stages, head=Head(width=64)
    )


def test_block_types_use_timm_blocks_and_run():
    arch = _arch(
        Stage("s2d", width=64, kernel=2, stride=2),
        Stage("mbconv", width=24, kernel=3, expansion=1.0, se=0.25, nominal_in=16),
        Stage("fused", width=32, depth=2, kernel=3, stride=2, expansion=4, act="swish"),
        Stage("mbconv", width=40, depth=2, kernel=5, stride=2, expansion=6, se=0.25),
    )
    model = build_model(arch, num_classes=7)
    kinds = [type(m) for m in model.stages.modules()]
    for cls in (ConvBnAct, DepthwiseSeparableConv, EdgeResidual, InvertedResidual):
        assert cls in kinds
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)


def test_space_to_depth_is_an_unpadded_n_by_n_stride_n_conv():
    model = build_model(_arch(Stage("s2d", width=64, kernel=2, stride=2)), num_classes=3)
    conv = model.stages[0][0].conv
    assert conv.kernel_size == (2, 2) and conv.stride == (2, 2) and conv.padding == (0, 0)
    feats = model.forward_features(torch.randn(1, 3, 32, 32))
    assert feats.shape[-1] == 8  # 32 -> stem /2 -> s2d /2


def test_expansion_and_se_widths_follow_the_nominal_input():
    arch = _arch(Stage("fused", width=24, kernel=3, expansion=6, se=1.0, nominal_in=8))
    block = build_model(arch).stages[0][0]
    assert block.conv_exp.out_channels == 48  # 8 * 6, not 16 * 6
    assert block.se.conv_reduce.out_channels == 8


def test_swish_activation_is_used():
    arch = _arch(Stage("mbconv", width=16, expansion=4, act="swish"))
    assert any(isinstance(m, torch.nn.SiLU) for m in build_model(arch).stages.modules())


def test_bad_blocks_fail_with_the_stage_named():
    with pytest.raises(
        ArchError, match=r"stages\[0\]: Stage\('s2d'\).kernel must equal its stride"
    ):
        build_model(_arch(Stage("s2d", width=64, kernel=3, stride=2)))
    with pytest.raises(
        UnknownNameError, match=r"stages\[0\]: unknown block type 'wormhole'; valid choices"
    ):
        build_model(_arch(Stage("wormhole", width=8)))
