"""Scaling rules: rounding, per-stage application, fixed-depth blocks, every space."""

from __future__ import annotations

import math

import pytest
import torch
from lacs_synthetic import small_base

from accelsearch import scaling, spaces
from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import ConfigError
from accelsearch.scaling import compound, round_channels, round_resolution, scale


@pytest.mark.parametrize(
    "channels, expected",
    [(32, 32), (35.2, 32), (36, 40), (17.9, 24), (12, 16), (4, 8), (1280 * 1.1, 1408)],
)
def test_round_channels_nearest_multiple_never_below_90_percent(channels, expected):
    got = round_channels(channels)
    assert got == expected
    assert got % 8 == 0 and got >= 0.9 * channels


def test_round_resolution_to_the_multiple():
    assert round_resolution(224 * 1.15) == 256
    assert round_resolution(257.6, 32) == 256
    assert round_resolution(10, 32) == 32


def test_scale_applies_the_rules_per_stage():
    base = small_base()
    big = scale(base, depth=1.2, width=1.1, resolution=1.15)
    assert big.resolution == 256
    assert big.stem.width == round_channels(32 * 1.1) and big.stem.depth == base.stem.depth
    for old, new in zip(base.stages, big.stages):
        assert new.depth == math.ceil(old.depth * 1.2)
        assert new.width == round_channels(old.width * 1.1)
        assert (new.type, new.kernel, new.stride, new.expansion, new.se, new.act) == (
            old.type,
            old.kernel,
            old.stride,
            old.expansion,
            old.se,
            old.act,
        )
    assert big.head.width == round_channels(640 * 1.1)
    assert scale(base) == base  # multipliers of 1 change nothing


def test_resolution_multiple_comes_from_the_space_or_the_argument():
    base = small_base(resolution=224)

    class GpuNetLike:
        resolution_multiple = 32

    assert scale(base, resolution=1.15).resolution == 256  # 257.6 -> multiple of 8
    assert scale(base, resolution=1.1, space=GpuNetLike()).resolution == 256  # 246.4 -> 32
    assert scale(base, resolution=1.1).resolution == 248
    assert scale(base, resolution=1.1, resolution_multiple=32).resolution == 256


def test_fixed_depth_blocks_and_depth_zero_stages_keep_their_depth():
    b0 = spaces.get("efficientnet_x").reference("efficientnet-x-b0")
    assert b0.stages[0].type == "s2d"
    big = scale(b0, depth=2.0)
    assert big.stages[0].depth == 1
    assert [s.depth for s in big.stages[1:]] == [2 * s.depth for s in b0.stages[1:]]
    empty = Arch(resolution=32, stages=(Stage("conv", width=8, depth=0),), head=Head(0))
    assert scale(empty, depth=3.0).stages[0].depth == 0


def test_no_dimension_shrinks_when_scaling_up_from_off_grid_values():
    # GENet-light's 13-channel stem and a 240 px input with a multiple of 32
    arch = Arch(
        resolution=240,
        stem=Stage("conv", width=13, stride=2),
        stages=(Stage("conv", width=35, depth=1),),
        head=Head(width=0),
    )
    for m in (1.0001, 1.01, 1.05):
        big = scale(arch, depth=m, width=m, resolution=m, resolution_multiple=32)
        assert big.stem.width >= 13 and big.stages[0].width >= 35
        assert big.resolution >= 240
    assert scale(arch, width=1.0001).stages[0].width == 35  # 35.0035 rounds to 32: keep 35
    assert scale(arch, width=1.2).stages[0].width == 40  # 42 -> 40 (>= 90 % of 42)
    assert scale(arch, width=0.5).stages[0].width == 16  # shrinking follows the rule


def test_compound_scaling_is_monotone_in_phi():
    base = spaces.get("efficientnet_x").reference("efficientnet-x-b0")
    for triple in [(1.2, 1.1, 1.15), (1.05, 1.3, 1.0), (1.4, 1.0, 1.1)]:
        prev = base
        for i in range(1, 60):
            arch = compound(base, *triple, i / 15)
            assert arch.resolution >= prev.resolution
            for a, b in zip(arch.stages, prev.stages):
                assert a.width >= b.width and a.depth >= b.depth
            assert arch.head.width >= prev.head.width
            prev = arch


def test_scaling_b0_with_googles_coefficients_gives_the_published_structure():
    """x-b1 ... x-b7 are b0 scaled by Google's (width, depth, resolution); the generic rule
    reproduces every stage except the two space-to-depth ones, where Google rounds the
    nominal filters before multiplying them by 4."""
    space = spaces.get("efficientnet_x")
    b0 = space.reference("efficientnet-x-b0")
    from accelsearch.spaces.efficientnet_x import REFERENCE_COEFFICIENTS

    for name, (w, d, res, _, _) in REFERENCE_COEFFICIENTS.items():
        ref = space.reference(name)
        got = scale(b0, depth=d, width=w, resolution=res / 224, resolution_multiple=4)
        assert got.resolution == ref.resolution
        assert got.stem == ref.stem
        assert got.head.width == ref.head.width
        assert [s.depth for s in got.stages] == [s.depth for s in ref.stages]
        for g, r in list(zip(got.stages, ref.stages))[2:]:
            assert (g.width, g.nominal_in) == (r.width, r.nominal_in), name


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, "2", True])
def test_bad_multipliers_are_config_errors(bad):
    with pytest.raises(ConfigError, match="multiplier"):
        scale(small_base(), width=bad)
    with pytest.raises(ConfigError, match="Arch"):
        scale("not an arch", width=1.1)


def _space_archs(name: str):
    options = {
        "efficientnet_x": {"width_mult": 0.25},
        # CNNs: patch models (ViTs) need resolutions their patch size divides
        "timm_zoo": {"models": ["resnet18", "mobilenetv3_small_050"]},
    }.get(name, {})
    space = spaces.get(name, **options)
    archs = [space.sample_arch(0)]
    for ref in list(space.references())[:1]:
        archs.append(space.reference(ref))
    return space, archs


@pytest.mark.parametrize("name", spaces.list())
def test_every_space_scales_builds_and_runs(name):
    space, archs = _space_archs(name)
    multiple = scaling.space_rounding(space)[1]
    for arch in archs:
        small = arch.replace(resolution=max(multiple, min(arch.resolution, 64)))
        big = compound(small, 1.2, 1.1, 1.15, 1.0, space=space)
        assert big.resolution % multiple == 0 or big.resolution == small.resolution
        assert sum(s.depth for s in big.stages) >= sum(s.depth for s in small.stages)
        model = space.build(big, num_classes=10).eval()
        with torch.no_grad():
            out = model(torch.zeros(1, big.in_chans, big.resolution, big.resolution))
        assert out.shape == (1, 10)
        n_small = sum(p.numel() for p in space.build(small, num_classes=10).parameters())
        assert sum(p.numel() for p in model.parameters()) >= n_small


def test_fixed_width_blocks_keep_their_width():
    from accelsearch.core import builder

    if "testfixedwidth" not in builder.BLOCKS:
        builder.register_block("testfixedwidth", fixed_depth=True, fixed_width=True)(
            builder.BLOCKS.get("conv")
        )
    arch = Arch(
        resolution=64,
        stages=(Stage("testfixedwidth", width=24, depth=1), Stage("conv", width=24, depth=1)),
        head=Head(width=0),
    )
    big = scale(arch, depth=2.0, width=2.0, resolution=2.0)
    assert (big.stages[0].width, big.stages[0].depth) == (24, 1)
    assert (big.stages[1].width, big.stages[1].depth) == (48, 2)
    assert big.resolution == 128
