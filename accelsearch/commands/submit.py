"""``accelsearch submit RECIPE.yaml --address http://HEAD:8265``: run a recipe as a Ray Job.

The recipe is validated here first, then uploaded with the job (Ray's ``working_dir``,
together with ``--working-dir`` when given, e.g. code that registers custom spaces) and run
on the cluster as ``python -m accelsearch run RECIPE --address auto``. The job's logs are
streamed until it ends; the job id is printed first, so a session that is interrupted can
follow it again with ``ray job logs --follow JOB_ID``. The run's output folder lives on the
cluster (``--output``, default ``$HOME/accelsearch-runs/<recipe name>`` there); point
``--tracking-uri`` at a shared MLflow server to see the results from anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from accelsearch.core.errors import ConfigError
from accelsearch.recipe import load_recipe

RECIPE_NAME = "accelsearch-recipe.yaml"


def entrypoint(args: argparse.Namespace, recipe_name: str) -> str:
    """The shell command the cluster runs: every argument quoted (``shlex.quote``), so that
    no recipe name, override or path is read by the cluster's shell; only a leading
    ``$HOME/`` or ``~/`` of the output folder is left for that shell to expand."""
    output = args.output or f"$HOME/accelsearch-runs/{recipe_name}"
    argv = ["run", RECIPE_NAME, "--address", "auto"]
    if args.tracking_uri:
        argv += ["--tracking-uri", args.tracking_uri]
    for item in args.set:
        argv += ["--set", item]
    if not args.imports:
        command = [args.python, "-m", "accelsearch", *argv]
    else:
        code = (
            "import importlib, sys; "
            + "".join(f"importlib.import_module({m!r}); " for m in args.imports)
            + "from accelsearch.cli import main; sys.exit(main(sys.argv[1:]))"
        )
        command = [args.python, "-c", code, *argv]
    return " ".join(shlex.quote(a) for a in command) + " --output " + _quoted_output(output)


def _quoted_output(output: str) -> str:
    """``output`` quoted for the shell, its leading ``$HOME/`` or ``~/`` expanded there."""
    for home in ("$HOME/", "${HOME}/", "~/"):
        if output.startswith(home):
            rest = output[len(home) :]
            return '"$HOME"/' + shlex.quote(rest) if rest else '"$HOME"'
    return shlex.quote(output)


def submit(args: argparse.Namespace) -> int:
    from ray.job_submission import JobStatus, JobSubmissionClient

    _import_locally(args.imports, args.working_dir)
    recipe = load_recipe(args.recipe, args.set)  # bad input fails here, not on the cluster
    try:
        client = JobSubmissionClient(args.address, headers=auth_headers(args.token))
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"cannot reach the Ray job server at {args.address!r} ({exc}); start the head with "
            "`ray start --head --dashboard-host 0.0.0.0` (the dashboard serves jobs, port 8265) "
            "and pass --address http://HEAD:8265"
        ) from None
    with tempfile.TemporaryDirectory(prefix="accelsearch-job-") as tmp:
        wd = Path(tmp) / "job"
        if args.working_dir:
            shutil.copytree(
                args.working_dir, wd, ignore=shutil.ignore_patterns(".git", "__pycache__")
            )
        else:
            wd.mkdir()
        shutil.copyfile(args.recipe, wd / RECIPE_NAME)
        job_id = client.submit_job(
            entrypoint=entrypoint(args, recipe.name),
            runtime_env={"working_dir": str(wd)},
            submission_id=args.job_id,
            metadata={"accelsearch.recipe": recipe.name},
        )
    print(f"[submit] job {job_id} on {args.address}", flush=True)
    if args.no_wait:
        print(job_id)
        return 0
    asyncio.run(_stream(client, job_id))
    status = client.get_job_status(job_id)
    print(f"[submit] job {job_id}: {status.value}", flush=True)
    print(job_id)
    return 0 if status == JobStatus.SUCCEEDED else 1


def _import_locally(modules: list[str], working_dir: str | None) -> None:
    """Import the ``--import`` modules here too, so the recipe validates before submitting."""
    import importlib

    if working_dir:
        sys.path.insert(0, str(Path(working_dir).resolve()))
    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError as exc:
            raise ConfigError(
                f"--import {m}: {exc}; the module must be importable from --working-dir"
            ) from None


def auth_headers(token: str | None = None) -> dict[str, str]:
    """Bearer token for clusters with Ray's token authentication (on by default since Ray
    2.5x for ``ray start --head``); harmless for clusters without it."""
    import os

    token = token or os.environ.get("RAY_AUTH_TOKEN")
    if not token:
        path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
        if path.is_file():
            token = path.read_text().strip()
    return {"Authorization": f"Bearer {token.strip()}"} if token else {}


async def _stream(client, job_id: str) -> None:
    async for lines in client.tail_job_logs(job_id):
        sys.stdout.write(lines)
        sys.stdout.flush()
