"""The ``baselines`` recipe section: names checked against timm (close matches), lines
grouped by name, the section needing a family, and the checks made before anything is
measured (a model that cannot follow the proxy's resolution or its stride cap)."""

from __future__ import annotations

import pytest

from accelsearch.baselines_preflight import plan_baselines, published_top1
from accelsearch.baselines_spec import BaselinesSpec, group_lines, line_of
from accelsearch.core.errors import ConfigError
from accelsearch.recipe import recipe_from_dict


def raw_recipe(**baselines) -> dict:
    """A tiny recipe (digits, CPU) with a family and the given baselines section."""
    return {
        "name": "bl",
        "num_classes": 10,
        "space": {"name": "efficientnet_x", "options": {"width_mult": 0.25, "resolutions": [32]}},
        "latency": {"backend": "torch", "device": "cpu", "batch_size": 2},
        "accuracy": {"evaluator": "train", "options": {"dataset": "digits", "epochs": 1}},
        "reward": {"target_ms": 2.0},
        "scaling": {"grid": [[1.0, 1.2, 1.2]], "targets": [1.5]},
        "baselines": baselines,
    }


def test_lines_group_models_by_name():
    names = [
        "efficientnet_b0", "efficientnet_b1", "efficientnet_b2", "efficientnet_b3",
        "resnet18", "resnet34", "resnet50", "gernet_s", "gernet_m", "gernet_l",
    ]  # fmt: skip
    lines = group_lines(names)
    assert lines == {
        "efficientnet_b{0,1,2,3}": names[:4],
        "resnet{18,34,50}": names[4:7],
        "gernet_{s,m,l}": names[7:],
    }
    assert line_of("efficientnet_lite0") != line_of("efficientnet_b0")
    assert line_of("regnety_016") == line_of("regnety_032")
    assert line_of("resnet50.a1_in1k") == line_of("resnet18")
    assert group_lines(["mobilenetv3_small_050"]) == {
        "mobilenetv3_small_050": ["mobilenetv3_small_050"]
    }


def test_a_mapping_groups_by_hand():
    spec = BaselinesSpec(models={"small nets": ["resnet18", "mobilenetv3_small_050"]})
    assert spec.lines() == {"small nets": ["resnet18", "mobilenetv3_small_050"]}
    assert spec.names == ["resnet18", "mobilenetv3_small_050"] and spec.enabled
    assert not BaselinesSpec().enabled


def test_unknown_name_lists_close_matches_from_timm():
    with pytest.raises(ConfigError) as info:
        recipe_from_dict(raw_recipe(models=["resnet18", "efficientnet_b9", "gernet_xx"]))
    text = str(info.value)
    assert "baselines.models" in text
    assert "'efficientnet_b9'" in text and "close matches: efficientnet_b8" in text
    assert "'gernet_xx'" in text and "gernet_s" in text
    assert "'resnet18'" not in text.split("got")[0]  # the good name is not blamed


def test_repeated_name_and_unknown_field_are_named():
    with pytest.raises(ConfigError, match="listed more than once"):
        recipe_from_dict(raw_recipe(models=["resnet18", "resnet18"]))
    with pytest.raises(ConfigError, match=r"baselines\.model: unknown field.*models"):
        recipe_from_dict(raw_recipe(model=["resnet18"]))


def test_baselines_need_a_family():
    raw = raw_recipe(models=["resnet18"])
    raw["scaling"] = {"enabled": False}
    with pytest.raises(ConfigError, match="scaling is disabled"):
        recipe_from_dict(raw)


def test_plan_checks_every_model_at_the_resolution_the_proxy_trains_it():
    raw = raw_recipe(models=["resnet10t", "mobilenetv3_small_050"])
    raw["accuracy"]["options"]["resolution_scale"] = 0.25
    recipe = recipe_from_dict(raw)
    planned = {p.model: p for p in plan_baselines(recipe.baselines, recipe)}
    # timed at its own ImageNet size (timm's pretrained config), trained at size x scale
    assert planned["resnet10t"].arch.resolution == 176
    assert planned["resnet10t"].train_resolution == 44
    assert planned["mobilenetv3_small_050"].arch.resolution == 224
    assert planned["mobilenetv3_small_050"].train_resolution == 56
    assert "resolution_scale 0.25" in planned["resnet10t"].resolution_rule


def test_fixed_input_size_model_at_a_scaled_resolution_fails_clearly():
    raw = raw_recipe(models=["levit_128", "resnet10t"])
    raw["accuracy"]["options"]["resolution_scale"] = 0.25  # levit_128 at 56 px
    recipe = recipe_from_dict(raw)
    with pytest.raises(ConfigError) as info:
        plan_baselines(recipe.baselines, recipe)
    text = str(info.value)
    assert "1 of 2 baseline(s)" in text
    assert "'levit_128' cannot follow the proxy's resolution" in text
    assert "fixed_input_size" in text and "56 px" in text and "resolution_scale 0.25" in text
    assert "drop it from baselines.models" in text and "224 px" in text
    assert "resnet10t" not in text


def test_a_stride_cap_the_baseline_cannot_follow_fails_clearly():
    raw = raw_recipe(models=["resnet10t"])
    raw["accuracy"]["options"].update(resolution=32, max_stride=8)
    recipe = recipe_from_dict(raw)
    with pytest.raises(ConfigError) as info:
        plan_baselines(recipe.baselines, recipe)
    text = str(info.value)
    assert "1x1 map at 32 px" in text and "max_stride 8" in text and "4x4" in text


def test_latency_only_plans_need_no_proxy():
    recipe = recipe_from_dict(raw_recipe(models=["resnet10t"], accuracy=False, resolution=32))
    (p,) = plan_baselines(recipe.baselines, recipe)
    assert p.train_resolution is None and p.arch.resolution == 32


def test_published_top1_is_the_default_pretrained_tag():
    top = published_top1("efficientnet_b0")
    assert top["table_model"] == "efficientnet_b0.ra_in1k"
    assert 77 < top["top1"] < 78.5 and top["img_size"] == 224
    assert published_top1("resnet50")["table_model"] == "resnet50.a1_in1k"
