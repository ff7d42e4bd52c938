"""Ray Tune's snapshot is read back with pickle on resume, so the driver records the sha256
of each snapshot file as it is written and ``accelsearch resume`` refuses a file that does
not match (issue 19, point 7): before anything is unpickled, with a message that names the
file and the way out (``--trust-checkpoints`` for a folder known to be safe)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import search_testkit as kit

from accelsearch.cli import main
from accelsearch.core.errors import ConfigError
from accelsearch.search import checkpoints
from accelsearch.search.checkpoints import HASH_KEY, KEEP, hash_folder, record, verify


def _folder(tmp_path: Path) -> tuple[Path, Path]:
    exp = tmp_path / "ray" / "search"
    (exp / "run_trial_1").mkdir(parents=True)
    (exp / "tuner.pkl").write_bytes(b"tuner")
    (exp / "searcher-state-x.pkl").write_bytes(b"searcher v1")
    (exp / "run_trial_1" / "error.pkl").write_bytes(b"error")
    (exp / "run_trial_1" / "params.pkl").write_bytes(b"not read on resume")
    (exp / ".validate_storage_marker").write_bytes(b"")
    state = tmp_path / "search_state.json"
    state.write_text(json.dumps({"search_run_id": "abc"}))
    return exp, state


# -- the record ------------------------------------------------------------------------------
def test_what_is_hashed_and_that_a_match_passes(tmp_path):
    exp, state = _folder(tmp_path)
    hashes = hash_folder(exp)
    assert sorted(hashes) == ["run_trial_1/error.pkl", "searcher-state-x.pkl", "tuner.pkl"]
    record(state, hashes)
    verify(state, exp)
    data = json.loads(state.read_text())
    assert data["search_run_id"] == "abc" and sorted(data[HASH_KEY]) == sorted(hashes)


@pytest.mark.parametrize("name", ["searcher-state-x.pkl", "tuner.pkl", "run_trial_1/error.pkl"])
def test_a_changed_file_is_refused_by_name(tmp_path, name):
    exp, state = _folder(tmp_path)
    record(state, hash_folder(exp))
    (exp / name).write_bytes(b"something else")
    with pytest.raises(ConfigError) as exc:
        verify(state, exp)
    msg = str(exc.value)
    assert (
        f"do not match the hashes recorded in search_state.json when they were written: {name}"
        in msg
    )
    assert "--trust-checkpoints" in msg and "trusted input" in msg


def test_a_file_never_recorded_and_a_run_without_hashes_are_refused(tmp_path):
    exp, state = _folder(tmp_path)
    with pytest.raises(ConfigError, match="no checkpoint hashes were recorded for this run"):
        verify(state, exp)
    record(state, hash_folder(exp))
    (exp / "callback-states-y.pkl").write_bytes(b"dropped in")
    with pytest.raises(ConfigError, match="callback-states-y.pkl"):
        verify(state, exp)


def test_the_last_versions_of_a_file_are_accepted(tmp_path):
    """The copy in the experiment folder may be an older snapshot than the last one hashed."""
    exp, state = _folder(tmp_path)
    target = exp / "searcher-state-x.pkl"
    for v in range(1, KEEP + 2):
        target.write_bytes(f"searcher v{v}".encode())
        record(state, hash_folder(exp))
    for v in range(2, KEEP + 2):
        target.write_bytes(f"searcher v{v}".encode())
        verify(state, exp)
    target.write_bytes(b"searcher v1")  # KEEP + 1 versions ago
    with pytest.raises(ConfigError):
        verify(state, exp)


# -- a real search -----------------------------------------------------------------------------
class _Planted:
    """A pickle that creates a file when it is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A 3-trial search, run to the end in a run folder, then made to look interrupted."""
    import ray

    from accelsearch.pipeline import run_recipe

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024**2)
    ws = tmp_path_factory.mktemp("ws")
    outcome = run_recipe(kit.tiny_recipe("optuna-tpe", num_samples=3, name="hashed"), ws)
    yield outcome.output_dir
    ray.shutdown()


@pytest.mark.slow
def test_a_search_records_every_file_ray_reads_back(finished_run):
    state = finished_run / "search_state.json"
    exp = finished_run / "ray" / "search"
    recorded = json.loads(state.read_text())[HASH_KEY]
    for prefix in ("tuner.pkl", "experiment_state-", "searcher-state-", "callback-states-"):
        assert any(n.startswith(prefix) for n in recorded), (prefix, sorted(recorded))
    verify(state, exp)  # what is there now is what was recorded


@pytest.mark.slow
def test_resume_refuses_a_planted_searcher_state_before_unpickling_it(finished_run, capsys):
    exp = finished_run / "ray" / "search"
    (finished_run / "search.json").unlink(missing_ok=True)  # as if the driver had stopped
    marker = finished_run / "PLANTED"
    target = next(exp.glob("searcher-state-*.pkl"))
    original = target.read_bytes()
    target.write_bytes(pickle.dumps(_Planted(marker)))
    try:
        code = main(["resume", str(finished_run)])
        err = capsys.readouterr().err
        assert code == 2
        assert f"{target.name} (sha256" in err and "--trust-checkpoints" in err
        assert not marker.exists()  # nothing was unpickled
    finally:
        target.write_bytes(original)


@pytest.mark.slow
def test_trust_checkpoints_resumes_a_folder_whose_record_is_off(finished_run):
    from accelsearch.pipeline import resume_run

    state = finished_run / "search_state.json"
    data = json.loads(state.read_text())
    data[HASH_KEY] = {}  # e.g. a run made before hashes were recorded
    state.write_text(json.dumps(data))
    (finished_run / "search.json").unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="no checkpoint hashes were recorded"):
        resume_run(finished_run)
    outcome = resume_run(finished_run, trust_checkpoints=True)
    assert len(outcome.search.trials) == 3
    # and the resumed search recorded what it left, so the next resume checks again
    checkpoints.verify(state, finished_run / "ray" / "search")
    assert os.path.exists(finished_run / "search.json")
