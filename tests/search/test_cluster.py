"""A real Ray head (``ray start --head``, dashboard on, random free ports, token auth with a
token of the test's own), then:

* ``accelsearch submit RECIPE --address http://127.0.0.1:PORT`` runs the recipe as a Ray
  Job, streams its logs and prints the job id;
* ``accelsearch run RECIPE --address auto`` (with ``RAY_ADDRESS``) joins that cluster.

The head runs in its own process group and is stopped (TERM, then KILL) after the module.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def head_process():
    ray_bin = Path(sys.executable).with_name("ray")
    if not ray_bin.exists():
        pytest.skip(f"no `ray` command next to {sys.executable}")
    temp = tempfile.mkdtemp(prefix="asr", dir="/tmp")  # short: Ray's socket paths are limited
    token = Path(temp) / "token"
    token.write_text(secrets.token_hex(32))
    gcs, dash = _free_port(), _free_port()
    env = {
        **os.environ,
        # jobs run with the head's environment: this Python, this checkout, our token
        "PATH": f"{ray_bin.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    env.pop("RAY_ADDRESS", None)
    cmd = [
        str(ray_bin),
        "start",
        "--head",
        "--block",
        f"--port={gcs}",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dash}",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--ray-client-server-port={_free_port()}",
        "--num-cpus=2",
        f"--object-store-memory={200 * 1024**2}",
        f"--temp-dir={temp}",
        "--disable-usage-stats",
    ]
    log = open(Path(temp) / "head.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.time() + 180
        while True:
            assert proc.poll() is None, (Path(temp) / "head.log").read_text()
            try:
                req = urllib.request.Request(
                    f"{url}/api/version", headers={"Authorization": f"Bearer {token.read_text()}"}
                )
                if urllib.request.urlopen(req, timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "the Ray head did not come up"
            time.sleep(1)
        yield {"url": url, "gcs": f"127.0.0.1:{gcs}", "env": env, "token": token, "proc": proc,
               "log": Path(temp) / "head.log"}  # fmt: skip
    finally:
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def head(head_process):
    """The module's head, checked alive before each test: where it has died (CI once saw its
    job WebSocket close, then a 300 s timeout), the test fails at once with the head's log."""
    proc = head_process["proc"]
    if proc.poll() is not None:
        tail = head_process["log"].read_text()[-4000:]
        pytest.fail(f"the Ray head exited ({proc.returncode}) before this test:\n{tail}")
    return head_process


def _recipe(path: Path, name: str) -> Path:
    raw = {
        "name": name,
        "num_classes": 4,
        "space": {"name": "search_tiny"},
        "latency": {
            "backend": "torch",
            "device": "cpu",
            "batch_size": 2,
            "protocol": {"warmup": 1, "min_reps": 3, "max_reps": 5, "max_seconds": 0.2},
        },
        "accuracy": {"evaluator": "search_score", "options": {"epochs": 1}},
        "reward": {"target_ms": 0.5},
        "search": {"strategy": "optuna-tpe", "num_samples": 3, "cpus_per_trial": 1},
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def test_submit_runs_a_recipe_as_a_ray_job(head, tmp_path, capsys, monkeypatch):
    import search_testkit  # noqa: F401 - registers the test space here (the recipe validates)

    from accelsearch.cli import main

    wd = tmp_path / "code"
    wd.mkdir()
    shutil.copy(HERE / "search_testkit.py", wd)  # the job imports it on the cluster
    recipe = _recipe(tmp_path / "recipe.yaml", "submitted")
    out_dir = tmp_path / "cluster-ws"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(head["token"]))
    code = main(
        [
            "submit",
            str(recipe),
            "--address",
            head["url"],
            "--working-dir",
            str(wd),
            "--import",
            "search_testkit",
            "--output",
            str(out_dir),
            "--set",
            "search.seed=3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    job_id = out.strip().splitlines()[-1]
    assert job_id.startswith("raysubmit_") and f"[submit] job {job_id}: SUCCEEDED" in out
    assert "[search] 3/3 done" in out  # the job's logs were streamed here
    runs = [p for p in out_dir.iterdir() if p.name.startswith("submitted-")]
    assert len(runs) == 1 and (runs[0] / "search.json").exists()
    assert '"seed": 3' in (runs[0] / "recipe.json").read_text()  # --set reached the job

    from ray.job_submission import JobSubmissionClient

    from accelsearch.commands.submit import auth_headers

    client = JobSubmissionClient(head["url"], headers=auth_headers())
    assert client.get_job_info(job_id).metadata["accelsearch.recipe"] == "submitted"


def test_run_with_address_auto_joins_the_cluster(head, tmp_path):
    recipe = _recipe(tmp_path / "recipe.yaml", "joined")
    code = (
        f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(HERE)!r}]; import search_testkit; "
        "from accelsearch.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    env = {**head["env"], "RAY_ADDRESS": head["gcs"]}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "run",
            str(recipe),
            "--address",
            "auto",
            "--output",
            str(tmp_path / "ws"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    gcs_port = head["gcs"].rsplit(":", 1)[1]
    joined = [ln for ln in proc.stdout.splitlines() if ln.startswith("[search] joined Ray cluster")]
    assert joined and joined[0].endswith(f":{gcs_port} (2 CPUs, 0 GPUs)"), proc.stdout
    assert "[search] 3/3 done" in proc.stdout
