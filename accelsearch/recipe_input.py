"""Reading a recipe's YAML defensively, before the recipe model sees it.

A recipe is text a user wrote, copied or was sent, so the reader refuses, with a message
naming the place and the fix (never a traceback, never a hang):

* bytes that are not UTF-8 (a UTF-8, UTF-16 or UTF-32 file with a byte-order mark is read);
* a key given twice in one mapping (YAML would keep the last one silently);
* aliases that expand past :data:`MAX_NODES` values, or refer to themselves (an "alias bomb"
  of a few KB expands to billions of values in whatever walks the data);
* integers too long to convert (Python refuses more than 4,300 digits) and, in
  :func:`value_problems`, NaN, infinities and integers beyond 64 bits anywhere in a recipe:
  no recipe field means anything with them.
"""

from __future__ import annotations

import codecs
import math
from pathlib import Path
from typing import Any

import yaml

from accelsearch.core.errors import MAX_MESSAGE as MAX_MESSAGE  # the old import path
from accelsearch.core.errors import ConfigError, short_repr
from accelsearch.core.errors import format_validation_error as format_validation_error

#: values a recipe may expand to, aliases counted every time they are used
MAX_NODES = 100_000
#: integers beyond 64 bits mean nothing in a recipe (seeds, counts, sizes)
MAX_INT = 2**63 - 1

_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def decode(data: bytes, source: str) -> str:
    """The text of a recipe file: UTF-8, or UTF-8/16/32 with a byte-order mark."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{source}: starts with a {encoding.upper()} byte-order mark but is not "
                    f"{encoding.upper()} text ({exc.reason} at byte {exc.start}); save it as UTF-8"
                ) from None
    if b"\x00" in data:  # never in YAML text: UTF-16 or UTF-32 without its mark
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise ConfigError(
            f"{source}: line {line} holds NUL bytes (UTF-16 without a byte-order mark?); "
            "save the recipe as UTF-8"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{source}: line {line}, column {column}: byte 0x{data[exc.start]:02x} is not "
            "UTF-8 (Latin-1 or Windows-1252 text?); save the recipe as UTF-8"
        ) from None


class HugeInt:
    """Stands in for an integer literal with more digits than Python converts; reported
    with its field by :func:`value_problems`."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses duplicate keys and alias bombs (see the module)."""

    def get_single_data(self):
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # '<<: *base' entries are overridden by explicit keys on purpose
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark.line + 1)
                except TypeError:
                    continue  # an unhashable key: construct_mapping says so below
                if first != key_node.start_mark.line + 1:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found key {short_repr(key)} a second time (first on line {first}); "
                        "YAML would keep only the last one: remove one of them",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        try:
            return super().construct_yaml_int(node)
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            return HugeInt(sum(c.isdigit() for c in node.value))


RecipeLoader.add_constructor("tag:yaml.org,2002:int", RecipeLoader.construct_yaml_int)


def _check_expansion(root) -> None:
    """Refuse a node graph whose expansion (aliases counted each time) passes MAX_NODES."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in visiting:
            raise yaml.composer.ComposerError(
                None, None, "an alias refers to the node that contains it", node.start_mark
            )
        visiting.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"the document expands to more than {MAX_NODES:,} values through YAML "
                    "aliases (*name); a recipe needs far fewer: write the values out",
                    child.start_mark,
                )
        visiting.discard(key)
        sizes[key] = total
        return total

    size(root)


def load_yaml(text: str, source: str) -> Any:
    """Parse recipe YAML (a file's text or an override's value); errors name ``source``."""
    loader = None
    try:
        loader = RecipeLoader(text)  # reads ahead: may already refuse a character
        loader.name = source  # marks in messages name the file, not "<unicode string>"
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        text = str(exc).replace('"<unicode string>"', f'"{source}"')  # a refusal while reading
        raise ConfigError(f"{source}: not valid YAML: {text}") from None
    except RecursionError:
        raise ConfigError(f"{source}: not valid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def value_problems(raw: Any) -> list[str]:
    """``"path: problem"`` for every NaN, infinity, too-large integer in a raw recipe."""
    problems: list[str] = []
    seen: set[int] = set()

    def walk(node: Any, path: str) -> None:
        if isinstance(node, HugeInt):
            problems.append(f"{path}: an integer of {node.digits} digits is far too large")
        elif isinstance(node, float) and not math.isfinite(node):
            problems.append(f"{path}: must be a finite number, got {node}")
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > MAX_INT:
            problems.append(f"{path}: {short_repr(node, 40)} is beyond 64-bit integers")
        elif isinstance(node, (dict, list, tuple)) and id(node) not in seen:
            seen.add(id(node))
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                walk(value, f"{path}.{key}" if path else str(key))

    walk(raw, "")
    return problems


# -- recipe files, overrides and error messages ----------------------------------------------
def read_recipe_file(path: str | Path) -> Any:
    """The raw recipe in a YAML file (see :mod:`accelsearch.recipe_input` for what it refuses)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe file {str(path)!r} does not exist")
    return load_yaml(decode(path.read_bytes(), str(path)), str(path))


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML) to a raw recipe dict."""
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = key.split(".")
        if not sep or not all(parts):
            raise ConfigError(
                f"override {short_repr(item, 80)} must look like 'search.num_samples=2' "
                "(dotted field names, '=', a YAML value)"
            )
        node = raw
        for p in parts[:-1]:
            if not isinstance(node.get(p, {}), dict):
                raise ConfigError(f"override {short_repr(item, 80)}: {p!r} is not a section")
            node = node.setdefault(p, {})
        source = f"override {short_repr(item, 80)}"
        try:
            node[parts[-1]] = load_yaml(value, source)
        except ConfigError as exc:
            raise ConfigError(
                f"{exc}; quote a value that is text, e.g. --set '{key}=\"...\"'"
            ) from None
    return raw
