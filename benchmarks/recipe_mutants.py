"""Mutants of the six shipped recipes for ``recipe_fuzz.py`` (and ``tests/test_recipe_fuzz.py``).

``make_mutants(count, seed)`` is deterministic for a seed. A mutant is the recipe's bytes
plus ``--set`` overrides: a value replaced by a hostile one (``value``), a key deleted
(``delete``) or added (``unknown_key``), overrides valid or not (``override``), the file's
bytes changed (``text``: UTF-16, stray bytes, truncation, a repeated or deleted line, YAML
punctuation), a YAML alias bomb (``alias_bomb``) or two of these (``combo``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))

#: hostile values, as YAML text
VALUES = [
    "null", "''", "0", "-1", "1", "7", "2.5", "-0.5", "1.0e+308", "-1.0e+308", ".inf", "-.inf",
    ".nan", "true", "false", "[]", "{}", "[[]]", "[null]", "[1, 2, 3]", "{a: 1}", "[cpu]",
    "[[accuracy]]", "[accuracy]", "[.inf]", "[.nan]", "[[1.0, .nan, 1.2]]", "'x'", "'../../x'",
    "/tmp/accelsearch-fuzz/x", "a/b", "'$(touch /tmp/accelsearch-fuzz-pwned)'", "'x; rm -rf y'",
    "2020-01-01", "1" * 5000, "-" + "9" * 40, "0x10", "1_000", "~", "yes", "'" + "p" * 300 + "'",
    "'" + "d/" * 150 + "'", "!!binary aGVsbG8=", "!!python/object/apply:os.system ['true']",
    "'\u00e9\u00e8\u4e2d'", "{rounds: 2}", "[1, [2, [3]]]", "{0: 1}", "0.0", "1.0e-300",
]  # fmt: skip
#: override values that are not valid YAML
INVALID_YAML = ["[", "{a: 1", "a: b: c", "'unclosed", "*nope", "[1, 2", "{[}", "@x", "`x`", "%x"]
#: override strings that are malformed as overrides
BAD_OVERRIDES = ["noequals", "=1", ".=1", "a..b=1", "name.sub=1", "search.num_samples.x=1"]
PUNCTUATION = list(":-[]{}&*!|>'\"#%@`,?\t")


@dataclass
class Mutant:
    id: int
    recipe: str
    kind: str
    description: str
    data: bytes
    overrides: list[str] = field(default_factory=list)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every node's path in a parsed recipe (mapping keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


def _dump_with(raw: dict, path: tuple, yaml_text: str) -> str:
    """The recipe as YAML with the node at ``path`` replaced by ``yaml_text`` verbatim."""
    token = "ACCELSEARCH_FUZZ_TOKEN"
    parent = _get(raw, path[:-1])
    parent[path[-1]] = token
    text = yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=10_000)
    return text.replace(token, yaml_text, 1)


def alias_bomb(rng: random.Random) -> str:
    """A flow sequence whose anchors double up level by level (``width ** depth`` leaves)."""
    width, depth = rng.randint(6, 10), rng.randint(5, 9)
    levels = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    for d in range(1, depth):
        levels.append(f"&a{d} [" + ", ".join([f"*a{d - 1}"] * width) + "]")
    return "[" + ", ".join(levels) + "]"


def _mutate_value(rng, raw) -> tuple[str, str]:
    path = rng.choice(_paths(raw))
    value = rng.choice(VALUES)
    return _dump_with(raw, path, value), f"{'.'.join(map(str, path))} = {value[:60]}"


def _mutate_delete(rng, raw) -> tuple[str, str]:
    keys = [p for p in _paths(raw) if isinstance(p[-1], str)]
    path = rng.choice(keys)
    del _get(raw, path[:-1])[path[-1]]
    return yaml.safe_dump(raw, sort_keys=False), f"delete {'.'.join(map(str, path))}"


def _mutate_unknown_key(rng, raw) -> tuple[str, str]:
    maps = [()] + [p for p in _paths(raw) if isinstance(_get(raw, p), dict)]
    path = rng.choice(maps)
    _get(raw, path)["bogus_field"] = "ACCELSEARCH_FUZZ_PLACEHOLDER"
    value = rng.choice(VALUES)
    text = _dump_with(raw, (*path, "bogus_field"), value)
    return text, f"add {'.'.join(map(str, (*path, 'bogus_field')))} = {value[:60]}"


def _override(rng, raw) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.15:
        return rng.choice(BAD_OVERRIDES), "malformed override"
    keys = [p for p in _paths(raw) if all(isinstance(x, str) for x in p)]
    key = ".".join(rng.choice(keys)) if rng.random() < 0.85 else "search.options.bogus"
    value = rng.choice(INVALID_YAML) if roll < 0.35 else rng.choice(VALUES)
    return f"{key}={value}", f"--set {key}={value[:60]}"


def _mutate_text(rng, text: str) -> tuple[bytes, str]:
    lines = text.splitlines(keepends=True)
    op = rng.choice(
        ["utf16", "utf16le", "latin1", "bytes", "truncate", "dupline", "delline", "punct", "tab"]
    )
    i = rng.randrange(len(lines))
    if op == "utf16":
        return text.encode("utf-16"), "encoded as UTF-16 (with BOM)"
    if op == "utf16le":
        return text.encode("utf-16-le"), "encoded as UTF-16-LE (no BOM)"
    if op == "latin1":
        out = text.replace("description: ", "description: caf\u00e9 ", 1)
        return out.encode("latin-1", "replace"), "latin-1 bytes in the description"
    data = text.encode()
    if op == "bytes":
        pos = rng.randrange(len(data))
        junk = bytes(rng.choice([0x80, 0xFF, 0xFE, 0xC3, 0x00, 0x1B]) for _ in range(3))
        return data[:pos] + junk + data[pos:], f"bytes {junk!r} at {pos}"
    if op == "truncate":
        pos = rng.randrange(len(data))
        return data[:pos], f"truncated at byte {pos}"
    if op == "dupline":
        lines.insert(i, lines[i])
        return "".join(lines).encode(), f"line {i + 1} repeated: {lines[i].strip()[:60]}"
    if op == "delline":
        gone = lines.pop(i)
        return "".join(lines).encode(), f"line {i + 1} deleted: {gone.strip()[:60]}"
    ch = rng.choice(PUNCTUATION) if op == "punct" else "\t"
    pos = rng.randrange(len(lines[i]) + 1)
    lines[i] = lines[i][:pos] + ch + lines[i][pos:]
    return "".join(lines).encode(), f"{ch!r} inserted in line {i + 1}"


def make_mutant(rng: random.Random, k: int) -> Mutant:
    source = RECIPES[k % len(RECIPES)]
    text = source.read_text()
    raw = yaml.safe_load(text)
    roll = rng.random()
    overrides: list[str] = []
    if roll < 0.35:
        kind, (out, desc) = "value", _mutate_value(rng, raw)
        data = out.encode()
    elif roll < 0.45:
        kind, (out, desc) = "delete", _mutate_delete(rng, raw)
        data = out.encode()
    elif roll < 0.53:
        kind, (out, desc) = "unknown_key", _mutate_unknown_key(rng, raw)
        data = out.encode()
    elif roll < 0.73:
        kind, data = "override", text.encode()
        descs = []
        for _ in range(rng.randint(1, 2)):
            item, d = _override(rng, raw)
            overrides.append(item)
            descs.append(d)
        desc = "; ".join(descs)
    elif roll < 0.90:
        kind, (data, desc) = "text", _mutate_text(rng, text)
    elif roll < 0.94:
        path = rng.choice(_paths(raw))
        kind, desc = "alias_bomb", f"alias bomb at {'.'.join(map(str, path))}"
        data = _dump_with(raw, path, alias_bomb(rng)).encode()
    else:
        kind = "combo"
        out, d1 = _mutate_value(rng, raw)
        raw2 = yaml.safe_load(out) if _loads(out) else raw
        item, d2 = _override(rng, raw2 if isinstance(raw2, dict) else raw)
        data, overrides, desc = out.encode(), [item], f"{d1}; {d2}"
    return Mutant(k, source.stem, kind, desc, data, overrides)


def _loads(text: str) -> bool:
    try:
        yaml.safe_load(text)
        return True
    except Exception:  # noqa: BLE001 - only asks whether the mutant still parses
        return False


def make_mutants(count: int, seed: int = 0) -> list[Mutant]:
    rng = random.Random(seed)
    return [make_mutant(rng, k) for k in range(count)]
