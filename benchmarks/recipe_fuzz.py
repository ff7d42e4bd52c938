"""Mutation campaign against recipe validation: every mutant must be accepted or refused
with a clear error, never a traceback or a hang.

Mutants of the six shipped recipes (``recipes/*.yaml``) are made with a fixed seed: a value
replaced by a hostile one (NaN, infinities, a 5,000-digit integer, a list where a string
belongs, a 300-character path, a shell command...), a key deleted or added, a ``--set``
override (valid YAML or not, malformed keys), the file's bytes changed (UTF-16, non-UTF-8
bytes, truncation, a duplicated or deleted line, stray YAML punctuation) or a YAML alias
bomb. Each goes through ``accelsearch validate FILE [--set ...]`` in a worker process (the
CLI's ``main``, in process, for speed) with a timeout and a memory cap; the outcome is one of

* ``accepted``: exit 0, and no NaN/infinity and no ``num_classes <= 0`` in the result;
* ``accepted_invalid``: exit 0 although the recipe holds NaN/infinity or ``num_classes <= 0``;
* ``clean_error``: refused with an ``accelsearch: error``/validate message of at most
  ``MAX_MESSAGE`` characters (argparse's usage errors count too);
* ``overlong_error``: refused, but with a message longer than that (a value echoed whole);
* ``traceback``: an exception other than accelsearch's own escaped the command;
* ``hang``: no answer within the timeout; ``crash``: the worker died (memory cap, signal).

The data files the recipes name (``.data/...``, missing from a fresh clone) are created
empty in the worker's working directory, so that validation goes past the path checks
(``--no-data`` leaves them out: the "does not exist" errors then count as clean errors).

Run::

    python benchmarks/recipe_fuzz.py --count 1200 --seed 0 \\
        --out benchmarks/results/robustness/recipe_fuzz_after
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from recipe_mutants import ROOT, Mutant, make_mutants

DATA_FILES = (
    ".data/cifar10/cifar10-train-50k.tar.gz",
    ".data/cifar10/cifar10-test-10k.tar.gz",
    ".data/nb201/nats_bench_tss.csv",
    ".data/timm/results-imagenet.csv",
)
MAX_MESSAGE = 4000  # characters: a longer error message echoes a value whole
MEMORY_CAP = 6 << 30  # bytes of address space for the worker (torch needs ~3 GiB of it)


# -- the worker: validates one mutant at a time, in process --------------------------------
def _nonfinite_or_bad(recipe) -> str | None:
    """Why an accepted recipe should not have been (NaN/infinity anywhere, num_classes <= 0)."""
    import math

    def walk(node, path):
        if isinstance(node, float) and not math.isfinite(node):
            return f"{path} = {node}"
        if isinstance(node, (dict, list, tuple)):
            for k, v in node.items() if isinstance(node, dict) else enumerate(node):
                bad = walk(v, f"{path}.{k}" if path else str(k))
                if bad:
                    return bad
        return None

    if recipe.num_classes is not None and recipe.num_classes <= 0:
        return f"num_classes = {recipe.num_classes}"
    return walk(recipe.model_dump(), "")


def validate_one(path: str, overrides: list[str]) -> dict[str, Any]:
    import contextlib
    import io
    import traceback

    from accelsearch.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = ["validate", path, *[x for o in overrides for x in ("--set", o)]]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(argv)
    except SystemExit as exc:  # argparse refused the command line, with its usage text
        rc = exc.code if isinstance(exc.code, int) else 2
    except BaseException as exc:  # noqa: BLE001 - this is what the campaign counts
        frames = traceback.extract_tb(exc.__traceback__)
        where = next(
            (f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames) if "accelsearch" in f.filename or "/wt/" in f.filename),
            f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?",
        )  # fmt: skip
        return {"outcome": "traceback", "exc": type(exc).__name__, "where": where,
                "message": str(exc)[:200]}  # fmt: skip
    message = err.getvalue()
    if rc != 0:
        outcome = "overlong_error" if len(message) > MAX_MESSAGE else "clean_error"
        return {"outcome": outcome, "rc": rc, "message": message[:200], "length": len(message)}
    from accelsearch.recipe import load_recipe

    bad = _nonfinite_or_bad(load_recipe(path, overrides))
    if bad:
        return {"outcome": "accepted_invalid", "why": bad}
    return {"outcome": "accepted"}


def worker() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    # one valid recipe first: its imports (torch, timm, the spaces) are not any mutant's time
    validate_one(str(ROOT / "recipes" / "quickstart.yaml"), [])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        print(json.dumps(validate_one(job["path"], job["overrides"])), flush=True)


class Validator:
    """Feeds mutants to a worker process; a worker that does not answer in time is killed
    (the mutant counts as a hang) and a new one started."""

    def __init__(self, workdir: Path, timeout_s: float = 10.0, data: bool = True) -> None:
        self.workdir, self.timeout_s, self.proc = workdir, timeout_s, None
        if data:
            for rel in DATA_FILES:
                (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
                (workdir / rel).touch()

    def _start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self.workdir, env=env, text=True,
        )  # fmt: skip
        self._read(120.0)  # the worker's imports

    def _read(self, timeout: float) -> dict | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {"outcome": "crash", "rc": self.proc.poll()}

    def check(self, mutant: Mutant) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        path = self.workdir / f"mutant-{mutant.id}.yaml"
        path.write_bytes(mutant.data)
        t0 = time.perf_counter()
        self.proc.stdin.write(json.dumps({"path": str(path), "overrides": mutant.overrides}))
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        answer = self._read(self.timeout_s)
        if answer is None:
            self.close()
            answer = {"outcome": "hang", "timeout_s": self.timeout_s}
        elif answer.get("outcome") == "crash":
            self.close()
        answer["seconds"] = round(time.perf_counter() - t0, 3)
        path.unlink(missing_ok=True)
        return answer

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def campaign(count: int, seed: int, timeout_s: float = 10.0, data: bool = True) -> dict:
    mutants = make_mutants(count, seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="accelsearch-fuzz-") as tmp:
        validator = Validator(Path(tmp), timeout_s, data)
        try:
            for m in mutants:
                res = validator.check(m)
                rows.append({"id": m.id, "recipe": m.recipe, "kind": m.kind,
                             "mutation": m.description, **res})  # fmt: skip
        finally:
            validator.close()
    return {"counts": dict(Counter(r["outcome"] for r in rows)), "rows": rows}


# -- report ---------------------------------------------------------------------------------
def traceback_classes(rows: list[dict]) -> dict[str, int]:
    return dict(Counter(f"{r['exc']} at {r['where']}" for r in rows if r["outcome"] == "traceback"))


def write_report(result: dict, out: Path, args: argparse.Namespace, env: dict) -> None:
    rows = result["rows"]
    result["traceback_classes"] = traceback_classes(rows)
    result["environment"] = env
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1, default=str))
    order = ["clean_error", "accepted", "accepted_invalid", "overlong_error", "traceback",
             "hang", "crash"]  # fmt: skip
    lines = [
        f"# Recipe validation under mutation: {args.label or out.name}",
        "",
        f"{env['date']}; commit {env['commit']}; Python {env['python']}, pydantic "
        f"{env['pydantic']}, PyYAML {env['pyyaml']}; {env['host']}.",
        "",
        f"Command: `{env['command']}`",
        "",
        f"{len(rows)} mutants of the six shipped recipes (seed {args.seed}), each through "
        f"`accelsearch validate` (timeout {args.timeout} s, data files "
        f"{'present (empty)' if not args.no_data else 'missing'}).",
        "",
        "| outcome | mutants |",
        "| --- | ---: |",
        *[f"| {k} | {result['counts'].get(k, 0)} |" for k in order],
        "",
    ]
    bad = [r for r in rows if r["outcome"] not in ("clean_error", "accepted")]
    if result["traceback_classes"]:
        lines += ["Traceback classes:", ""]
        lines += [f"- {k}: {v}" for k, v in sorted(result["traceback_classes"].items())]
        lines.append("")
    if bad:
        lines += [
            "| id | recipe | mutation | outcome | detail |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in bad[:80]:
            detail = r.get("why") or r.get("message") or r.get("exc") or ""
            detail = str(detail).replace("|", "/").replace("\n", " ")[:120]
            mutation = r["mutation"].replace("|", "/")[:90]
            lines.append(
                f"| {r['id']} | {r['recipe']} | `{mutation}` | {r['outcome']} | {detail} |"
            )
        lines.append("")
    out.with_suffix(".md").write_text("\n".join(lines))


def _environment(argv: list[str]) -> dict:
    import datetime as dt
    import platform

    import pydantic
    import yaml

    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    if commit and git("status", "--porcelain", "--untracked-files=no").strip():
        commit += " + uncommitted changes"
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "pydantic": pydantic.VERSION,
        "pyyaml": yaml.__version__,
        "host": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "command": "python benchmarks/recipe_fuzz.py " + shlex.join(argv),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=1200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per mutant")
    p.add_argument("--no-data", action="store_true", help="leave the recipes' data files out")
    p.add_argument("--label", help="title of the report (e.g. 'before', 'after')")
    p.add_argument("--commit", help="the code's commit, for the report (default: git HEAD)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/robustness/recipe_fuzz")
    args = p.parse_args(argv)
    if args.worker:
        worker()
        return 0
    t0 = time.perf_counter()
    result = campaign(args.count, args.seed, args.timeout, not args.no_data)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    env = _environment(argv)
    env["commit"] = args.commit or env["commit"]
    write_report(result, args.out, args, env)
    print(json.dumps(result["counts"]), f"{result['wall_s']} s", file=sys.stderr)
    for k, v in sorted(traceback_classes(result["rows"]).items()):
        print(f"  {v:4d}  {k}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
