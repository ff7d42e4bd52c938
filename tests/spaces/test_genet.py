"""GENet: XX/BL/DW super-blocks on timm byobnet blocks, Table 2 references, LLR parameters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import timm
import torch

from accelsearch import spaces
from accelsearch.core.accounting import model_cost
from accelsearch.core.errors import ArchError, ConfigError
from accelsearch.spaces import genet


@pytest.mark.parametrize(
    "name, params_m, gmacs",
    [("genet-light", 8.17, 0.552), ("genet-normal", 21.0, 2.2), ("genet-large", 31.0, 4.6)],
)
def test_references_match_published_sizes_and_timm(name, params_m, gmacs):
    space = spaces.get("genet")
    arch = space.reference(name)
    cost = model_cost(space.build(arch), arch.resolution)
    assert cost.params / 1e6 == pytest.approx(params_m, rel=0.03)
    assert cost.macs / 1e9 == pytest.approx(gmacs, rel=0.10)
    # timm's gernet_s/m/l implement the same networks: identical counts
    ref = model_cost(
        timm.create_model(genet.TIMM_EQUIVALENTS[name], pretrained=False), arch.resolution
    )
    assert (cost.params, cost.macs) == (ref.params, ref.macs)


def test_measured_reference_figures():
    space = spaces.get("genet")
    got = {}
    for name in ("genet-light", "genet-normal", "genet-large"):
        arch = space.reference(name)
        c = model_cost(space.build(arch), arch.resolution)
        got[name] = (c.params, round(c.macs / 1e6))
    assert got == {
        "genet-light": (8_173_761, 547),
        "genet-normal": (21_142_920, 2208),
        "genet-large": (31_078_280, 4557),
    }


def test_blocks_are_timm_byobnet_blocks():
    from timm.models.byobnet import BasicBlock, BottleneckBlock

    model = spaces.get("genet").build(spaces.get("genet").reference("genet-light"))
    kinds = [type(stage[0]).__name__ for stage in model.stages]
    assert kinds == [
        "BasicBlock",
        "BasicBlock",
        "BottleneckBlock",
        "BottleneckBlock",
        "BottleneckBlock",
    ]
    dw = model.stages[3][0]
    assert (
        isinstance(dw, BottleneckBlock)
        and dw.conv2_kxk.conv.groups == dw.conv2_kxk.conv.in_channels
    )
    assert dw.conv1_1x1.conv.out_channels == 3 * 560  # DW ratio 3, relative to the output width
    assert isinstance(model.stages[0][0], BasicBlock)


def test_space_ranges_follow_llr_nas():
    space = spaces.get("genet")  # centred on GENet-normal
    p = space.params()
    assert p["resolution"].values() == (192, 224, 256)
    assert p["b3_depth"].values() == (4, 5, 6, 7, 8)  # d = 6, d +- 2
    assert p["b3_width"].values()[0] == 320 and p["b3_width"].values()[-1] == 1280  # [c/2, 2c]
    assert p["b3_ratio"].values() == (0.25, 0.5) and p["b4_ratio"].values() == (3.0, 6.0, 9.0)
    assert "b1_ratio" not in p  # XX blocks have no ratio
    assert space.stage_params()[4] == {
        "depth": "b4_depth",
        "width": "b4_width",
        "kernel": "b4_kernel",
        "ratio": "b4_ratio",
    }
    assert set(space.stage_params()[1]) == {"depth", "width", "kernel"}
    # the base structure is a point of the space it centres
    for base in ("light", "normal", "large"):
        s = spaces.get("genet", base=base)
        ref = s.reference(f"genet-{base}")
        assert s.decode(s.encode(ref)) == ref


def test_round_trip_and_forward_of_50_samples():
    space = spaces.get("genet", base="light", width_mult=0.25, resolutions=(64,))
    rng = np.random.default_rng(0)
    x = torch.randn(1, 3, 64, 64)
    for _ in range(50):
        params = space.sample(rng)
        arch = space.decode(params)
        assert space.encode(arch) == params
        with torch.no_grad():
            assert space.build(arch, num_classes=10).eval()(x).shape == (1, 10)
    full = spaces.get("genet")
    for _ in range(50):
        params = full.sample(rng)
        assert full.encode(full.decode(params)) == params


def test_bad_input():
    space = spaces.get("genet")
    params = space.sample(0)
    params["b4_ratio"] = 0.25
    with pytest.raises(ConfigError, match="b4_ratio"):
        space.decode(params)
    with pytest.raises(ArchError, match="super-block types"):
        space.encode(spaces.get("gpunet").sample_arch(0))
    with pytest.raises(ConfigError, match="base"):
        spaces.get("genet", base="huge")
    with pytest.raises(ConfigError, match="types"):
        spaces.get("genet", types=("xx", "xx", "bl"))
    bad = space.reference("genet-normal")
    bad = bad.replace(stages=(dataclasses.replace(bad.stages[0], expansion=0.5), *bad.stages[1:]))
    with pytest.raises(ArchError, match=r"stages\[0\].*xx.*expansion"):
        space.build(bad)
