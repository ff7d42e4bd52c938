"""timm_zoo: timm model names as choices, built with timm.create_model(pretrained=False)."""

from __future__ import annotations

import dataclasses

import pytest
import timm
import torch

from accelsearch import spaces
from accelsearch.accounting import model_cost
from accelsearch.arch import Arch
from accelsearch.errors import ArchError, ConfigError
from accelsearch.scaling.rules import scale


def test_pattern_filter_and_exclusion():
    zoo = spaces.get("timm_zoo", pattern=["resnet1*", "efficientnet_b0"], exclude=["*d"])
    assert "resnet18" in zoo.models and "efficientnet_b0" in zoo.models
    assert not any(m.endswith("d") for m in zoo.models)
    assert zoo.size() == len(zoo.models)
    assert len(spaces.get("timm_zoo").models) == len(timm.list_models())
    with pytest.raises(ConfigError, match="no timm model matches"):
        spaces.get("timm_zoo", pattern="no_such_net*")
    with pytest.raises(ConfigError, match="does not know"):
        spaces.get("timm_zoo", models=["resnet18", "resnet19x"])


def test_arch_carries_the_name_and_counts_equal_timm():
    zoo = spaces.get("timm_zoo", models=["resnet18", "mobilenetv3_small_050"], resolutions=(64, 96))
    arch = zoo.decode({"model": "resnet18", "resolution": 64})
    assert arch.stages[0].type == "timm" and arch.stages[0].ops == ("resnet18",)
    assert arch.stages[0].width == 512 and arch.stem is None and arch.head.width == 0
    assert Arch.from_string(str(arch)) == arch
    assert zoo.encode(arch) == {"model": "resnet18", "resolution": 64}
    for name in zoo.models:
        a = zoo.decode({"model": name, "resolution": 96})
        ours = model_cost(zoo.build(a, num_classes=10), 96)
        theirs = model_cost(timm.create_model(name, pretrained=False, num_classes=10), 96)
        assert (ours.params, ours.macs) == (theirs.params, theirs.macs)


def test_timm_init_is_kept():
    zoo = spaces.get("timm_zoo", models=["test_resnet"])
    arch = zoo.decode({"model": "test_resnet"})
    torch.manual_seed(0)
    ours = zoo.build(arch).stages[0][0].model.state_dict()
    torch.manual_seed(0)
    theirs = timm.create_model("test_resnet", pretrained=False, num_classes=0).state_dict()
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)  # not re-initialised


def test_default_resolution_and_bad_archs():
    zoo = spaces.get("timm_zoo", pattern="test_*")
    assert zoo.decode({"model": "test_efficientnet"}).resolution == 160  # timm's input_size
    arch = zoo.decode({"model": "test_resnet"})
    assert scale(arch, width=2.0) == arch  # scaling keeps a timm model's width (fixed_width)
    wide = arch.replace(
        stages=(dataclasses.replace(arch.stages[0], width=2 * arch.stages[0].width),)
    )
    with pytest.raises(ArchError, match="width cannot change"):
        zoo.build(wide)
    bigger = scale(arch, resolution=1.2)
    zoo.build(bigger)  # resolution scales fine
    with pytest.raises(ArchError, match="first stage"):
        zoo.check(arch.replace(stem=spaces.get("efficientnet").reference("efficientnet-b0").stem))
