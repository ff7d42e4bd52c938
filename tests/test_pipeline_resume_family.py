"""``accelsearch resume`` and the family step: a run stopped during LACS goes on from its
checkpoint without training any arch again, and a run whose family is finished is left as it
is (no second LACS, no second family run in MLflow, ``family.json`` untouched).

Real parts: the pipeline's ``finish_run``/``resume_run``, LACS with PyTorch latency on the
CPU, a real MLflow SQLite store. The search is a stored result of one trial (its search part
is what tests/search/test_resume.py covers); the stop is an exception raised by the accuracy
evaluator at its second LACS evaluation, the point where a killed driver would lose the rest.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from accelsearch.objectives import accuracy
from accelsearch.pipeline import finish_run, make_tracker, resume_run
from accelsearch.search.result import SearchResult, TrialRecord

sys.path.insert(0, str(Path(__file__).parent / "search"))
import search_testkit as kit  # noqa: E402


class PowerCut(RuntimeError):
    pass


class CutOnceEvaluator(kit.ScoreEvaluator):
    """``search_score`` that raises once, at evaluation number ``cut_at`` (counted in its log),
    while ``cut_marker`` does not exist."""

    name = "lacs_cut_once"

    def __init__(self, cut_at: int = 2, cut_marker: str = "", **kw) -> None:
        super().__init__(**kw)
        self.cut_at, self.cut_marker = cut_at, Path(cut_marker)

    def evaluate(self, arch, report=None) -> float:
        done = _log(Path(self.log_path))
        if len(done) + 1 == self.cut_at and not self.cut_marker.exists():
            self.cut_marker.touch()
            raise PowerCut("the driver stopped here")
        return super().evaluate(arch, report)


if "lacs_cut_once" not in accuracy.EVALUATORS:
    accuracy.EVALUATORS.add("lacs_cut_once", CutOnceEvaluator)


def _log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _recipe(tmp_path: Path):
    rec = kit.tiny_recipe(
        name="stopped",
        scaling={
            "grid": [[1.2, 1.1, 1.0], [1.4, 1.0, 1.0]],
            "targets": [1.6, 2.5],
            "tolerance": 0.5,
            "max_measurements": 4,
        },
    )
    raw = json.loads(rec.model_dump_json())
    raw["accuracy"] = {
        "evaluator": "lacs_cut_once",
        "options": {
            "epochs": 1,
            "log_path": str(tmp_path / "evals.jsonl"),
            "cut_marker": str(tmp_path / "cut"),
        },
    }
    return type(rec).model_validate(raw)


def _family_runs(ws: Path) -> list:
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = client.get_experiment_by_name("stopped")
    return [
        r
        for r in client.search_runs([exp.experiment_id])
        if r.data.tags.get("accelsearch.kind") == "family"
    ]


def test_a_run_stopped_during_lacs_goes_on_and_a_finished_family_is_left_alone(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("ACCELSEARCH_LATENCY_CACHE", "off")  # only the run's checkpoint helps
    recipe = _recipe(tmp_path)
    ws = tmp_path / "ws"
    out = ws / "stopped-run"
    out.mkdir(parents=True)
    (out / "recipe.json").write_text(recipe.model_dump_json(indent=2))
    space = recipe.space.make()
    arch = space.decode({"width": 8, "depth": 1, "kernel": 3, "act": "relu"})
    best = TrialRecord(
        "t0", {}, "ok", metrics={"accuracy": 65.0, "latency_ms": 0.2, "reward": 70.0}, arch=arch
    )
    tracker = make_tracker(recipe, ws, None)
    with pytest.raises(PowerCut):
        finish_run(recipe, out, tracker, SearchResult(trials=[best]), printer=lambda *a: None)
    before = {e["arch"] for e in _log(tmp_path / "evals.jsonl")}
    assert len(before) == 1 and not (out / "family.json").exists()
    checkpoint = json.loads((out / "lacs_checkpoint.json").read_text())
    assert len(checkpoint["latency"]) >= 2  # the base and the first grid point's probes

    lines: list[str] = []
    outcome = resume_run(out, printer=lambda *a: lines.append(" ".join(map(str, a))))
    after = [e["arch"] for e in _log(tmp_path / "evals.jsonl")][1:]
    assert after and not set(after) & before, "an arch trained before the stop was trained again"
    assert any("going on from the checkpoint" in line for line in lines)
    family = outcome.family
    assert family is not None and len(family.members) == 3 and family.mlflow_run_id
    assert len(family.grid) == 2 and all(g.accuracy is not None for g in family.grid)
    saved = (out / "family.json").read_bytes()
    assert json.loads(saved)["mlflow_run_id"] == family.mlflow_run_id
    assert len(_family_runs(ws)) == 1

    # resumed again: the family is finished; nothing is grown, logged or written again
    n_evals = len(_log(tmp_path / "evals.jsonl"))
    lines.clear()
    again = resume_run(out, printer=lambda *a: lines.append(" ".join(map(str, a))))
    assert len(_log(tmp_path / "evals.jsonl")) == n_evals
    assert not any(line.startswith("[lacs]") for line in lines)
    assert any("left as it is" in line for line in lines)
    assert (out / "family.json").read_bytes() == saved
    assert len(_family_runs(ws)) == 1
    assert again.family.mlflow_run_id == family.mlflow_run_id
