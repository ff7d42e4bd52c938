"""Every registered block type (``accelsearch.core.blocks.BLOCKS``), picked up from the
registry, held to one contract: it has one complete description (build, chain rule, cost,
depth/width/stride facts), a stage of the type builds modules whose output has the channels and
feature-map size its chain rule says (the builder's own account agreeing), its analytic cost
(where it has one) equals what PyTorch's flop counter counts on the built block, and the
latency room's layer cost is the description's cost.

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
from accelsearch.core.accounting import block_cost, counted_block_cost
from accelsearch.core.arch import Arch, Stage
from accelsearch.core.block_costs import BlockCost
from accelsearch.core.blocks import BLOCKS, BlockType, ChainState, chain_rule, default_rule
from accelsearch.core.errors import ArchError
from accelsearch.objectives.latency.layers import arch_layers, layer_cost

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
#: block types the latency room's layer list cannot take (a whole timm model must take the
#: image, and the layer list calls every stage "not the first")
NOT_A_LAYER = {"timm"}


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


def _example(block: str) -> Arch:
    arch = _example_archs().get(block)
    assert arch is not None, (
        f"no space in EXAMPLE_SPACES produces a stage of block type {block!r}; add a space "
        "(or space options) that uses it"
    )
    return arch


def _chain(arch: Arch) -> list[tuple[str, Stage, ChainState, tuple[int, int]]]:
    """(module name, stage, what flows in, (channels, size) out) as the chain rules walk it
    (the walk of :func:`~accelsearch.spaces.constraints.check_chain`)."""
    out = []
    state = ChainState(arch.in_chans, arch.resolution, None, True)
    named = [("stem", None, arch.stem)] if arch.stem is not None else []
    named += [(f"stages.{i}", i, st) for i, st in enumerate(arch.stages)]
    for module_name, index, stage in named:
        state = ChainState(state.channels, state.size, index, state.first)
        channels, size = chain_rule(stage.type)(stage, state)
        out.append((module_name, stage, state, (channels, size)))
        state = ChainState(channels, size, index, state.first and stage.depth == 0)
    return out


@pytest.mark.parametrize("block", BLOCKS.names())
def test_block_type_has_one_complete_description(block):
    desc = BLOCKS.get(block)
    assert isinstance(desc, BlockType) and desc.name == block
    assert callable(desc.build) and callable(desc.chain)
    assert desc.cost is None or callable(desc.cost)  # None: counted from the built block
    facts = (desc.fixed_depth, desc.fixed_width, desc.fixed_stride)
    assert all(isinstance(f, bool) for f in facts)
    assert desc.chain is chain_rule(block)
    # the rooms' questions are answered from this record
    assert builder.is_fixed_depth(block) is desc.fixed_depth
    assert builder.is_fixed_width(block) is desc.fixed_width
    assert builder.is_fixed_stride(block) is desc.fixed_stride


@pytest.mark.parametrize("block", BLOCKS.names())
def test_block_builds_the_output_its_chain_rule_says(block):
    arch = _example(block)
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
        mods, out_chs = BLOCKS.get(block).build(stage, state.channels, ctx)
        assert isinstance(mods, list) and all(isinstance(m, torch.nn.Module) for m in mods)
        assert out_chs == channels


@pytest.mark.parametrize("block", sorted(set(BLOCKS.names()) - NOT_A_LAYER))
def test_block_cost_is_the_descriptions_and_the_latency_room_reads_it(block):
    arch = _example(block)
    layers = [e for e in arch_layers(arch, num_classes=5) if e.key.kind == block]
    assert layers, f"arch {arch} has no {block!r} layer"
    desc = BLOCKS.get(block)
    for entry in layers:
        key = entry.key
        cost = block_cost(key.stage(), key.in_chs, key.size)
        assert isinstance(cost, BlockCost) and cost.macs >= 0 and cost.params >= 0
        # the latency room's cost is the description's, not a formula of its own
        assert layer_cost(key) == cost
        # an analytic rule agrees with PyTorch's flop counter on the built block, exactly
        counted = counted_block_cost(key.stage(), key.in_chs, key.size)
        assert cost == counted, (key.text, desc.cost)


def test_the_built_in_conv_blocks_have_analytic_costs():
    assert {"conv", "s2d", "mbconv", "fused"} <= {
        name for name in BLOCKS.names() if BLOCKS.get(name).cost is not None
    }


@pytest.mark.parametrize("block", BLOCKS.names())
def test_chain_rule_rejects_with_arch_errors(block):
    arch = _example(block)
    rule = BLOCKS.get(block).chain
    for _, stage, state, (channels, size) in _chain(arch):
        if stage.type == block:
            assert isinstance(channels, int) and isinstance(size, int)
            assert channels >= 1 and size >= 1
            # a 1x1 one-channel input fits few blocks: any refusal is an ArchError naming
            # the stage, never another exception
            tiny = ChainState(1, 1, state.index, state.first)
            try:
                rule(stage, tiny)
            except ArchError as exc:
                assert "stage" in str(exc) or "stem" in str(exc), str(exc)


def test_an_unregistered_type_chains_by_the_default_rule_and_fails_to_build():
    stage = Stage("nosuchblock", width=8)
    assert chain_rule("nosuchblock") is default_rule
    arch = Arch(resolution=32, stages=(stage,))
    with pytest.raises(Exception, match="nosuchblock"):
        builder.build_model(arch)
