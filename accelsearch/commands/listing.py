"""``accelsearch list``: what a recipe can name, one line each, read from the registries."""

from __future__ import annotations

import argparse
import shutil
import sys

from accelsearch import spaces
from accelsearch.cli_args import LIST_SECTIONS
from accelsearch.objectives import accuracy, latency
from accelsearch.search.strategy import STRATEGIES

NO_DOCSTRING = "(no description: its class has no docstring)"


def first_paragraph(text: str | None) -> str:
    """A docstring's first paragraph on one line, without reST markup (a plug-in without a
    docstring, like the README's example space, still gets a line that says so)."""
    line = " ".join((text or "").strip().split("\n\n")[0].split()).replace("``", "")
    return line or NO_DOCSTRING


def entries() -> dict[str, list[tuple[str, str]]]:
    """``{section title: [(name, one line), ...]}`` from the registries."""

    backends = [("auto", "the best backend installed for the device (each result names it)")]
    backends += [(n, first_paragraph(latency.BACKENDS.get(n).__doc__)) for n in latency.BACKENDS]
    return {
        "spaces": [(n, first_paragraph(spaces.SPACES.get(n).__doc__)) for n in spaces.list()],
        "strategies": [(n, STRATEGIES.get(n).description) for n in STRATEGIES],
        "latency backends": backends,
        "accuracy evaluators": [
            (n, first_paragraph(accuracy.EVALUATORS.get(n).__doc__)) for n in accuracy.EVALUATORS
        ],
    }


def list_names(args: argparse.Namespace) -> int:
    # a terminal gets lines cut to its width; a pipe or file gets them whole
    width = shutil.get_terminal_size((0, 0)).columns if sys.stdout.isatty() else 0
    found = entries()
    for title, field in LIST_SECTIONS:
        if args.kind and not title.startswith(args.kind):
            continue
        print(f"{title} (recipe field {field}):")
        rows = found[title]
        pad = max(len(name) for name, _ in rows) + 2
        for name, line in rows:
            text = f"  {name:<{pad}}{line}"
            print(text if not width or len(text) <= width else text[: width - 1] + "…")
        print()
    return 0
