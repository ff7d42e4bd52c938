"""Checks a tracking store passes before anything runs, each failing with the fix.

:func:`check_reachable`: an http(s) tracking server answers, is MLflow and lets the user in
(``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``). :func:`check_database`: a
database store (``postgresql://``, ``mysql://``) has its driver, listens and accepts the
login. Other stores (SQLite, a folder) need no check. :class:`~accelsearch.tracking.Tracker`
runs both first; names are importable from :mod:`accelsearch.tracking` as before.
"""

from __future__ import annotations

import socket
import urllib.parse

from accelsearch.core.errors import ConfigError

REMOTE_SCHEMES = ("http", "https")
#: database stores reached over the network: default port of each dialect
DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433}
DATABASE_TIMEOUT_S = 5


def check_reachable(uri: str, timeout: float = 5.0, hint: str | None = None) -> None:
    """Fail early, with the fix, when an http(s) tracking server does not answer.

    Called before a search starts: a TCP connection shows the server is up, and one small
    authenticated request (``experiments/search``, with ``MLFLOW_TRACKING_USERNAME`` /
    ``MLFLOW_TRACKING_PASSWORD`` when set) shows that it is MLflow and lets us in.
    """
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in REMOTE_SCHEMES:
        return
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    offline_hint = hint or (
        "start it with `python mlflow_server/start.py`, or run with --offline to keep the "
        "results in the workspace's SQLite store and upload them later with `accelsearch sync`"
    )
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(
            f"MLflow tracking server {uri!r} cannot be reached ({exc}); {offline_hint}"
        ) from None
    _check_api(uri, timeout, offline_hint)


def _check_api(uri: str, timeout: float, offline_hint: str) -> None:
    import base64
    import os
    import urllib.error
    import urllib.request

    url = uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=max(timeout, 30.0)) as resp:
            resp.read(1)
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            who = f"user {user!r} was refused" if user else "no user name was given"
            raise ConfigError(
                f"MLflow tracking server {uri!r} asks for a user name and password ({who}); "
                "export MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
            ) from None
        if exc.code == 403:
            raise ConfigError(
                f"MLflow tracking server {uri!r}: user {user!r} may not read experiments "
                "(HTTP 403); ask the server's admin for permission"
            ) from None
        raise ConfigError(
            f"{uri!r} answered HTTP {exc.code} to an MLflow API request: is it an MLflow "
            f"tracking server (and the URI without a path)? {offline_hint}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(
            f"MLflow tracking server {uri!r} does not answer ({reason}); {offline_hint}"
        ) from None


def _safe_db_url(url) -> str:
    return url.render_as_string(hide_password=True)


def check_database(uri: str, timeout: float = DATABASE_TIMEOUT_S) -> None:
    """Fail in seconds, with the fix, when a database store cannot be used.

    MLflow retries a database it cannot reach for about 100 s and then shows SQLAlchemy's
    traceback; here one connection with a ``timeout`` says what is wrong first: the driver
    is missing, nothing listens at host:port, or the server refused the login.
    """
    scheme = uri.split(":", 1)[0].lower()
    dialect = scheme.split("+", 1)[0]
    if dialect not in DATABASE_PORTS:
        return
    import sqlalchemy

    try:
        url = sqlalchemy.engine.make_url(uri)
    except sqlalchemy.exc.ArgumentError as exc:
        raise ConfigError(f"tracking URI is not a valid database URL ({exc})") from None
    shown = _safe_db_url(url)
    if url.host:
        port = url.port or DATABASE_PORTS[dialect]
        try:
            with socket.create_connection((url.host, port), timeout=timeout):
                pass
        except OSError as exc:
            raise ConfigError(
                f"database store {shown!r} cannot be reached at {url.host}:{port} ({exc}); "
                "start the database (or fix host and port in the URI), or leave --tracking-uri "
                "out to use the workspace's SQLite store"
            ) from None
    connect_args = {"connect_timeout": int(timeout)} if dialect in ("postgresql", "mysql") else {}
    try:
        engine = sqlalchemy.create_engine(uri, connect_args=connect_args)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"database store {shown!r} needs the driver {exc.name!r}: pip install "
            f"{'psycopg[binary]' if dialect == 'postgresql' else exc.name}"
        ) from None
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        raise ConfigError(
            f"database store {shown!r} refused the connection ({reason}); check the user, "
            "password and database name in the URI"
        ) from None
    finally:
        engine.dispose()
