"""A run folder resumed at another absolute path than it was made at is refused before any
work (Ray Tune's snapshot and MLflow's artifact store would write under the old path), unless
the old path leads to it."""

from __future__ import annotations

import json
import shutil

import pytest

from accelsearch.errors import ConfigError
from accelsearch.pipeline import resume_run
from accelsearch.search.driver import STATE_FILE, check_not_moved


def _run_folder(workspace, state):
    run = workspace / "demo-20261206-000000"
    run.mkdir(parents=True)
    (run / "recipe.json").write_text("{}")
    (run / STATE_FILE).write_text(json.dumps(state))
    return run


def test_a_run_resumed_where_it_was_made_goes_on(tmp_path):
    run = _run_folder(tmp_path / "ws", {})
    state = {"attach_key": str(run)}
    (run / STATE_FILE).write_text(json.dumps(state))
    check_not_moved(run)  # no error
    check_not_moved(tmp_path / "no-run-here")  # nothing recorded: nothing to check


def test_a_moved_run_is_refused_with_both_paths_and_the_fix(tmp_path):
    first = _run_folder(tmp_path / "node1" / "ws", {})
    (first / STATE_FILE).write_text(json.dumps({"attach_key": str(first)}))
    moved = tmp_path / "node2" / "ws"
    shutil.copytree(tmp_path / "node1" / "ws", moved)
    shutil.rmtree(tmp_path / "node1")
    run = moved / first.name
    with pytest.raises(ConfigError) as err:
        check_not_moved(run)
    text = str(err.value)
    assert str(first) in text and str(run) in text and "ln -s" in text
    with pytest.raises(ConfigError, match="was made at"):  # the command refuses it first
        resume_run(run)
    # a link from the old path to the new one makes it the same folder again
    (tmp_path / "node1").mkdir()
    (tmp_path / "node1" / "ws").symlink_to(moved)
    check_not_moved(run)


def test_a_run_made_before_the_key_was_recorded_is_checked_by_its_experiment_path(tmp_path):
    run = _run_folder(tmp_path / "ws", {})
    elsewhere = tmp_path / "old" / run.name / "ray" / "search"
    (run / STATE_FILE).write_text(json.dumps({"experiment_path": str(elsewhere)}))
    with pytest.raises(ConfigError, match="was made at"):
        check_not_moved(run)
    (run / STATE_FILE).write_text(json.dumps({"experiment_path": str(run / "ray" / "search")}))
    check_not_moved(run)
