"""timm_zoo: timm model names as choices, built with timm.create_model(pretrained=False)."""

from __future__ import annotations

import dataclasses

import pytest
import timm
import torch

from accelsearch import spaces
from accelsearch.core.accounting import model_cost
from accelsearch.core.arch import Arch
from accelsearch.core.errors import ArchError, ConfigError
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


class _UniqueInitNet(torch.nn.Module):
    """Stage widths from ``torch.unique`` and ``.item()`` in ``__init__``, as timm
    1.0.16-1.0.24's RegNet computed them: such a model cannot be made on the meta device."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, **kwargs) -> None:
        super().__init__()
        widths = torch.unique(torch.tensor([8.0, 8.0, 16.0, 24.0]))
        self.num_features = int(widths.max().item())
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(in_chans, self.num_features, 3, stride=2),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
        )
        self.fc = torch.nn.Linear(self.num_features, num_classes) if num_classes else None

    def forward(self, x):
        y = self.body(x)
        return self.fc(y) if self.fc is not None else y


if not timm.is_model("accelsearch_unique_init_net"):

    @timm.models.register_model
    def accelsearch_unique_init_net(pretrained: bool = False, **kwargs) -> _UniqueInitNet:
        return _UniqueInitNet(**kwargs)


def test_a_model_that_cannot_be_made_on_the_meta_device_still_has_a_width():
    from accelsearch.spaces.timm_zoo import feature_width, timm_arch

    with pytest.raises((NotImplementedError, RuntimeError)), torch.device("meta"):
        timm.create_model("accelsearch_unique_init_net", num_classes=0)  # what the probe meets
    arch = timm_arch("accelsearch_unique_init_net", resolution=32)
    assert arch.stages[0].width == feature_width("accelsearch_unique_init_net") == 24
    zoo = spaces.get("timm_zoo", models=["accelsearch_unique_init_net"])
    assert zoo.build(arch, num_classes=10)(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_every_model_of_the_survey_cnn_list_has_an_arch():
    """``accelsearch survey --models cnn``: all 42 get an arch (a width probe each, ~5 s);
    a few of them, RegNetY-1.6GF among them, are also built and run (a full build of the
    list takes ~10 s more on 2 cores, and building is what other tests cover)."""
    from accelsearch.commands.survey import CNN_SET
    from accelsearch.spaces.timm_zoo import timm_arch

    zoo = spaces.get("timm_zoo", models=list(CNN_SET), resolutions=(64,))
    archs = {name: zoo.decode({"model": name, "resolution": 64}) for name in CNN_SET}
    assert all(a.stages[0].width > 0 for a in archs.values())
    assert timm_arch("regnety_016").stages[0].width == 888
    for name in ("regnety_016", "mobilenetv3_large_100", "dla34"):
        model = zoo.build(archs[name], num_classes=10).eval()
        with torch.no_grad():
            assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 10)
