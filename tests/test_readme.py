"""The README's commands are the contract: its snippets run, and CI runs its test command."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_python_snippets_run(capsys):
    namespace: dict = {}
    for code in _blocks("python"):
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the docs are the test
    fam = namespace["family"]
    assert len(fam.members) == 3 and fam.members[-1].latency_ms > fam.members[0].latency_ms
