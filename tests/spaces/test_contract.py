"""One contract for every built-in space: sample 50 archs with a fixed seed, round-trip them,
build them and run a forward pass; the declared distributions convert for Ray Tune, Optuna
and pymoo; size() and references behave. Small options keep each forward cheap (32-64 px)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from accelsearch import spaces
from accelsearch.core.arch import Arch
from accelsearch.spaces import distributions as D

#: speed only: small variants of the built-in spaces (the defaults are the published spaces);
#: a registered space not named here is tested with its defaults
SMALL = {
    "efficientnet_x": dict(width_mult=0.25, resolutions=(32,), depth_deltas=(-1, 0)),
    "efficientnet": dict(width_mult=0.25, resolutions=(32,), depth_deltas=(-1, 0)),
    "gpunet": dict(resolutions=(64,), width_mult=0.25, max_layers=2),
    "genet": dict(base="light", width_mult=0.25, resolutions=(64,), depth_delta=1),
    "nb201": dict(channels=8, cells_per_stage=1),
    "nats_size": dict(channels=(8, 16)),
    "timm_zoo": dict(pattern="test_*", exclude=("test_vit*", "test_coatnet", "test_maxvit")),
}
DEFAULT_OPTIONS = {"timm_zoo": dict(pattern="test_*")}
#: every space the package registers, read from the registry (spaces that test modules
#: register as test doubles, e.g. tests/search/search_testkit.py, are theirs to test)
BUILTIN = [
    n for n in spaces.SPACES.names() if spaces.SPACES.get(n).__module__.startswith("accelsearch.")
]


def test_small_options_name_registered_spaces():
    assert set(SMALL) <= set(BUILTIN)  # options for a space that is gone would test nothing


@pytest.mark.parametrize("name", BUILTIN)
def test_sample_round_trip_build_and_forward(name):
    space = spaces.get(name, **SMALL.get(name, {}))
    rng = np.random.default_rng(2024)
    for _ in range(50):
        params = space.sample(rng)
        space.validate_params(params)
        arch = space.decode(params)
        assert isinstance(arch, Arch)
        assert space.encode(arch) == params
        assert Arch.from_json(arch.to_json()) == arch and Arch.from_string(str(arch)) == arch
        model = space.build(arch, num_classes=7).eval()
        x = torch.randn(2, arch.in_chans, arch.resolution, arch.resolution)
        with torch.no_grad():
            out = model(x)
        assert out.shape == (2, 7) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", BUILTIN)
def test_full_space_round_trips_without_building(name):
    space = spaces.get(name, **DEFAULT_OPTIONS.get(name, {}))
    rng = np.random.default_rng(7)
    for _ in range(50):
        params = space.sample(rng)
        assert space.encode(space.decode(params)) == params
    assert space.sample(3) == space.sample(3)  # a seed fixes the sample


@pytest.mark.parametrize("name", BUILTIN)
def test_conversions_for_searchers(name):
    import optuna
    from pymoo.core.variable import Choice, Integer

    space = spaces.get(name, **DEFAULT_OPTIONS.get(name, {}))
    declared = space.params()
    tune, opt, moo = space.tune_space(), space.optuna_space(), space.pymoo_vars()
    assert set(tune) == set(opt) == set(moo) == set(declared)
    for key, dist in declared.items():
        assert list(tune[key].categories) == list(dist.values())
        if isinstance(dist, D.IntRange):
            assert isinstance(opt[key], optuna.distributions.IntDistribution)
            assert (opt[key].low, opt[key].high, opt[key].step) == (dist.low, dist.high, dist.step)
        else:
            assert list(opt[key].choices) == list(dist.values())
        if isinstance(dist, D.Categorical):
            assert isinstance(moo[key], Choice)
        else:
            assert isinstance(moo[key], Integer) and moo[key].bounds == (0, len(dist.values()) - 1)
            top = D.from_pymoo(dist, len(dist.values()) - 1)
            assert top == dist.values()[-1]
        assert D.from_unit(dist, 0.0) == dist.values()[0]
        assert D.from_unit(dist, 0.9999) == dist.values()[-1]
    # a pymoo point decodes through from_pymoo
    point = {k: (d.values()[0] if isinstance(d, D.Categorical) else 0) for k, d in declared.items()}
    params = {k: D.from_pymoo(declared[k], v) for k, v in point.items()}
    assert isinstance(space.decode(params), Arch)


@pytest.mark.parametrize("name", BUILTIN)
def test_size_and_references(name):
    space = spaces.get(name, **DEFAULT_OPTIONS.get(name, {}))
    size = space.size()
    assert isinstance(size, int) and size > 0
    product = math.prod(len(d.values()) for d in space.params().values())
    assert size <= product
    assert space.log10_size() == pytest.approx(math.log10(size))
    assert space.resolution_multiple >= 1 and space.source
    for ref_name in list(space.references())[:3]:
        ref = space.reference(ref_name)
        assert isinstance(ref, Arch)
        space.check(ref)
    with pytest.raises(KeyError, match="no reference"):
        space.reference("no-such-model")
