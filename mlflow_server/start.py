#!/usr/bin/env python3
"""Start the MLflow tracking server that accelsearch runs log to (see README.md here).

Defaults: 127.0.0.1:5000, a SQLite backend store and a local artifact folder under
``--root`` (``./mlflow-data``), artifacts proxied through the server (``--serve-artifacts``),
so clients need no access to the artifact folder. Options: a PostgreSQL backend store
(``--backend-store-uri postgresql://user:pass@host:5432/db``) and
MLflow's basic-auth app (``--app-name basic-auth``; the admin password comes from
``MLFLOW_AUTH_ADMIN_PASSWORD``), for a server a team shares. ``postgresql://`` uses the psycopg 3
driver (``pip install 'psycopg[binary]'``), ``postgresql+psycopg2://`` psycopg2.

    python mlflow_server/start.py                       # http://127.0.0.1:5000
    accelsearch run recipes/quickstart.yaml --tracking-uri http://127.0.0.1:5000

The script replaces itself with ``mlflow server`` (``--dry-run`` prints the command
instead), so stopping it (Ctrl-C, SIGTERM to its process group) stops the server.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import sys
from pathlib import Path

AUTH_PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mlflow_server/start.py",
        description="Start an MLflow tracking server for accelsearch (SQLite by default).",
    )
    p.add_argument(
        "--root",
        default="mlflow-data",
        help="folder for the SQLite store, the artifacts and the auth database "
        "(default: ./mlflow-data)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default: 127.0.0.1, this machine only); any other needs "
        "--app-name basic-auth or --allow-unauthenticated",
    )
    p.add_argument(
        "--allow-unauthenticated",
        action="store_true",
        help="serve beyond this machine without basic-auth: anyone who reaches the port can "
        "read, change and delete every run (only on a network you trust)",
    )
    p.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    p.add_argument("--workers", type=int, default=1, help="server worker processes (default: 1)")
    p.add_argument(
        "--backend-store-uri",
        help="where runs are stored: default sqlite:///ROOT/mlflow.db; "
        "PostgreSQL: postgresql://user:password@host:5432/dbname",
    )
    p.add_argument(
        "--artifacts-destination",
        help="where the server keeps artifacts (default: ROOT/mlartifacts; s3://... works too)",
    )
    p.add_argument(
        "--app-name",
        choices=["basic-auth"],
        help="basic-auth: users and passwords (admin password from MLFLOW_AUTH_ADMIN_PASSWORD)",
    )
    p.add_argument(
        "--auth-db-uri",
        help="basic-auth's user database (default: sqlite:///ROOT/basic_auth.db)",
    )
    p.add_argument(
        "--default-permission",
        default="READ",
        choices=AUTH_PERMISSIONS,
        help="basic-auth: what users may do with experiments they did not create (default READ)",
    )
    p.add_argument(
        "--allowed-hosts",
        help="Host headers the server accepts when it is reached by name (mlflow's option)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the command, start nothing")
    return p


class StartError(RuntimeError):
    """A setting that cannot work; the message says how to fix it."""


def sqlite_uri(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


#: pip package of each SQLAlchemy database driver a store URI may need
DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pymysql": "pymysql",
    "mysqldb": "mysqlclient",
    "pymssql": "pymssql",
}


def check_backend_uri(uri: str) -> None:
    """A database store needs its driver; say which, before MLflow fails deep inside
    SQLAlchemy (``postgresql://`` uses psycopg 3, ``postgresql+psycopg2://`` psycopg2)."""
    if uri.startswith("file:") or "://" not in uri:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        dialect = make_url(uri).get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise StartError(
            f"backend store URI {_hide_password(uri)!r} is not usable ({exc}); use "
            "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DB"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError:
        package = DRIVER_PACKAGES.get(dialect.driver, dialect.driver)
        extra = " (or pip install -e '.[server]')" if dialect.driver == "psycopg" else ""
        raise StartError(
            f"backend store {_hide_password(uri)!r} needs the database driver "
            f"{dialect.driver!r}: pip install '{package}'{extra}"
        ) from None


def _hide_password(uri: str) -> str:
    head, sep, tail = uri.rpartition("@")
    if not sep or ":" not in head.split("//", 1)[-1]:
        return uri
    scheme, _, cred = head.partition("//")
    return f"{scheme}//{cred.split(':', 1)[0]}:***@{tail}"


def secret_key(root: Path) -> str:
    """basic-auth signs its CSRF tokens with MLFLOW_FLASK_SERVER_SECRET_KEY; without one set,
    use a random key kept in ROOT (so that restarts keep accepting the same tokens)."""
    import secrets

    given = os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY")
    if given:
        return given
    path = root / "flask_secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise StartError(
                f"cannot listen on {host}:{port} ({exc.strerror}); another server may already "
                f"be running there (check http://{host}:{port}), or pass --port"
            ) from None


def is_loopback(host: str) -> bool:
    """True when ``host`` is reachable from this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:  # a name: loopback only if every address it has is
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_exposure(args: argparse.Namespace) -> str | None:
    """A server reachable from other machines needs users and passwords, or an explicit
    ``--allow-unauthenticated``; returns the warning to print in that case."""
    if is_loopback(args.host) or args.app_name == "basic-auth":
        return None
    where = f"{args.host}:{args.port}"
    if not args.allow_unauthenticated:
        raise StartError(
            f"--host {args.host} serves beyond this machine, and without authentication anyone "
            f"who reaches {where} can read, change and delete every run; add --app-name "
            "basic-auth (users and passwords, see mlflow_server/README.md), or pass "
            "--allow-unauthenticated on a network you trust"
        )
    return (
        f"warning: serving MLflow on {where} WITHOUT authentication: anyone who reaches this "
        "port can read, change and delete every run (--allow-unauthenticated)"
    )


def write_auth_config(root: Path, db_uri: str, default_permission: str) -> Path:
    """basic-auth reads its settings from an INI file named by MLFLOW_AUTH_CONFIG_PATH."""
    path = root / "basic_auth.ini"
    path.write_text(
        "[mlflow]\n"
        f"default_permission = {default_permission}\n"
        f"database_uri = {db_uri}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return path


def plan(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """The ``mlflow server`` command line and the environment it needs."""
    root = Path(args.root)
    backend = args.backend_store_uri or sqlite_uri(root / "mlflow.db")
    check_backend_uri(backend)
    artifacts = args.artifacts_destination or str((root / "mlartifacts").resolve())
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--backend-store-uri",
        backend,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts,
    ]
    if args.allowed_hosts:
        cmd += ["--allowed-hosts", args.allowed_hosts]
    env: dict[str, str] = {}
    if args.app_name == "basic-auth":
        if not os.environ.get("MLFLOW_AUTH_ADMIN_PASSWORD") and not args.auth_db_uri:
            db = root / "basic_auth.db"
            if not db.exists():
                raise StartError(
                    "basic-auth creates the user 'admin' on first start and needs its password: "
                    "export MLFLOW_AUTH_ADMIN_PASSWORD=... (at least 12 characters) and start again"
                )
        cmd += ["--app-name", "basic-auth"]
        db_uri = args.auth_db_uri or sqlite_uri(root / "basic_auth.db")
        if args.dry_run:
            env["MLFLOW_AUTH_CONFIG_PATH"] = str((root / "basic_auth.ini").resolve())
        else:
            config = write_auth_config(root, db_uri, args.default_permission)
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(config.resolve())
            env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = secret_key(root)
    return cmd, env


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if not args.dry_run:
            Path(args.root).mkdir(parents=True, exist_ok=True)
        warning = check_exposure(args)
        cmd, env = plan(args)
        if not args.dry_run:
            check_port_free(args.host, args.port)
    except StartError as exc:
        print(f"mlflow_server/start.py: error: {exc}", file=sys.stderr)
        return 2
    if warning:
        print(f"mlflow_server/start.py: {warning}", file=sys.stderr, flush=True)
    shown = " ".join(shlex.quote(c) for c in cmd)
    if args.dry_run:
        for k, v in env.items():
            print(f"{k}={shlex.quote(v)}")
        if args.app_name == "basic-auth":
            print("MLFLOW_FLASK_SERVER_SECRET_KEY=<from the environment or ROOT/flask_secret_key>")
        print(shown)
        return 0
    print(f"[mlflow] http://{args.host}:{args.port}  ({shown})", flush=True)
    os.execvpe(cmd[0], cmd, {**os.environ, **env})
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
