"""Constraints and chain checks: each failure names the stage and field, the value and a fix."""

from __future__ import annotations

import pytest

from accelsearch import spaces
from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import ArchError
from accelsearch.spaces.constraints import (
    FieldRange,
    FixedStrides,
    MultipleOf,
    ResolutionMultiple,
    check_chain,
    describe_params,
)


def _arch(**kw) -> Arch:
    base = dict(
        resolution=64,
        stem=Stage("conv", width=16, stride=2),
        stages=(
            Stage("mbconv", width=24, depth=2, stride=2, expansion=4.0),
            Stage("fused", width=40, stride=2, expansion=4.0),
        ),
        head=Head(width=128),
    )
    base.update(kw)
    return Arch(**base)


def test_multiple_of():
    MultipleOf("width", 8).check(_arch())
    bad = _arch(stages=(Stage("mbconv", width=20, stride=2), Stage("fused", width=40, stride=2)))
    with pytest.raises(
        ArchError, match=r"stages\[0\] \('mbconv'\) field 'width' is 20: .*use 16 or 24"
    ):
        MultipleOf("width", 8).check(bad)
    with pytest.raises(ArchError, match=r"stem \('conv'\) field 'width' is 12"):
        MultipleOf("width", 8).check(_arch(stem=Stage("conv", width=12, stride=2)))
    MultipleOf("width", 8, include_stem=False).check(_arch(stem=Stage("conv", width=12, stride=2)))
    with pytest.raises(ArchError, match="head field 'width' is 100"):
        MultipleOf("width", 8).check(_arch(head=Head(width=100)))
    # a stage of depth 0 is not built, so it is not checked
    MultipleOf("width", 8).check(
        _arch(stages=(Stage("mbconv", width=20, depth=0), Stage("fused", width=40)))
    )
    with pytest.raises(ArchError, match="not a Stage field"):
        MultipleOf("colour", 8)


def test_field_range_fixed_strides_resolution():
    with pytest.raises(
        ArchError, match=r"stages\[0\] \('mbconv'\) field 'expansion' is 4.0.*\[1, 3\]"
    ):
        FieldRange("expansion", 1, 3).check(_arch())
    FixedStrides([2, 2], stem=2).check(_arch())
    with pytest.raises(ArchError, match=r"stages\[1\] \('fused'\) field 'stride' is 2: .*use 1"):
        FixedStrides([2, 1]).check(_arch())
    with pytest.raises(ArchError, match=r"stem \('conv'\) field 'stride' is 2"):
        FixedStrides([2, 2], stem=4).check(_arch())
    with pytest.raises(ArchError, match="3 stages|fixes 3"):
        FixedStrides([2, 2, 2]).check(_arch())
    with pytest.raises(ArchError, match="'resolution' is 72: .*use e.g. 64"):
        ResolutionMultiple(32).check(_arch(resolution=72))


def test_chain_rules():
    check_chain(_arch())
    s2d = _arch(resolution=60, stages=(Stage("s2d", width=64, kernel=2, stride=2),))
    check_chain(s2d)  # 60 -> 30 -> 15
    odd = _arch(resolution=62, stages=(Stage("s2d", width=64, kernel=2, stride=2),))
    with pytest.raises(ArchError, match=r"stages\[0\] \('s2d'\) field 'stride' is 2.*31×31"):
        check_chain(odd)
    skew = _arch(stages=(Stage("s2d", width=64, kernel=3, stride=2),))
    with pytest.raises(ArchError, match=r"field 'kernel' is 3"):
        check_chain(skew)
    bn = _arch(stages=(Stage("mbconv", width=24, stride=2), Stage("bnact", width=32)))
    with pytest.raises(
        ArchError, match=r"stages\[1\] \('bnact'\) field 'width' is 32.*use width=24"
    ):
        check_chain(bn)
    # a depth-0 stage passes its input through: bnact sees the stage before it
    check_chain(
        _arch(
            stages=(
                Stage("mbconv", width=24),
                Stage("fused", width=99, depth=0),
                Stage("bnact", width=24),
            )
        )
    )


def test_space_check_prefixes_the_space_name_and_build_checks():
    space = spaces.get("gpunet")
    arch = space.sample_arch(0)
    bad = arch.replace(
        stages=(
            arch.stages[0].__class__(**{**arch.stages[0].__dict__, "width": 36}),
            *arch.stages[1:],
        )
    )
    with pytest.raises(
        ArchError, match=r"space 'gpunet': stages\[0\] \('conv'\) field 'width' is 36"
    ):
        space.build(bad)


def test_parameter_errors_name_stage_and_field():
    assert describe_params("s4_filters") == "stage s4, field 'filters'"
    assert describe_params("b3_ratio") == "stage b3, field 'ratio'"
    assert describe_params("stem_width") == "stage stem, field 'width'"
    assert describe_params("resolution") == "field 'resolution'"
    assert describe_params("g2_act") == "block group g2, field 'act'"
    space = spaces.get("gpunet")
    params = space.sample(0)
    params["s4_filters"] = 100
    with pytest.raises(
        Exception,
        match=r"'s4_filters' \(stage s4, field 'filters'\) of space 'gpunet' is 100; valid values: 96, 112",
    ):
        space.decode(params)
