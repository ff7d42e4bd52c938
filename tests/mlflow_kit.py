"""Helpers for tests that need real servers: an MLflow tracking server started by
``mlflow_server/start.py``, a throwaway PostgreSQL cluster, MLflow's REST API, and a small
workspace with two real families (cached for the whole pytest process)."""

from __future__ import annotations

import atexit
import base64
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVER_START_TIMEOUT_S = float(os.environ.get("ACCELSEARCH_TEST_SERVER_TIMEOUT", "300"))

#: shrinks the quickstart to one trial of one epoch and a 2-member family (about a minute)
TINY = [
    "search.num_samples=1",
    "accuracy.options.epochs=1",
    "accuracy.options.data_fraction=0.3",
    "scaling.targets=[1.5]",
    "scaling.grid=[[1.0,1.2,1.2]]",
    "scaling.max_measurements=4",
    "scaling.tolerance=0.2",
    "latency.batch_size=1",
    "latency.protocol={warmup: 1, min_reps: 5, max_reps: 20, max_seconds: 0.3}",
]


def worktree_on_pythonpath(monkeypatch=None) -> None:
    """Ray workers start from the environment: let them import this checkout of accelsearch
    (not another installed copy)."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    value = os.pathsep.join(dict.fromkeys(paths))
    if monkeypatch is not None:
        monkeypatch.setenv("PYTHONPATH", value)
    else:
        os.environ["PYTHONPATH"] = value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- REST ------------------------------------------------------------------------------------
def rest(
    url: str,
    path: str,
    body: dict | None = None,
    auth: tuple[str, str] | None = None,
    raw: bool = False,
    **q,
):
    """One MLflow REST call (GET with query ``q``, or POST ``body``); parsed JSON, or the
    bytes with ``raw``."""
    full = url.rstrip("/") + path + (("?" + urllib.parse.urlencode(q, doseq=True)) if q else "")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(full, data=data, method="POST" if body is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header(
            "Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        )
    with urllib.request.urlopen(req, timeout=60) as resp:
        data = resp.read()
    return data if raw else json.loads(data or b"{}")


def search_runs(url: str, experiment_name: str, auth=None) -> list[dict]:
    exp = rest(
        url, "/api/2.0/mlflow/experiments/get-by-name", auth=auth, experiment_name=experiment_name
    )["experiment"]
    runs, token = [], None
    while True:
        body = {"experiment_ids": [exp["experiment_id"]], "max_results": 500}
        if token:
            body["page_token"] = token
        page = rest(url, "/api/2.0/mlflow/runs/search", body, auth=auth)
        runs += page.get("runs", [])
        token = page.get("next_page_token")
        if not token:
            return runs


def tags_of(run: dict) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def params_of(run: dict) -> dict[str, str]:
    return {p["key"]: p["value"] for p in run["data"].get("params", [])}


def metrics_of(run: dict) -> dict[str, float]:
    return {m["key"]: m["value"] for m in run["data"].get("metrics", [])}


# -- the MLflow server -----------------------------------------------------------------------
@dataclass
class Server:
    proc: subprocess.Popen
    url: str
    root: Path
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the group start_server made for it
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)


def start_server(
    root: Path, *args: str, env: dict[str, str] | None = None, port: int | None = None
) -> Server:
    """``mlflow_server/start.py --root ROOT --port PORT ARGS`` (default: a free port); waits
    for ``/health``. A server stopped and started again on its root and port is the same
    server to its clients."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = root / "server.log"
    cmd = [sys.executable, str(ROOT / "mlflow_server" / "start.py"), "--root", str(root)]
    cmd += ["--port", str(port), *args]
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    server = Server(proc, f"http://127.0.0.1:{port}", root, log)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"MLflow server exited ({proc.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=5) as resp:
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    server.stop()
    raise RuntimeError(
        f"MLflow server did not answer in {SERVER_START_TIMEOUT_S} s:\n{log.read_text()}"
    )


# -- PostgreSQL --------------------------------------------------------------------------------
def postgres_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@dataclass
class Postgres:
    bindir: Path
    data: Path
    port: int
    user: str | None  # OS user that runs the server (None: this one)

    @property
    def uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/mlflow"

    def stop(self) -> None:
        _as(self.user, [str(self.bindir / "pg_ctl"), "-D", str(self.data), "stop", "-m", "fast"])


def _as(user: str | None, cmd: list[str], **kw) -> subprocess.CompletedProcess:
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, **kw)


def start_postgres() -> Postgres:
    """A throwaway cluster in a temp folder (run as the ``postgres`` or ``nobody`` user when
    we are root, since PostgreSQL refuses root); raises RuntimeError saying why it cannot."""
    bindir = postgres_bin()
    if bindir is None or not (bindir / "pg_ctl").exists():
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    user = None
    if os.geteuid() == 0:
        import pwd

        for name in ("postgres", "nobody"):
            try:
                pwd.getpwnam(name)
                user = name
                break
            except KeyError:
                continue
        if user is None:
            raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run it")
    base = Path(tempfile.mkdtemp(prefix="accelsearch-pg-"))
    atexit.register(shutil.rmtree, base, True)
    if user:
        shutil.chown(base, user=user)
    data = base / "data"
    port = free_port()
    r = _as(user, [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"])
    if r.returncode:
        raise RuntimeError(f"initdb failed: {r.stderr.strip()[-500:]}")
    opts = f"-p {port} -k {base} -h 127.0.0.1"
    r = _as(
        user,
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-l",
            str(base / "log"),
            "-w",
            "start",
        ],
    )
    if r.returncode:
        log = (base / "log").read_text() if (base / "log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()[-300:]} {log[-500:]}")
    pg = Postgres(bindir, data, port, user)
    r = _as(
        user,
        [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow"],
    )
    if r.returncode:
        pg.stop()
        raise RuntimeError(f"createdb failed: {r.stderr.strip()[-300:]}")
    return pg


# -- a workspace with two real families --------------------------------------------------------
@functools.cache
def family_workspace() -> Path:
    """Two tiny quickstart runs made with ``accelsearch run --offline`` (seeds 0 and 1,
    recipe names tiny-a and tiny-b, two epochs so that metrics have a history) in one
    workspace and one MLflow experiment ``families``: two searches, two families. Their
    ``--tracking-uri`` names a server that does not exist (offline runs never contact it).
    Made once per pytest process and shared by the tests that only read it."""
    import ray

    from accelsearch.cli import main

    ws = Path(tempfile.mkdtemp(prefix="accelsearch-families-"))
    atexit.register(shutil.rmtree, ws, True)
    worktree_on_pythonpath()
    try:
        for seed, name in ((0, "tiny-a"), (1, "tiny-b")):
            sets = [*TINY, "accuracy.options.epochs=2", f"name={name}", f"search.seed={seed}"]
            sets.append("tracking.experiment=families")
            argv = ["run", str(ROOT / "recipes" / "quickstart.yaml"), "--output", str(ws)]
            argv += ["--offline", "--tracking-uri", f"http://127.0.0.1:{free_port()}"]
            if main(argv + [x for s in sets for x in ("--set", s)]) != 0:
                raise RuntimeError(f"the offline run {name} failed")
    finally:
        ray.shutdown()
    return ws
