"""Input files and folders a recipe's options name: checked to exist and made absolute.

An option holds a path when its name says so (:data:`PATH_OPTIONS`, or a name ending in one of
:data:`PATH_SUFFIXES`) and its value looks like one (:func:`looks_like_path`). Outputs
(:data:`OUTPUT_PREFIXES`) are only made absolute. A missing input is an error naming the option
and how to get the data, or, when a recipe is validated without its data, a
:class:`~accelsearch.recipe_data.MissingData` entry ``accelsearch validate`` warns about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_core import PydanticCustomError

from accelsearch.core.errors import short_repr
from accelsearch.recipe_data import MissingData

#: option names that hold an input file or folder (also any name ending in one of PATH_SUFFIXES)
PATH_OPTIONS = ("dataset", "val", "val_dataset", "data_root", "csv", "root", "path", "data_dir")
PATH_SUFFIXES = ("_path", "_dir", "_csv", "_file")
#: options named so are outputs (``log_path``, ``out_dir``, ``cache_dir``...): made absolute,
#: never required to exist
OUTPUT_PREFIXES = ("log", "out", "save", "cache", "checkpoint", "export")


def looks_like_path(value: Any) -> bool:
    """A string option that names a file or folder (``data/x``, ``~/x``, ``x.csv``), not a
    bundled name (``digits``, ``torchvision:CIFAR10``, ``nb201``) or a URL."""
    if (
        not isinstance(value, str)
        or not value
        or "://" in value
        or value.startswith("torchvision:")
    ):
        return False
    return "/" in value or "\\" in value or value.startswith("~") or bool(Path(value).suffix)


def check_input_paths(
    options: dict[str, Any], missing: list[MissingData] | None = None
) -> dict[str, Any]:
    """Fail, naming the option, when an input file or folder of ``options`` does not exist;
    else make it absolute. Relative paths start from the working directory, and become
    absolute here because trials run elsewhere (Ray Tune starts each in its own folder).
    With a ``missing`` list, a path that does not exist is added to it instead (and made
    absolute all the same): ``accelsearch validate`` warns about it."""
    out = dict(options)
    for key, value in options.items():
        named = key in PATH_OPTIONS or key.endswith(PATH_SUFFIXES)
        if not (named and looks_like_path(value)):
            continue
        path = Path(value).expanduser()
        if key.startswith(OUTPUT_PREFIXES):
            out[key] = str(path.resolve())
            continue
        try:
            exists = path.exists()
        except OSError as exc:  # a name too long for the file system, ...
            raise PydanticCustomError(
                "path_invalid",
                "{path_text} cannot be a path here ({reason}); fix the path, or override it "
                "with --set",
                {"option": key, "path_text": short_repr(value, 80), "reason": exc.strerror},
            ) from None
        if not exists:
            gap = MissingData(key, value, str(Path.cwd()))
            if missing is None:
                raise PydanticCustomError(
                    "path_missing",
                    "{problem}; {how}",
                    {"option": key, "problem": gap.problem(), "how": gap.how_to_get()},
                )
            missing.append(gap)
        out[key] = str(path.resolve())
    return out
