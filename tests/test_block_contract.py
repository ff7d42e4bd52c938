"""Every registered block type (``builder.BLOCKS``) and chain rule (``CHAIN_RULES``), picked
up from their registries, held to one contract: a stage of the type builds modules whose
output has the channels and feature-map size its chain rule (or the default rule) says,
and the channels the builder reports are those too.

Example stages come from the registered spaces (small variants): a block type that no
space below produces fails here, so a new block needs a space option that uses it.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from accelsearch import spaces
from accelsearch.core import builder
from accelsearch.core.arch import Arch, Stage
from accelsearch.core.errors import ArchError
from accelsearch.spaces.constraints import CHAIN_RULES, ChainState, default_rule

#: where example stages come from: small variants of the built-in spaces (options for speed,
#: and efficientnet_x's space-to-batch stem so that ``s2bstem`` is among them)
EXAMPLE_SPACES = {
    "efficientnet_x": dict(width_mult=0.25, resolutions=(64,), space_to_batch=(False, True)),
    "efficientnet": dict(width_mult=0.25, resolutions=(32,), depth_deltas=(-1, 0)),
    "gpunet": dict(resolutions=(64,), width_mult=0.25, max_layers=2),
    "genet": dict(base="light", width_mult=0.25, resolutions=(64,), depth_delta=1),
    "nb201": dict(channels=8, cells_per_stage=1),
    "timm_zoo": dict(pattern="test_*", exclude=("test_vit*", "test_coatnet", "test_maxvit")),
}


@functools.cache
def _example_archs() -> dict[str, Arch]:
    """The first sampled arch (fixed seed) holding each block type, smallest space first."""
    found: dict[str, Arch] = {}
    for name, options in EXAMPLE_SPACES.items():
        space = spaces.get(name, **options)
        rng = np.random.default_rng(0)
        for _ in range(20):
            arch = space.decode(space.sample(rng))
            for stage in (arch.stem, *arch.stages):
                if stage is not None:
                    found.setdefault(stage.type, arch)
    return found


def _rule(stage: Stage):
    return CHAIN_RULES.get(stage.type) if stage.type in CHAIN_RULES else default_rule


def _chain(arch: Arch) -> list[tuple[str, Stage, ChainState, tuple[int, int]]]:
    """(module name, stage, what flows in, (channels, size) out) as the chain rules walk it
    (the walk of :func:`~accelsearch.spaces.constraints.check_chain`)."""
    out = []
    state = ChainState(arch.in_chans, arch.resolution, None, True)
    named = [("stem", None, arch.stem)] if arch.stem is not None else []
    named += [(f"stages.{i}", i, st) for i, st in enumerate(arch.stages)]
    for module_name, index, stage in named:
        state = ChainState(state.channels, state.size, index, state.first)
        channels, size = _rule(stage)(stage, state)
        out.append((module_name, stage, state, (channels, size)))
        state = ChainState(channels, size, index, state.first and stage.depth == 0)
    return out


@pytest.mark.parametrize("block", builder.BLOCKS.names())
def test_block_builds_the_output_its_chain_rule_says(block):
    arch = _example_archs().get(block)
    assert arch is not None, (
        f"no space in EXAMPLE_SPACES produces a stage of block type {block!r}; add a space "
        "(or space options) that uses it"
    )
    model = builder.build_model(arch, num_classes=5).eval()
    shapes: dict[str, tuple[int, ...]] = {}
    modules = dict(model.named_modules())
    steps = _chain(arch)
    for module_name, *_ in steps:
        modules[module_name].register_forward_hook(
            lambda _m, _i, out, key=module_name: shapes.__setitem__(key, tuple(out.shape))
        )
    x = torch.randn(2, arch.in_chans, arch.resolution, arch.resolution)
    with torch.no_grad():
        assert model(x).shape == (2, 5)
    for module_name, stage, state, (channels, size) in steps:
        if stage.type != block:
            continue
        assert shapes[module_name] == (2, channels, size, size), (module_name, stage)
        # the builder's own account of its output channels agrees with the rule
        ctx = builder.BuildContext(resolution=arch.resolution)
        mods, out_chs = builder.BLOCKS.get(block)(stage, state.channels, ctx)
        assert isinstance(mods, list) and all(isinstance(m, torch.nn.Module) for m in mods)
        assert out_chs == channels


@pytest.mark.parametrize("block", CHAIN_RULES.names())
def test_chain_rule_belongs_to_a_block_and_rejects_with_arch_errors(block):
    assert block in builder.BLOCKS, f"chain rule for {block!r}, which no builder makes"
    arch = _example_archs()[block]
    for _, stage, state, (channels, size) in _chain(arch):
        if stage.type == block:
            assert isinstance(channels, int) and isinstance(size, int)
            assert channels >= 1 and size >= 1
            # a 1x1 one-channel input fits few blocks: any refusal is an ArchError naming
            # the stage, never another exception
            tiny = ChainState(1, 1, state.index, state.first)
            try:
                CHAIN_RULES.get(block)(stage, tiny)
            except ArchError as exc:
                assert "stage" in str(exc) or "stem" in str(exc), str(exc)
