"""Declared spaces: the docs/spaces.md example (about ten lines) works as printed, decodes,
encodes, builds, converts for searchers, and is searched by the real Ray Tune driver."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from accelsearch import spaces
from accelsearch.core.arch import Head, Stage
from accelsearch.core.errors import ArchError, ConfigError
from accelsearch.spaces import (
    Categorical,
    FixedStrides,
    IntRange,
    MultipleOf,
    Ordinal,
    StageSpec,
    StagewiseSpace,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "spaces.md"


def docs_example(marker: str) -> str:
    """The ```python block that follows ``<!-- example: marker -->`` in docs/spaces.md."""
    text = DOCS.read_text()
    found = re.search(rf"<!-- example: {marker} -->\s*```python\n(.*?)```", text, re.S)
    assert found, f"docs/spaces.md has no example {marker!r}"
    return found.group(1)


@pytest.fixture(scope="module")
def tiny_space():
    if "tiny_mbconv" not in spaces.list():
        code = docs_example("custom-space")
        assert (
            len([ln for ln in code.splitlines() if ln.strip()]) <= 20
        )  # "about ten lines" of declaration
        exec(compile(code, str(DOCS), "exec"), {"__name__": "docs_spaces_example"})
    return spaces.get("tiny_mbconv")


def test_docs_example_defines_a_working_space(tiny_space):
    p = tiny_space.params()
    assert set(p) == {
        "resolution", "s1_width", "s1_depth", "s2_width", "s2_kernel", "s3_width", "s3_act"
    }  # fmt: skip
    assert tiny_space.size() == 2 * (3 * 2) * (3 * 2) * (2 * 2) == 288
    rng = np.random.default_rng(0)
    for _ in range(50):
        params = tiny_space.sample(rng)
        arch = tiny_space.decode(params)
        assert tiny_space.encode(arch) == params
        assert arch.stages[2].type == "fused" and arch.head.width == 128
        with torch.no_grad():
            out = tiny_space.build(arch, num_classes=10).eval()(torch.randn(1, 3, 32, 32))
        assert out.shape == (1, 10)
    assert set(tiny_space.optuna_space()) == set(p) == set(tiny_space.pymoo_vars())


def test_ad_hoc_instance_without_a_class():
    space = StagewiseSpace(
        name="adhoc",
        resolution=32,
        stages=[StageSpec("conv", width=Ordinal((8, 16)), stride=2), Stage("mbconv", width=24)],
        head=Head(width=0),
    )
    assert list(space.params()) == ["s1_width"] and space.size() == 2
    arch = space.decode({"s1_width": 16})
    assert arch.stem is None and [st.width for st in arch.stages] == [16, 24]
    assert space.encode(arch) == {"s1_width": 16}


def test_decoded_arch_breaking_a_constraint_names_stage_and_field():
    space = StagewiseSpace(
        name="widths",
        resolution=32,
        stem=Stage("conv", width=16, stride=2),
        stages=[StageSpec("mbconv", width=IntRange(16, 40, 4), stride=2, expansion=3.0)],
        constraints=[MultipleOf("width", 8)],
    )
    space.decode({"s1_width": 24})
    with pytest.raises(ArchError) as err:
        space.decode({"s1_width": 36})
    msg = str(err.value)
    assert "stages[0] ('mbconv') field 'width' is 36" in msg
    assert "MultipleOf('width', 8)" in msg and "use 32 or 40" in msg


def test_stages_that_do_not_chain_fail_when_the_space_is_made():
    with pytest.raises(ConfigError) as err:
        StagewiseSpace(
            name="broken_channels",
            resolution=32,
            stages=[StageSpec("conv", width=32, stride=2), StageSpec("bnact", width=64)],
            head=Head(width=0),
        )
    msg = str(err.value)
    assert "stages[1] ('bnact') field 'width' is 64" in msg and "32 channels" in msg
    with pytest.raises(ConfigError) as err:
        StagewiseSpace(
            name="broken_strides",
            resolution=30,
            stem=Stage("conv", width=16, stride=2),
            stages=[StageSpec("s2d", width=64, kernel=2, stride=2)],
        )
    msg = str(err.value)
    assert "stages[0] ('s2d') field 'stride' is 2" in msg and "15×15" in msg
    with pytest.raises(ConfigError, match=r"stages\[0\] \('nb201cell'\) field 'stride'"):
        StagewiseSpace(
            name="broken_cell",
            resolution=32,
            stages=[StageSpec("nb201cell", width=16, stride=2, ops=("nor_conv_3x3",) * 6)],
        )


def test_bad_declarations_name_the_stage_and_field():
    with pytest.raises(ConfigError, match=r"stages\[0\] field 'type' is 'convx'.*valid: "):
        StagewiseSpace(name="x", stages=[StageSpec("convx", width=8)])
    with pytest.raises(ConfigError, match=r"stages\[0\] \('conv'\) is not a valid stage.*act"):
        StagewiseSpace(name="x", stages=[StageSpec("conv", width=8, act="tanh")])
    with pytest.raises(ConfigError, match="unknown argument"):
        StagewiseSpace(name="x", stages=[], colour="red")
    with pytest.raises(ConfigError, match="Constraint objects"):
        StagewiseSpace(name="x", stages=[StageSpec("conv", width=8)], constraints=["mult8"])
    with pytest.raises(ConfigError, match="FixedStrides"):
        StagewiseSpace(
            name="x",
            stages=[StageSpec("conv", width=8, stride=Categorical((1, 2)))],
            constraints=[FixedStrides([2])],
        )


def test_encode_refuses_foreign_archs_naming_the_field(tiny_space):
    arch = tiny_space.sample_arch(1)
    fixed = arch.replace(
        stages=(arch.stages[0], arch.stages[1], Stage("fused", width=64, stride=2))
    )
    with pytest.raises(ArchError, match=r"stages\[2\] field 'stride' is 2, the space fixes 1"):
        tiny_space.encode(fixed)
    with pytest.raises(ArchError, match="it has 2 stages, the space has 3 stages"):
        tiny_space.encode(arch.replace(stages=arch.stages[:2]))


@pytest.mark.slow
def test_docs_search_example_runs(tiny_space, tmp_path, monkeypatch):
    """The docs' search snippet, as printed, on the real Ray Tune driver (2 trials)."""
    monkeypatch.chdir(tmp_path)
    # Ray workers start from this environment: let them import the checkout under test
    # (not another installed copy of accelsearch)
    repo = str(Path(__file__).resolve().parents[2])
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))
    )
    code = docs_example("search-custom-space")
    namespace: dict = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    result = namespace["result"]
    assert len(result.completed) == 2 and not result.failed
    best = result.best("reward")
    assert tiny_space.encode(best.arch)  # a point of the custom space
    assert best.metrics["latency_ms"] > 0 and 0 <= best.metrics["accuracy"] <= 100


def test_stage_spec_takes_its_fields_from_stage():
    """``Stage``'s fields are written once (core/arch.py): ``StageSpec`` has the same names,
    order and defaults, then its own ``name``."""
    stage = [(f.name, f.default) for f in dataclasses.fields(Stage)]
    spec = [(f.name, f.default) for f in dataclasses.fields(StageSpec)]
    assert spec == stage + [("name", "")]
    st = Stage("mbconv", width=24, depth=2, kernel=5, stride=2, expansion=6.0, se=0.25)
    assert StageSpec.of(st).stage({}) == st
