"""``accelsearch submit``: nothing from a recipe or the command line reaches the cluster's
shell unquoted (issue 19: a recipe named ``x$(touch /tmp/PWNED)`` ran the command)."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from accelsearch.cli import main
from accelsearch.commands.submit import RECIPE_NAME, entrypoint

ROOT = Path(__file__).resolve().parents[2]


def _args(**kw) -> argparse.Namespace:
    base = {"output": None, "tracking_uri": None, "set": [], "imports": [], "python": "echo"}
    return argparse.Namespace(**{**base, **kw})


def _run_in_shell(command: str, home: Path) -> str:
    """The entrypoint through ``sh -c``, as Ray's job supervisor runs it."""
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.run(["sh", "-c", command], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_hostile_name_and_overrides_run_nothing(tmp_path):
    marker = tmp_path / "PWNED"
    name = f"x$(touch {marker})`touch {marker}`;touch {marker}"
    args = _args(
        set=[f"description=$(touch {marker})", "search.seed=3"],
        tracking_uri=f"http://h:5000/$(touch {marker})",
    )
    command = entrypoint(args, name)
    out = _run_in_shell(command, tmp_path)  # python is `echo`: it prints what it was given
    assert not marker.exists()
    assert f"--output {tmp_path}/accelsearch-runs/{name}" in out  # $HOME expanded, name as is
    assert f"--set description=$(touch {marker}) --set search.seed=3" in out
    # and what the cluster's shell splits it into is the argv intended
    assert shlex.split(command)[:6] == [
        "echo",
        "-m",
        "accelsearch",
        "run",
        RECIPE_NAME,
        "--address",
    ]


@pytest.mark.parametrize("imports", [[], ["mod_a", "pkg.mod_b"]])
def test_output_and_imports_are_quoted_too(tmp_path, imports):
    marker = tmp_path / "PWNED"
    hostile = f"{tmp_path}/out dir;touch {marker}"
    command = entrypoint(_args(output=hostile, imports=imports), "fine-name")
    out = _run_in_shell(command, tmp_path)
    assert not marker.exists()
    assert out.rstrip("\n").endswith(f"--output {hostile}")
    home = entrypoint(_args(output="~/runs/$(touch x)"), "fine-name")
    assert (
        _run_in_shell(home, tmp_path).rstrip("\n").endswith(f"--output {tmp_path}/runs/$(touch x)")
    )


def test_submit_refuses_a_hostile_recipe_name_before_any_cluster(tmp_path, capsys):
    raw = yaml.safe_load((ROOT / "recipes" / "quickstart.yaml").read_text())
    raw["name"] = "x$(touch /tmp/PWNED)"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(raw))
    code = main(["submit", str(recipe), "--address", "http://127.0.0.1:9"])  # nothing listens
    err = capsys.readouterr().err
    assert code == 2
    assert "name: not allowed" in err and "x$(touch /tmp/PWNED)" in err
    assert "^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$" in err
