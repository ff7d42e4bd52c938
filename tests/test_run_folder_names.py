"""A run's name cannot put its folder outside the workspace (issue 19: ``--set
name=../../escaped`` wrote two levels above ``--output``; ``name=a/b`` died with a
traceback): names are checked at validation, and the run folder is checked where it is made."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsearch.cli import main
from accelsearch.core.errors import ConfigError
from accelsearch.pipeline import new_run_dir
from accelsearch.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "recipes" / "quickstart.yaml")
HOSTILE = ["../../escaped", "/tmp/absolute", "a/b", "..", ".hidden", "a b", "x" * 101, ""]


@pytest.mark.parametrize("name", HOSTILE)
def test_run_refuses_the_name_with_a_clear_error(tmp_path, capsys, name):
    ws = tmp_path / "deep" / "ws"
    code = main(["run", QUICKSTART, "--set", f"name='{name}'", "--output", str(ws)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "quickstart.yaml: name: not allowed" in err and "Traceback" not in err
    assert "[A-Za-z0-9._-]" in err  # the allowed pattern is named
    assert not ws.exists() and list(tmp_path.iterdir()) == []  # nothing was written anywhere


@pytest.mark.parametrize("name", ["quickstart", "q-2.v_3", "A" * 100, "7up"])
def test_ordinary_names_pass(name):
    assert load_recipe(QUICKSTART, [f"name={name}"]).name == name


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute", "a/b", "a/../../b"])
def test_the_run_folder_is_checked_where_it_is_made(tmp_path, name):
    ws = tmp_path / "ws"
    with pytest.raises(ConfigError, match="outside the workspace"):
        new_run_dir(ws, name)
    assert list(tmp_path.iterdir()) == []


def test_a_fresh_run_folder_sits_directly_in_the_workspace(tmp_path):
    out = new_run_dir(tmp_path / "ws", "fine")
    assert out.parent == (tmp_path / "ws").resolve() and out.name.startswith("fine-")
