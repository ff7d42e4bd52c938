"""docs/python_api.md works as printed: its snippets run top to bottom in one session
(custom space, latency backend, evaluator, run_recipe, Search, LACS, reading a Family)."""

from __future__ import annotations

import json
import re

import pytest
from mlflow_kit import ROOT, worktree_on_pythonpath

DOCS = ROOT / "docs" / "python_api.md"


@pytest.mark.slow
def test_python_api_walkthrough_runs(tmp_path, monkeypatch):
    import ray

    from accelsearch import spaces

    monkeypatch.chdir(tmp_path)  # the snippets write runs/api-demo
    worktree_on_pythonpath(monkeypatch)
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    assert len(blocks) == 7
    if "my_edge_space" in spaces.list():  # defined by an earlier run in this process
        blocks[0] = blocks[0].replace('@spaces.register_space("my_edge_space")\n', "")
    namespace: dict = {"__name__": "docs_python_api"}  # classes pickle by value for Ray
    try:
        for i, code in enumerate(blocks):
            exec(compile(code, f"{DOCS}[python block {i + 1}]", "exec"), namespace)  # noqa: S102
    finally:
        ray.shutdown()
    space, arch = namespace["space"], namespace["arch"]
    assert space.encode(arch) == space.sample(0)
    assert namespace["lat"].backend == "torch" and namespace["lat"].median_ms > 0
    assert len(namespace["per_epoch"]) == 1 and 0 <= namespace["acc"] <= 100
    outcome = namespace["outcome"]
    assert (outcome.output_dir / "summary.md").exists() and len(outcome.family.members) == 2
    result = namespace["result"]
    assert len(result.trials) == 2 and namespace["best"] in result.completed
    # Search alone wrote the workspace the CLI writes: MLflow runs, search.json, summary.md
    ws = tmp_path / "runs" / "api-demo" / "search-only"
    run_dir = namespace["search"].output_dir
    assert run_dir.parent == ws and (ws / "latest").resolve() == run_dir
    assert (ws / "mlflow.db").exists() and (run_dir / "recipe.json").exists()
    assert len(json.loads((run_dir / "search.json").read_text())["trials"]) == 2
    assert (run_dir / "summary.md").read_text().startswith("# api-demo")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("api-demo").experiment_id])
    kinds = sorted(r.data.tags["accelsearch.kind"] for r in runs)
    assert kinds == ["search", "trial", "trial"]  # the search alone: no family
    family = namespace["family"]
    assert [m.target_ms for m in family.members[1:]] == pytest.approx(
        [1.5 * family.base_latency_ms, 2.0 * family.base_latency_ms]
    )
    assert namespace["saved"].members[-1].arch == outcome.family.members[-1].arch
