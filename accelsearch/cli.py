"""The ``accelsearch`` command; each sub-command lives in :mod:`accelsearch.commands`."""

from __future__ import annotations

import argparse
import sys

from accelsearch.errors import AccelSearchError


def build_parser() -> argparse.ArgumentParser:
    from accelsearch.commands import command_modules

    p = argparse.ArgumentParser(
        prog="accelsearch",
        description="Find CNN families that run fast on your accelerator.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    for module in command_modules():
        module.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except AccelSearchError as exc:
        print(f"accelsearch: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
