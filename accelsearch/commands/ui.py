"""``accelsearch ui [--output DIR]``: the MLflow UI on a workspace's store, opened on the newest
family's members (:mod:`accelsearch.ui_views`).

It listens on 127.0.0.1. Another interface (``--host 0.0.0.0``) exposes the UI and MLflow's
API, writes included, to whoever reaches the machine, so it needs MLflow's basic-auth app
(``--app-name basic-auth``, as ``mlflow_server/start.py`` has it: users and passwords, the
admin password from ``MLFLOW_AUTH_ADMIN_PASSWORD`` on first start) or, knowingly,
``--allow-unauthenticated``, which prints a warning.

``mlflow ui`` runs as a child in a process group of its own (it starts a server process
and its workers); SIGTERM, SIGINT or SIGHUP to ``accelsearch ui`` stops that whole group,
so nothing is left serving when it is gone.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from accelsearch.core.errors import ConfigError
from accelsearch.ui_views import install_views

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def find_store(output: str) -> Path:
    """The ``mlflow.db`` of a workspace (or of the only workspace under ``output``)."""

    root = Path(output)
    if (root / "mlflow.db").exists():
        return root / "mlflow.db"
    found = sorted(root.glob("*/mlflow.db")) if root.is_dir() else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise ConfigError(
            f"no MLflow store (mlflow.db) in {str(root)!r}; run `accelsearch run RECIPE.yaml` "
            "first or pass --output with the run's output folder"
        )
    raise ConfigError(
        f"several MLflow stores under {str(root)!r}: "
        + ", ".join(str(p.parent) for p in found)
        + "; pass --output with one of them"
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def check_exposure(args: argparse.Namespace) -> str | None:
    """A ConfigError for a non-loopback host without auth; the warning when allowed."""

    if is_loopback(args.host) or args.app_name:
        return None
    if not args.allow_unauthenticated:
        raise ConfigError(
            f"--host {args.host} would serve the UI and MLflow's API, writes included, without "
            "a password to everyone who reaches this machine; add --app-name basic-auth "
            "(export MLFLOW_AUTH_ADMIN_PASSWORD=... first), or --allow-unauthenticated if that "
            "is what you want"
        )
    return (
        f"[ui] warning: listening on {args.host}:{args.port} WITHOUT authentication: anyone "
        "who reaches this port can read, change and delete these runs"
    )


def ui_command(store: Path, port: int, workers: int = 1, host: str = "127.0.0.1") -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        f"sqlite:///{store.resolve()}",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def auth_setup(workspace: Path, default_permission: str, write: bool = True) -> dict[str, str]:
    """basic-auth's environment: its INI file (users in ``workspace/basic_auth.db``) and the
    key that signs its CSRF tokens (``MLFLOW_FLASK_SERVER_SECRET_KEY``, else a random one
    kept in the workspace, so restarts accept the same tokens)."""
    import secrets

    db = workspace / "basic_auth.db"
    if not db.exists() and not os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD"):
        raise ConfigError(
            "basic-auth creates the user 'admin' on first start and needs its password: "
            "export MLFLOW_AUTH_ADMIN_PASSWORD=... (at least 12 characters) and start again"
        )
    ini = workspace / "basic_auth.ini"
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(ini.resolve())}
    if not write:
        return env
    ini.write_text(
        "[mlflow]\n"
        f"default_permission = {default_permission}\n"
        f"database_uri = sqlite:///{db.resolve()}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    key = os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY")
    if not key:
        path = workspace / "flask_secret_key"
        if not path.exists():
            path.write_text(secrets.token_hex(32))
            path.chmod(0o600)
        key = path.read_text().strip()
    env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = key
    return env


def ui(args: argparse.Namespace) -> int:
    store = find_store(args.output)
    warning = check_exposure(args)
    cmd = ui_command(store, args.port, args.workers, args.host)
    if args.allowed_hosts:
        cmd += ["--allowed-hosts", args.allowed_hosts]
    env: dict[str, str] = {}
    if args.app_name:
        cmd += ["--app-name", args.app_name]
        env = auth_setup(store.parent, args.default_permission, write=not args.dry_run)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    if args.dry_run:
        print(" ".join([*(f"{k}=..." for k in env), *cmd]))
        return 0
    view = install_views(f"sqlite:///{store.resolve()}")
    shown = "localhost" if args.host in ("0.0.0.0", "::") else args.host
    base = f"http://{shown}:{args.port}"
    print(f"[ui] MLflow UI for {store} starting on {base} ...", flush=True)
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, start_new_session=True)
    restore = _raise_on_stop_signals()
    try:
        if _wait_ready(proc, base):
            urls = _announce(base, view)
            if urls and not args.no_browser:
                _open_browser(urls[0])
        return proc.wait()
    except StopSignal as stop:
        print(f"[ui] {signal.Signals(stop.signum).name}: stopping the MLflow UI", flush=True)
        return 128 + stop.signum
    finally:
        restore()
        stop_process_group(proc)  # the server's workers too, however we got here


def _announce(base: str, view) -> list[str]:
    """Print where to look; the URLs, the members view first."""
    if view is None:
        print(f"[ui] ready: {base} (no family in this store yet)", flush=True)
        return [base]
    members, chart = view.url(base), view.url(base, chart=True)
    print(f"[ui] ready: {base} (experiment {view.experiment!r})", flush=True)
    print(
        f"[ui] family {view.family_run_name} - its members (accuracy, latency_ms, reward, "
        f"target_ms): {members}",
        flush=True,
    )
    print(f"[ui]   accuracy vs latency_ms chart: {chart}", flush=True)
    print(f"[ui]   every family's members: {view.url(base, key=view.all_key)}", flush=True)
    return [members, chart]


def _wait_ready(proc: subprocess.Popen, base: str, timeout_s: float = 300.0) -> bool:
    """Until the server answers /health (False: it exited first, or never answered)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(base + "/health", timeout=5):
                return True
        except OSError:
            time.sleep(0.5)
    return False


def _open_browser(url: str) -> None:
    """Open ``url`` where a person is looking at a desktop (not over SSH, not in CI)."""
    import webbrowser

    desktop = sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )
    if desktop and sys.stdout.isatty():
        webbrowser.open(url)


class StopSignal(Exception):
    """SIGTERM, SIGINT or SIGHUP arrived (raised from the handler to unwind the wait)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_on_stop_signals():
    """Turn SIGTERM/SIGINT/SIGHUP into :class:`StopSignal` (the stopping itself happens in
    the caller's ``finally``, outside the handler: waiting on a child there could deadlock
    with the wait it interrupted); returns the function that restores the handlers."""
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def on_signal(signum, frame) -> None:
        raise StopSignal(signum)

    for s in STOP_SIGNALS:
        signal.signal(s, on_signal)

    def restore() -> None:
        for s, handler in previous.items():
            signal.signal(s, handler)

    return restore


def stop_process_group(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    """SIGTERM to the child's process group (server and workers), SIGKILL after ``grace_s``."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    try:  # workers that outlived the server, or a server that ignored SIGTERM
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
