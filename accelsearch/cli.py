"""The ``accelsearch`` command: arguments from :mod:`accelsearch.cli_args`, each command's
handler in :mod:`accelsearch.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys

from accelsearch import __version__
from accelsearch.cli_args import add_parsers
from accelsearch.core.errors import AccelSearchError

#: the libraries a bug report needs the versions of (read from package metadata: no import)
VERSION_OF = ("torch", "ray", "optuna", "pymoo", "mlflow", "timm")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="accelsearch",
        description="Find CNN families that run fast on your accelerator.",
        formatter_class=argparse.RawDescriptionHelpFormatter,  # --version on one line
    )
    p.add_argument("--version", action="version", version=version_text())
    sub = p.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    return p


def version_text() -> str:
    """``accelsearch X (Python Y; torch Z, ray ...)``: what ``--version`` prints."""
    import platform
    from importlib import metadata

    found = []
    for name in VERSION_OF:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return f"accelsearch {__version__} (Python {platform.python_version()}; {', '.join(found)})"


def command_handler(module: str, function: str):
    """``accelsearch.commands.<module>.<function>``, the handler of the command being run."""
    # The one place the CLI imports a command's module: by name, at run time, and only the
    # one being run. Commands sit above this module (each imports the application layer,
    # PyTorch and Ray at module level), so `--help` and `--version` load none of them.
    return getattr(importlib.import_module(f"accelsearch.commands.{module}"), function)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(command_handler(*args.handler)(args) or 0)
    except AccelSearchError as exc:
        print(f"accelsearch: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
