"""``accelsearch resume`` after the driver was killed with SIGKILL in the middle of a search.

The driver runs in its own process (and process group); once three trials have finished it
is SIGKILLed, and what it left behind (its local Ray processes) is killed with it. The
resumed run must not evaluate a finished trial again, must end with exactly the number of
trials asked for, must restore the searcher (pymoo's generations go on), must keep MLflow
consistent (the same search run, one finished trial run per trial) and must then grow the
family that the recipe asks for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NUM_SAMPLES = 8
POP = 4

DRIVER = textwrap.dedent(
    f"""
    import sys
    sys.path[:0] = [{str(ROOT)!r}, {str(HERE)!r}]
    import search_testkit as kit
    from accelsearch.cli import main
    from accelsearch.pipeline import run_recipe

    mode, ws, log = sys.argv[1:4]
    if mode == "run":
        rec = kit.tiny_recipe(
            "pymoo-nsga2",
            num_samples={NUM_SAMPLES},
            objectives=["accuracy", "latency_ms"],
            options={{"pop_size": {POP}}},
            evaluator_options={{"sleep_s": 0.6, "epochs": 2, "log_path": log}},
            search={{"max_concurrent": 2}},
            scaling={{
                "grid": [[1.2, 1.1, 1.0]], "targets": [2.0], "tolerance": 0.5,
                "max_measurements": 4,
            }},
            name="resumable",
        )
        run_recipe(rec, ws)
    else:
        sys.exit(main(["resume", ws]))
    """
)


def _evaluations(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def _start(script: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the Ray processes it starts too
        env=env,
        text=True,
    )


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_resume_after_sigkill_repeats_no_finished_trial(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    ws, log = tmp_path / "ws", tmp_path / "evals.jsonl"

    driver = _start(script, "run", str(ws), str(log))
    try:
        deadline = time.time() + 240
        while len(_evaluations(log)) < 3:
            assert driver.poll() is None, driver.stdout.read()
            assert time.time() < deadline, "the search did not get going"
            time.sleep(0.2)
        time.sleep(0.3)  # let the driver record the third result
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(30)
    finally:
        time.sleep(1.0)
        _kill_group(driver)  # the driver's local Ray processes
    killed_at = time.time()
    run_dir = next(p for p in ws.iterdir() if p.name.startswith("resumable-"))
    assert not (run_dir / "search.json").exists()  # it really stopped mid-search

    store = f"sqlite:///{ws / 'mlflow.db'}"
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("resumable")
    before = client.search_runs([exp.experiment_id])
    finished_before = {
        r.data.tags["accelsearch.arch"]
        for r in before
        if r.data.tags.get("accelsearch.kind") == "trial" and r.info.status == "FINISHED"
    }
    assert len(finished_before) >= 2

    resumer = _start(script, "resume", str(ws), str(log))
    try:
        out, _ = resumer.communicate(timeout=400)
    finally:
        _kill_group(resumer)
    assert resumer.returncode == 0, out
    assert "[resume]" in out

    # no trial that had finished was evaluated again
    again = [e["arch"] for e in _evaluations(log) if e["t"] > killed_at]
    assert not set(again) & finished_before, (again, finished_before)

    # exactly the trials asked for, each once, all recorded
    result = json.loads((run_dir / "search.json").read_text())
    ids = [t["trial_id"] for t in result["trials"]]
    assert len(ids) == NUM_SAMPLES == len(set(ids))
    assert all(t["status"] == "ok" for t in result["trials"])

    # the searcher went on from its saved state: two generations of four told to pymoo
    assert result["summary"]["generations"] == NUM_SAMPLES // POP

    # MLflow: the same search run, finished, marked resumed; one finished run per trial
    runs = client.search_runs([exp.experiment_id])
    searches = [r for r in runs if r.data.tags.get("accelsearch.kind") == "search"]
    assert len(searches) == 1 and searches[0].info.status == "FINISHED"
    assert searches[0].data.tags["accelsearch.resumed"] == "1"
    trials = [r for r in runs if r.data.tags.get("accelsearch.kind") == "trial"]
    finished = {r.data.tags["accelsearch.trial_id"] for r in trials if r.info.status == "FINISHED"}
    assert finished == set(ids)
    leftover = [r for r in trials if r.info.status not in ("FINISHED",)]
    assert all(r.info.status == "KILLED" for r in leftover)  # started, then lost with the driver
    assert all(r.data.tags["mlflow.parentRunId"] == searches[0].info.run_id for r in trials)

    # and the family the recipe asks for
    assert (run_dir / "family.json").exists()
    assert any(r.data.tags.get("accelsearch.kind") == "family" for r in runs)


def test_epochs_reported_again_after_a_resume_do_not_warn():
    """A trial restarted by a resume reports its epochs again to its Optuna trial; Optuna
    keeps the first values and would warn once per epoch in the user's log."""
    import warnings

    import optuna

    from accelsearch.search.driver import _quiet_optuna

    trial = optuna.create_study().ask()
    trial.report(80.0, 1)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        trial.report(81.0, 1)  # as before the filter: Optuna warns
        _quiet_optuna()
        trial.report(82.0, 1)
    assert [str(w.message) for w in seen] == [
        "The reported value is ignored because this `step=1` is already reported."
    ]
