"""Recipes fail before anything runs, naming the field and the valid choices."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from accelsearch.core.errors import ConfigError
from accelsearch.recipe import apply_overrides, load_recipe, recipe_from_dict

ROOT = Path(__file__).resolve().parents[1]


def _quickstart() -> dict:
    return yaml.safe_load((ROOT / "recipes" / "quickstart.yaml").read_text())


def test_quickstart_is_valid():
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    assert recipe.space.name == "efficientnet_x"
    assert recipe.search.num_samples >= 8
    assert recipe.scaling.enabled and len(recipe.scaling.targets) >= 2


def test_unknown_field_is_named_with_valid_fields():
    raw = _quickstart()
    raw["search"]["num_sampels"] = 3
    with pytest.raises(ConfigError) as exc:
        recipe_from_dict(raw, "quick.yaml")
    msg = str(exc.value)
    assert "quick.yaml: search.num_sampels: unknown field" in msg
    assert "num_samples" in msg and "strategy" in msg


def test_wrong_type_is_named():
    raw = _quickstart()
    raw["search"]["num_samples"] = "many"
    with pytest.raises(ConfigError, match=r"search\.num_samples: .*integer.*'many'"):
        recipe_from_dict(raw)


def test_unknown_space_lists_the_choices():
    raw = _quickstart()
    raw["space"]["name"] = "efficientnet_z"
    with pytest.raises(
        ConfigError,
        match=r"space\.name: unknown space 'efficientnet_z'; valid choices: .*'efficientnet_x'",
    ):
        recipe_from_dict(raw)


def test_unknown_names_in_other_sections():
    for section, field, value, needle in [
        ("latency", "backend", "abacus", "unknown latency backend 'abacus'"),
        ("accuracy", "evaluator", "oracle", "unknown accuracy evaluator 'oracle'"),
        ("search", "strategy", "annealing", "unknown search strategy 'annealing'"),
    ]:
        raw = _quickstart()
        raw[section][field] = value
        with pytest.raises(ConfigError, match=f"{section}.{field}: {needle}"):
            recipe_from_dict(raw)


def test_bad_space_option_and_bad_scaling_fail_early():
    raw = _quickstart()
    raw["space"]["options"]["kernels"] = [4]
    with pytest.raises(ConfigError, match="kernels must be odd"):
        recipe_from_dict(raw)
    raw = _quickstart()
    raw["scaling"]["grid"] = [[1.2, 0.9, 1.1]]
    with pytest.raises(ConfigError, match=r"below 1"):
        recipe_from_dict(raw)
    raw = _quickstart()
    raw["scaling"]["targets"] = [0.5, 2.0]
    with pytest.raises(ConfigError, match="must be > 1"):
        recipe_from_dict(raw)


def test_overrides_apply_before_validation():
    raw = apply_overrides(_quickstart(), ["search.num_samples=2", "scaling.targets=[1.5]"])
    recipe = recipe_from_dict(raw)
    assert recipe.search.num_samples == 2 and recipe.scaling.targets == [1.5]
    with pytest.raises(ConfigError, match="must look like"):
        apply_overrides({}, ["search.num_samples"])


def test_cli_validate_exit_codes(tmp_path, capsys):
    from accelsearch.cli import main

    assert main(["validate", str(ROOT / "recipes" / "quickstart.yaml")]) == 0
    bad = tmp_path / "bad.yaml"
    raw = _quickstart()
    raw["search"]["num_sampels"] = 3
    bad.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(bad)]) == 2  # the code `run` exits with for it
    assert "search.num_sampels: unknown field" in capsys.readouterr().err
