"""How fast faults of the tracking store are noticed, and what a resume of a finished run costs.

Measured (figures for ``docs/reliability.md``):

* ``dead_server``: a real tracking server (``mlflow_server/start.py``) is SIGKILLed while a
  :class:`~accelsearch.tracking_failover.FailoverTracker` logs to it; the next call finds it
  gone after MLflow's bounded retries (``noticed_after_s``) and the run goes on in the
  workspace's store (``local_store_ready_s``: making a fresh SQLite store);
* ``hung_server``: the same with the server stopped (SIGSTOP: it accepts connections and
  never answers), so every attempt waits for the request timeout;
* ``mlflow_defaults`` (``--mlflow-defaults``, about 4 minutes): one request to a closed port
  with MLflow's own retry settings, what a run waited per request before;
* ``postgresql_refused``: ``accelsearch run`` with a ``postgresql://`` URI nobody listens on;
* ``read_only_user``: ``accelsearch run`` as a user with READ permission on a basic-auth
  server;
* ``resume_finished`` (``--resume``): a tiny quickstart run (offline), then ``accelsearch
  resume`` of the finished run: LACS's wall time then, and the resume's now.

Run here (CPU)::

    python benchmarks/tracking_faults.py --mlflow-defaults --resume \\
        --out benchmarks/results/reliability/tracking_faults_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ROOT, environment

sys.path.insert(0, str(ROOT / "tests"))
from mlflow_kit import TINY, free_port, rest, start_server  # noqa: E402

from accelsearch.errors import ConfigError  # noqa: E402
from accelsearch.tracking import HTTP_RETRY_DEFAULTS  # noqa: E402
from accelsearch.tracking_failover import FailoverTracker  # noqa: E402

QUICKSTART = str(ROOT / "recipes" / "quickstart.yaml")


def _server_fault(tmp: Path, sig: int) -> dict[str, Any]:
    server = start_server(tmp / f"server-{sig}")
    ws = tmp / f"ws-{sig}"
    tracker = FailoverTracker(server.url, "faults", ws, printer=lambda s: None)
    search = tracker.start_run("search", "s")
    trial = tracker.start_run("trial", "t", parent_id=search)
    tracker.log_metrics(trial, {"accuracy": 1.0})
    try:
        os.killpg(server.proc.pid, sig)
        t0 = time.monotonic()
        tracker.log_metrics(trial, {"accuracy": 2.0}, step=1)
        call_s = time.monotonic() - t0
    finally:
        if sig == signal.SIGSTOP:
            os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(30)
    return {**tracker.fallback, "first_call_s": round(call_s, 2), "offline": tracker.offline}


def _mlflow_defaults() -> dict[str, Any]:
    code = (
        "import time; from mlflow.tracking import MlflowClient\n"
        f"c = MlflowClient('http://127.0.0.1:{free_port()}')\n"
        "t = time.monotonic()\n"
        "try: c.log_metric('0' * 32, 'x', 1.0)\n"
        "except Exception: pass\n"
        "print(round(time.monotonic() - t, 2))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in HTTP_RETRY_DEFAULTS}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    return {"one_request_s": float(out.stdout.strip().splitlines()[-1])}


def _cli_error(argv: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    from accelsearch.cli import main

    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        t0 = time.monotonic()
        rc = main(argv)
        return {"rc": rc, "seconds": round(time.monotonic() - t0, 2)}
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _read_only_user(tmp: Path) -> dict[str, Any]:
    from accelsearch.tracking import Tracker

    admin = ("admin", "admin-bench-password-1")
    server = start_server(
        tmp / "auth", "--app-name", "basic-auth", env={"MLFLOW_AUTH_ADMIN_PASSWORD": admin[1]}
    )
    try:
        os.environ.update(MLFLOW_TRACKING_USERNAME=admin[0], MLFLOW_TRACKING_PASSWORD=admin[1])
        Tracker(server.url, "team")
        user = {"username": "reader", "password": "reader-bench-password-1"}
        rest(server.url, "/api/2.0/mlflow/users/create", user, auth=admin)
        ws = tmp / "ws-reader"
        argv = ["run", QUICKSTART, "--output", str(ws), "--tracking-uri", server.url]
        out = _cli_error(
            argv + ["--set", "tracking.experiment=team"],
            {"MLFLOW_TRACKING_USERNAME": "reader", "MLFLOW_TRACKING_PASSWORD": user["password"]},
        )
        return {**out, "workspace_made": ws.exists()}
    finally:
        server.stop()


def _resume_finished(tmp: Path) -> dict[str, Any]:
    import ray

    from accelsearch.cli import main

    ws = tmp / "ws-resume"
    sets = [x for s in TINY for x in ("--set", s)]
    t0 = time.monotonic()
    try:
        assert main(["run", QUICKSTART, "--output", str(ws), *sets]) == 0
    finally:
        ray.shutdown()
    run_s = time.monotonic() - t0
    family = json.loads((ws / "latest" / "family.json").read_text())
    t0 = time.monotonic()
    assert main(["resume", str(ws)]) == 0
    return {
        "run_s": round(run_s, 1),
        "lacs_s": round(family["wall_s"], 1),
        "resume_finished_s": round(time.monotonic() - t0, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="benchmarks/results/reliability/tracking_faults_cpu.json")
    ap.add_argument("--mlflow-defaults", action="store_true", help="also time MLflow's own")
    ap.add_argument("--resume", action="store_true", help="also time a resume of a finished run")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="accelsearch-faults-"))
    data: dict[str, Any] = {
        "environment": environment("cpu", load_average=os.getloadavg()),
        "http_settings": HTTP_RETRY_DEFAULTS,
    }
    data["dead_server"] = _server_fault(tmp, signal.SIGKILL)
    data["hung_server"] = _server_fault(tmp, signal.SIGSTOP)
    pg = f"postgresql://mlflow:pw@127.0.0.1:{free_port()}/mlflow"
    data["postgresql_refused"] = _cli_error(
        ["run", QUICKSTART, "--output", str(tmp / "ws-pg"), "--tracking-uri", pg]
    )
    data["read_only_user"] = _read_only_user(tmp)
    if args.mlflow_defaults:
        data["mlflow_defaults"] = _mlflow_defaults()
    if args.resume:
        data["resume_finished"] = _resume_finished(tmp)
    data["environment"]["load_average_end"] = os.getloadavg()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    try:
        main()
    except ConfigError as exc:
        sys.exit(f"tracking_faults: {exc}")
