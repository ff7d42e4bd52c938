"""``Arch``: lossless JSON and string forms, validation with clear messages."""

from __future__ import annotations

import pytest

from accelsearch import Arch, Head, Stage, spaces
from accelsearch.core.errors import ArchError


def _all_references():
    for name in spaces.list():
        space = spaces.get(name)
        for ref in space.references():
            yield pytest.param(name, ref, id=f"{name}:{ref}")


@pytest.mark.parametrize("space_name,ref", list(_all_references()))
def test_reference_round_trips(space_name, ref):
    arch = spaces.get(space_name).reference(ref)
    assert Arch.from_json(arch.to_json()) == arch
    assert Arch.from_string(arch.to_string()) == arch
    assert Arch.from_string(str(arch)).to_json() == arch.to_json()
    assert Arch.from_json(arch.to_json(indent=None)).hash() == arch.hash()


def test_sampled_archs_round_trip(tiny_space):
    for seed in range(20):
        arch = tiny_space.sample_arch(seed)
        assert Arch.from_json(arch.to_json()) == arch
        assert Arch.from_string(str(arch)) == arch


def test_floats_ops_and_defaults_survive():
    arch = Arch(
        resolution=96,
        in_chans=1,
        stem=None,
        stages=(
            Stage(
                "mbconv",
                width=24,
                depth=2,
                kernel=5,
                stride=2,
                expansion=4.5,
                se=0.125,
                act="swish",
                nominal_in=16,
            ),
            Stage("cell", width=16, ops=("nor_conv_3x3", "skip_connect", "none")),
        ),
        head=None,
    )
    text = str(arch)
    assert text.startswith("i96x1-")
    assert "o[nor_conv_3x3,skip_connect,none]" in text
    assert Arch.from_string(text) == arch
    assert Arch.from_json(arch.to_json()) == arch


def test_arch_is_frozen_and_hashable():
    arch = Arch(resolution=32, stages=(Stage("conv", width=8),))
    with pytest.raises(AttributeError):
        arch.resolution = 64  # type: ignore[misc]
    assert len({arch, Arch.from_json(arch.to_json())}) == 1
    assert len(arch.hash()) == 16


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        (dict(type="mbconv", width=0), "width must be >= 1"),
        (dict(type="mbconv", width=8, act="tanhh"), "act is 'tanhh'; valid choices"),
        (dict(type="MB-conv", width=8), "lower-case word"),
        (dict(type="mbconv", width=8, stride=0), "stride must be >= 1"),
        (dict(type="mbconv", width=8, expansion=float("nan")), "expansion must be a finite"),
        (dict(type="cell", width=8, ops=("a,b",)), "ops has 'a,b'"),
    ],
)
def test_stage_validation_names_the_field(kwargs, needle):
    with pytest.raises(ArchError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        Stage(**kwargs)


def test_bad_text_forms_fail_clearly():
    with pytest.raises(ArchError, match="must start with 'i<resolution>'"):
        Arch.from_string("mbconv_c8")
    with pytest.raises(ArchError, match="unknown token 'zz9'"):
        Arch.from_string("i32-conv_r1_k3_s1_c8_arelu_zz9")
    with pytest.raises(ArchError, match="not valid JSON"):
        Arch.from_json("{")
    with pytest.raises(ArchError, match="unknown field"):
        Arch.from_json('{"resolution": 32, "stages": [], "colour": 1}')
    with pytest.raises(ArchError, match="Head.dropout"):
        Head(dropout=1.5)
