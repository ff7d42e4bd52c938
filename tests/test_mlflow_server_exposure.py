"""``mlflow_server/start.py`` serves beyond this machine only with users and passwords
(``--app-name basic-auth``) or an explicit ``--allow-unauthenticated``, which prints a
warning (issue 19: ``--host 0.0.0.0`` started an open server without a word)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow_kit import ROOT, free_port, start_server

START = [sys.executable, str(ROOT / "mlflow_server" / "start.py")]


def _start(tmp_path, *args: str, env: dict[str, str] | None = None, timeout: float = 60):
    """start.py in its own process group (killed whole if it does not return in time)."""
    proc = subprocess.Popen(
        [*START, "--root", str(tmp_path / "d"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)  # it became a server: exactly what must not happen
        proc.communicate()
        pytest.fail(f"start.py {' '.join(args)} started a server instead of refusing")
    return proc.returncode, out, err


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_a_host_beyond_loopback_without_auth_is_refused(tmp_path, host):
    port = str(free_port())
    code, _, err = _start(tmp_path, "--host", host, "--port", port, timeout=30)
    assert code == 2
    assert f"--host {host} serves beyond this machine" in err
    assert "--app-name basic-auth" in err and "--allow-unauthenticated" in err


def test_allow_unauthenticated_starts_with_a_warning(tmp_path):
    code, out, err = _start(tmp_path, "--host", "0.0.0.0", "--allow-unauthenticated", "--dry-run")
    assert code == 0 and "--host 0.0.0.0" in out
    assert "warning: serving MLflow on 0.0.0.0:5000 WITHOUT authentication" in err


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_needs_nothing_and_warns_of_nothing(tmp_path, host):
    code, out, err = _start(tmp_path, "--host", host, "--dry-run")
    assert code == 0 and f"--host {host}" in out and err == ""


def test_basic_auth_may_serve_beyond_loopback_without_a_warning(tmp_path):
    env = {"MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-password"}
    code, out, err = _start(
        tmp_path, "--host", "0.0.0.0", "--app-name", "basic-auth", "--dry-run", env=env
    )
    assert code == 0 and "--app-name basic-auth" in out and "warning" not in err


@pytest.mark.slow
def test_an_allowed_open_server_really_serves_and_says_so(tmp_path):
    server = start_server(tmp_path / "open", "--host", "0.0.0.0", "--allow-unauthenticated")
    try:
        assert "WITHOUT authentication" in server.log.read_text()
    finally:
        server.stop()
