"""EfficientNet / MnasNet-style baseline space and EfficientNet-B0."""

from __future__ import annotations

import pytest
import timm

from accelsearch import spaces
from accelsearch.core.accounting import model_cost
from accelsearch.core.errors import ArchError
from accelsearch.spaces.efficientnet import PUBLISHED


def test_efficientnet_b0_matches_published_and_timm():
    space = spaces.get("efficientnet")
    arch = space.reference("efficientnet-b0")
    cost = model_cost(space.build(arch), 224)
    params, macs = PUBLISHED["efficientnet-b0"]
    assert cost.params == pytest.approx(params, rel=0.03)
    assert cost.macs == pytest.approx(macs, rel=0.10)
    assert (cost.params, round(cost.macs / 1e6)) == (5_288_548, 386)
    ref = model_cost(timm.create_model("efficientnet_b0", pretrained=False), 224)
    assert (cost.params, cost.macs) == (ref.params, ref.macs)


def test_b0_is_a_point_of_the_space_and_the_space_is_mnasnet_like():
    space = spaces.get("efficientnet")
    b0 = space.reference("efficientnet-b0")
    params = space.encode(b0)
    assert space.decode(params) == b0
    p = space.params()
    assert p["s4_width"].values() == (64, 80, 104)  # 80 × {0.75, 1, 1.25}, nearest multiple of 8
    assert p["s6_depth"].values() == (3, 4, 5)
    assert p["s1_expansion"].values() == (1.0, 3.0, 6.0)
    assert p["s2_se"].values() == (0.0, 0.25)
    assert all(st.act == "swish" for st in b0.stages)


def test_foreign_arch_is_refused_naming_the_field():
    space = spaces.get("efficientnet")
    b0 = space.reference("efficientnet-b0")
    relu = b0.replace(
        stages=tuple(st.__class__(**{**st.__dict__, "act": "relu"}) for st in b0.stages)
    )
    with pytest.raises(
        ArchError, match=r"stages\[0\] field 'act' is 'relu', the space fixes 'swish'"
    ):
        space.encode(relu)
