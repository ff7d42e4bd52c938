"""``accelsearch --version``, ``accelsearch list`` and options that name the valid ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsearch import __version__, spaces
from accelsearch.cli import main
from accelsearch.core.errors import ConfigError
from accelsearch.objectives import accuracy, latency
from accelsearch.search.strategy import STRATEGIES

ROOT = Path(__file__).resolve().parents[2]


def test_version_names_accelsearch_and_its_libraries(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"accelsearch {__version__} (Python ")
    assert "torch " in out and "ray " in out and "mlflow " in out and "\n" not in out


def test_list_shows_every_registered_name_on_one_line(capsys):
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = {line.split()[0] for line in lines if line.startswith("  ")}
    expected = {*spaces.list(), *STRATEGIES.names(), *latency.BACKENDS.names(), "auto"}
    expected |= set(accuracy.EVALUATORS.names())
    assert expected <= names
    for line in lines:  # every entry has its line of description
        if line.startswith("  "):
            assert len(line.split(maxsplit=1)) == 2, line
    tpe = next(line for line in lines if line.split()[:1] == ["optuna-tpe"])
    assert "tree-structured Parzen" in tpe


def test_a_plug_in_without_a_docstring_still_gets_its_line(capsys):
    """The README's example space has no docstring; listed after a test registered it, its
    line said nothing (an order-dependent failure of the test above)."""
    from accelsearch.spaces.registry import SPACES, register_space
    from accelsearch.spaces.stagewise import StagewiseSpace

    register_space("test-undocumented")(type("Undocumented", (StagewiseSpace,), {}))
    try:
        assert main(["list", "spaces"]) == 0
    finally:
        SPACES._items.pop("test-undocumented")
    line = next(x for x in capsys.readouterr().out.splitlines() if "test-undocumented" in x)
    assert line.split(maxsplit=1)[1] == "(no description: its class has no docstring)"


def test_list_one_kind(capsys):
    assert main(["list", "strategies"]) == 0
    out = capsys.readouterr().out
    assert "strategies (recipe field search.strategy)" in out and "spaces (" not in out


def test_a_misspelt_space_option_says_what_was_meant():
    with pytest.raises(ConfigError) as exc:
        spaces.get("efficientnet_x", width_mul=0.5)
    msg = str(exc.value)
    assert "space 'efficientnet_x' has no option 'width_mul' (did you mean 'width_mult'?)" in msg
    assert "'resolutions'" in msg and "'depth_deltas'" in msg  # the valid options follow


def test_a_misspelt_option_in_a_recipe_fails_validation_with_the_hint(capsys):
    recipe = str(ROOT / "recipes" / "quickstart.yaml")
    assert main(["validate", recipe, "--set", "space.options.width_mul=0.5"]) == 2
    assert "did you mean 'width_mult'" in capsys.readouterr().err
    assert main(["validate", recipe, "--set", "accuracy.options.epoch=3"]) == 2
    assert "evaluator 'train' has no option 'epoch' (did you mean 'epochs'?)" in (
        capsys.readouterr().err
    )
