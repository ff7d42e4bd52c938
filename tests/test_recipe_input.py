"""Reading recipe YAML defensively (``accelsearch.recipe_input``): encodings, duplicate keys,
alias bombs, numbers too long to convert, overrides that are not YAML, long values cut in
messages. Every case of issue 19's list ends in a ConfigError naming the place."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from accelsearch.core.errors import ConfigError
from accelsearch.recipe import load_recipe, recipe_from_dict
from accelsearch.recipe_input import MAX_NODES, load_yaml, value_problems

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def _write(tmp_path: Path, data: bytes, name: str = "r.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- encodings ------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig", "utf-32"])
def test_a_recipe_with_a_byte_order_mark_is_read(tmp_path, encoding):
    path = _write(tmp_path, QUICKSTART.read_text().encode(encoding))
    assert load_recipe(path).name == "quickstart"


def test_latin1_bytes_are_named_by_line_and_column(tmp_path):
    text = QUICKSTART.read_text().replace("description: >", "description: caf\u00e9 >", 1)
    line = text[: text.index("caf\u00e9")].count("\n") + 1
    path = _write(tmp_path, text.encode("latin-1", "replace"))
    with pytest.raises(
        ConfigError, match=rf"r\.yaml: line {line}, column \d+: byte 0xe9 is not UTF-8"
    ):
        load_recipe(path)


def test_utf16_without_a_byte_order_mark_is_named(tmp_path):
    path = _write(tmp_path, QUICKSTART.read_text().encode("utf-16-le"))
    with pytest.raises(ConfigError, match="NUL bytes .*UTF-16 without a byte-order mark"):
        load_recipe(path)


def test_a_control_character_names_the_file(tmp_path):
    path = _write(tmp_path, QUICKSTART.read_bytes().replace(b"seed: 0", b"seed: \x1b0", 1))
    with pytest.raises(
        ConfigError, match=r'(?s)not valid YAML: unacceptable character .*"\S*r\.yaml"'
    ):
        load_recipe(path)


# -- duplicate keys, aliases ----------------------------------------------------------------
def test_a_key_given_twice_is_refused_with_both_lines():
    text = "name: a\nseed: 0\nspace:\n  name: x\nseed: 1\n"
    with pytest.raises(ConfigError, match=r"found key 'seed' a second time \(first on line 2\)"):
        load_yaml(text, "r.yaml")
    nested = "space:\n  name: a\n  options: {}\n  name: b\n"
    with pytest.raises(ConfigError, match=r"(?s)'name' a second time \(first on line 2\).*line 4"):
        load_yaml(nested, "r.yaml")


def test_merge_keys_may_be_overridden_and_small_aliases_work():
    text = "base: &b {warmup: 1, min_reps: 5}\nproto:\n  <<: *b\n  warmup: 3\nlist: [*b, *b]\n"
    data = load_yaml(text, "r.yaml")
    assert data["proto"] == {"warmup": 3, "min_reps": 5} and data["list"][1]["min_reps"] == 5


def _bomb(width: int = 9, depth: int = 9) -> str:
    levels = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    for d in range(1, depth):
        levels.append(f"&a{d} [" + ", ".join([f"*a{d - 1}"] * width) + "]")
    return "[" + ", ".join(levels) + "]"


@pytest.mark.parametrize("where", ["description", "space.options.resolutions", "scaling.grid"])
def test_an_alias_bomb_is_refused_at_once(tmp_path, where):
    raw = yaml.safe_load(QUICKSTART.read_text())
    *parents, last = where.split(".")
    node = raw
    for p in parents:
        node = node[p]
    node[last] = "BOMB"
    text = yaml.safe_dump(raw).replace("BOMB", _bomb())  # 2 KB; 387 million values expanded
    path = _write(tmp_path, text.encode())
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        load_recipe(path)
    assert time.perf_counter() - t0 < 5
    assert f"expands to more than {MAX_NODES:,} values through YAML aliases" in str(exc.value)
    assert len(str(exc.value)) < 1000


def test_an_alias_that_contains_itself_is_refused():
    with pytest.raises(ConfigError, match="refers to the node that contains it"):
        load_yaml("a: &x [1, *x]\n", "r.yaml")


def test_values_are_cut_in_messages():
    raw = yaml.safe_load(QUICKSTART.read_text())
    raw["description"] = [["lol"] * 1000] * 1000  # a million values, shared like aliases make
    raw["latency"]["backend"] = "b" * 5000
    with pytest.raises(ConfigError) as exc:
        recipe_from_dict(raw, "r.yaml")
    msg = str(exc.value)
    assert "r.yaml: description: Input should be a valid string" in msg
    assert "r.yaml: latency.backend: unknown latency backend" in msg
    assert len(msg) < 2000


# -- numbers --------------------------------------------------------------------------------
def test_an_integer_of_5000_digits_is_named_by_field(tmp_path):
    text = QUICKSTART.read_text().replace("seed: 0", "seed: " + "1" * 5000, 1)
    with pytest.raises(
        ConfigError, match=r"r\.yaml: seed: an integer of 5000 digits is far too large"
    ):
        load_recipe(_write(tmp_path, text.encode()))
    with pytest.raises(ConfigError, match=r"search\.seed: an integer of 5000 digits"):
        load_recipe(QUICKSTART, ["search.seed=" + "9" * 5000])
    with pytest.raises(ConfigError, match=r"search\.seed: .* is beyond 64-bit integers"):
        load_recipe(QUICKSTART, ["search.seed=" + "9" * 40])


def test_value_problems_name_every_non_finite_number():
    raw = {"a": {"b": [1.0, float("nan")]}, "c": float("-inf"), "d": 2**70, "e": True, "f": 1}
    assert value_problems(raw) == [
        "a.b.1: must be a finite number, got nan",
        "c: must be a finite number, got -inf",
        f"d: {2**70} is beyond 64-bit integers",
    ]


# -- overrides ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["[", "{a: 1", "'unclosed", "*nope", "a: b: c", "!!python/name:os.system"]
)
def test_an_override_that_is_not_yaml_is_a_clear_error(value):
    with pytest.raises(ConfigError) as exc:
        load_recipe(QUICKSTART, [f"description={value}"])
    msg = str(exc.value)
    assert msg.startswith(f"override {f'description={value}'!r}: not valid YAML")
    assert "quote a value that is text" in msg


@pytest.mark.parametrize("item", ["noequals", "=1", ".=1", "a..b=1", "search.=2"])
def test_a_malformed_override_is_a_clear_error(item):
    with pytest.raises(ConfigError, match="must look like 'search.num_samples=2'"):
        load_recipe(QUICKSTART, [item])
