"""One real run: Ray Tune + Optuna search, training, LACS, MLflow (SQLite), summary files.

A space defined here fails to build some of its archs: those trials must be recorded as
failed, with their error in MLflow, while the search goes on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from accelsearch import spaces
from accelsearch.core.errors import ArchError
from accelsearch.recipe import recipe_from_dict
from accelsearch.spaces.efficientnet_x import EfficientNetXSpace

ROOT = Path(__file__).resolve().parents[1]


@spaces.register_space("test_flaky_x")
class FlakyX(EfficientNetXSpace):
    """EfficientNet-X that refuses archs without space-to-depth (a deterministic failure)."""

    def build(self, arch, num_classes=1000, **kw):
        if arch.stages[0].type != "s2d":
            raise ArchError("test_flaky_x builds only archs with space-to-depth")
        return super().build(arch, num_classes, **kw)


def _recipe():
    raw = yaml.safe_load((ROOT / "recipes" / "quickstart.yaml").read_text())
    raw["space"]["name"] = "test_flaky_x"
    raw["search"].update(strategy="random", num_samples=5, seed=1)
    raw["accuracy"]["options"].update(epochs=1)
    raw["latency"]["protocol"] = {"warmup": 2, "min_reps": 10, "max_reps": 40, "max_seconds": 0.5}
    raw["scaling"].update(
        grid=[[1.0, 1.2, 1.2]], targets=[1.6, 2.5], tolerance=0.1, max_measurements=6
    )
    return recipe_from_dict(raw)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import ray

    from accelsearch.pipeline import run_recipe

    out = tmp_path_factory.mktemp("ws")
    printed: list[str] = []  # a plain printer, as for a log file
    try:
        outcome = run_recipe(_recipe(), out, printer=printed.append)
    finally:
        ray.shutdown()
    outcome.printed = printed
    return outcome


@pytest.mark.slow
def test_search_records_every_trial(run):
    result = run.search
    assert len(result.trials) == 5
    assert result.completed, "some trials must complete"
    assert result.failed, "seed 1 samples archs without space-to-depth, which must fail"
    for t in result.failed:
        assert "test_flaky_x builds only archs with space-to-depth" in t.error
    for t in result.completed:
        for key in ("accuracy", "latency_ms", "reward", "params_m", "gflops"):
            assert key in t.metrics
    saved = json.loads((run.output_dir / "search.json").read_text())
    assert len(saved["trials"]) == 5


@pytest.mark.slow
def test_family_meets_structure(run):
    fam = run.family
    assert fam is not None and len(fam.members) == 3  # base + two targets
    lat = [m.latency_ms for m in fam.members]
    assert lat == sorted(lat)
    for m in fam.members[1:]:
        # measured, never predicted; a φ an earlier solve already measured is reused, so a
        # member may cost 0 new measurements (seen in CI), but the family costs some
        assert m.phi > 0 and m.latency.get("requested_backend") == "torch"
        assert m.accuracy is not None and m.params_m > fam.members[0].params_m
    assert sum(m.n_measurements for m in fam.members[1:]) >= 1
    assert (run.output_dir / "family.json").exists()
    assert (run.output_dir / "summary.md").read_text().startswith("# quickstart")
    assert (run.output_dir / "family.png").stat().st_size > 1000


@pytest.mark.slow
def test_mlflow_schema(run):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(run.tracking_uri)
    exp = client.get_experiment_by_name("quickstart")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    by_kind: dict[str, list] = {}
    for r in runs:
        by_kind.setdefault(r.data.tags["accelsearch.kind"], []).append(r)
    assert len(by_kind["search"]) == 1 and len(by_kind["family"]) == 1
    assert len(by_kind["trial"]) == 5 and len(by_kind["member"]) == 3
    search_id = by_kind["search"][0].info.run_id
    family_id = by_kind["family"][0].info.run_id
    for r in by_kind["trial"]:
        assert r.data.tags["mlflow.parentRunId"] == search_id
        files = {f.path for f in client.list_artifacts(r.info.run_id)}
        assert "arch.json" in files
        if r.info.status == "FINISHED":
            assert {"accuracy", "latency_ms", "reward", "params_m", "gflops"} <= set(r.data.metrics)
        else:
            assert r.info.status == "FAILED"
            assert "error.txt" in files
            assert "space-to-depth" in r.data.tags["accelsearch.error"]
    for r in by_kind["member"]:
        assert r.data.tags["mlflow.parentRunId"] == family_id
        assert {"alpha", "beta", "gamma", "phi", "target_ms"} <= set(r.data.params)
        assert {"accuracy", "latency_ms", "reward", "params_m", "gflops"} <= set(r.data.metrics)
        assert "arch.json" in {f.path for f in client.list_artifacts(r.info.run_id)}
    fam_files = {f.path for f in client.list_artifacts(family_id)}
    assert {"family.md", "family.json", "family.png"} <= fam_files


@pytest.mark.slow
def test_one_reward_definition_and_the_family_run_id(run):
    """The base model's reward agrees between the search and the family: one definition,
    the recipe's target (only its latency is measured again); family.json names its run."""
    from mlflow.tracking import MlflowClient

    from accelsearch.objectives.reward import mnas_reward

    recipe = _recipe()
    target, w = recipe.reward.target_ms, recipe.reward.w
    best = run.search.best()
    m = best.metrics
    assert m["reward"] == pytest.approx(mnas_reward(m["accuracy"], m["latency_ms"], target, w))
    fam = run.family
    for member in fam.members:
        expected = mnas_reward(member.accuracy, member.latency_ms, target, w)
        assert member.reward == pytest.approx(expected)
    base = fam.members[0]
    assert base.accuracy == pytest.approx(m["accuracy"])
    # the same model, the same definition: the rewards differ only by the re-measured latency
    assert base.reward / m["reward"] == pytest.approx((base.latency_ms / m["latency_ms"]) ** w)
    saved = json.loads((run.output_dir / "family.json").read_text())
    client = MlflowClient(run.tracking_uri)
    family_run = client.get_run(saved["mlflow_run_id"])
    assert family_run.data.tags["accelsearch.kind"] == "family"
    summary = (run.output_dir / "summary.md").read_text()
    assert f"reward = accuracy × (latency / {target:g} ms)^{w:g}" in summary


@pytest.mark.slow
def test_progress_says_what_happens_and_prints_each_trial_once(run):
    """From the first line: MLflow, Ray, each trial's start; then one row per finished trial
    (failed ones with their error) under one header; the last counts once; no repeats."""
    lines = run.printed
    print("\n".join(lines))  # shown when the test fails
    assert lines[0].startswith("[run] quickstart: setting up MLflow tracking")
    ray_at = next(i for i, ln in enumerate(lines) if ln.startswith("[search] starting Ray"))
    assert lines[ray_at + 1].startswith("[search] Ray ready in ")
    for k in range(1, 6):
        assert sum(ln.startswith(f"[search] trial {k}/5 started: ") for ln in lines) == 1
    assert "imports PyTorch and loads the data" in next(ln for ln in lines if "trial 1/5" in ln)
    headers = [i for i, ln in enumerate(lines) if ln.startswith("  # trial")]
    assert len(headers) == 1
    rows = lines[headers[0] + 1 :][: len(run.search.trials) + 10]
    rows = [ln for ln in rows if ln[:3].strip().isdigit()]
    assert len(rows) == 5 and len({ln[:3] for ln in rows}) == 5  # each trial once
    arch_at = lines[headers[0]].index("arch (or error)")
    for ln in rows:
        if " failed " in ln:
            assert ln[arch_at:].startswith("ArchError: test_flaky_x builds only archs with")
        else:
            assert ln[arch_at:].startswith("i") and " ok " in ln
    done = [ln for ln in lines if ln.startswith("[search] ") and " done, " in ln]
    assert len(done) == 1 and done[0].startswith(f"[search] {len(run.search.completed)}/5 done")
    search_lines = [ln for ln in lines if ln.startswith("[search]")]
    assert len(search_lines) == len(set(search_lines))
