"""The README's commands are the contract: its snippets run, and CI runs its test command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow_kit import worktree_on_pythonpath

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_test_command():
    test_cmd = next(b.strip() for b in _blocks("bash") if "pytest" in b)
    assert test_cmd in (ROOT / ".ci" / "run").read_text()


def test_readme_quickstart_command_uses_the_shipped_recipe():
    quick = next(b.strip() for b in _blocks("bash") if "quickstart.yaml" in b)
    assert "pip install -e ." in quick and (ROOT / "recipes" / "quickstart.yaml").exists()


@pytest.mark.slow
def test_python_snippets_run(tmp_path, monkeypatch):
    import ray

    from accelsearch import spaces

    monkeypatch.chdir(tmp_path)  # the search writes runs/readme-search
    worktree_on_pythonpath(monkeypatch)  # Ray's workers import this checkout
    blocks = _blocks("python")
    if "readme_space" in spaces.list():  # registered by an earlier run in this process
        blocks = [b.replace('@register_space("readme_space")\n', "") for b in blocks]
    namespace: dict = {"__name__": "readme"}  # classes pickle by value for Ray, as in a script
    try:
        for code in blocks:
            exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - docs are the test
    finally:
        ray.shutdown()
    fam = namespace["family"]
    assert len(fam.members) == 3 and fam.members[-1].latency_ms > fam.members[0].latency_ms
    result = namespace["result"]  # the custom space, searched
    assert len(result.completed) == 2 and result.best("reward").arch.resolution == 32
    ws = tmp_path / "runs" / "readme-search"  # what the README says Search writes
    assert (ws / "mlflow.db").exists() and (ws / "latest" / "summary.md").exists()
    assert (ws / "latest").resolve().name.startswith("readme-")
    assert (ws / "latest" / "search.json").exists() and not (ws / "latest" / "family.json").exists()
