"""The GPUNet lookup table: layers of an arch, on-demand filling, the fast path for many
archs, the fusion correction, and the ``lut`` backend."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from accelsearch.core.accounting import model_cost
from accelsearch.core.arch import Stage
from accelsearch.core.blocks import is_fixed_depth
from accelsearch.core.builder import build_model
from accelsearch.core.errors import ConfigError, MeasurementError
from accelsearch.objectives import latency
from accelsearch.objectives.latency import Protocol, lut
from accelsearch.objectives.latency.layers import (
    LayerKey,
    arch_layers,
    layer_cost,
    layer_module,
)
from accelsearch.spaces import distributions as D

FAST = Protocol(warmup=1, min_reps=3, max_reps=6, max_seconds=0.5, batch_reps=3)


def _predictor(space=None, **kw) -> lut.LUTPredictor:
    kw = {
        "batch_size": 2,
        "device": "cpu",
        "options": {"threads": 1},
        "protocol": FAST,
        "network_protocol": FAST,
        **kw,
    }
    return lut.LUTPredictor(space=space, **kw)


def _samples(space, n, seed=0):
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


FAST_PATH_SPACES = [
    ("efficientnet_x", {"width_mult": 0.25, "resolutions": (32, 64), "depth_deltas": (-1, 0)}),
    (
        "efficientnet_x",
        {
            "width_mult": 0.25,
            "resolutions": (64, 96),
            "space_to_batch": (False, True),
            "act_groups": ((3, 4, 5), (6, 7, 8, 9)),
            "space_to_depth_size": 4,
            "kernels": (3, 5),
        },
    ),
    ("gpunet", {"width_mult": 0.25, "max_layers": 3, "resolutions": (64, 96)}),
]


@pytest.mark.parametrize("name, options", FAST_PATH_SPACES)
def test_layers_cover_the_network_exactly(name, options):
    from accelsearch import spaces

    space = spaces.get(name, **options)
    for params in _samples(space, 1, seed=3):
        arch = space.decode(params)
        entries = arch_layers(arch, num_classes=10)
        stage_layers = sum(1 if is_fixed_depth(s.type) else s.depth for s in arch.stages)
        assert len(entries) == arch.stem.depth + stage_layers + 1
        model = build_model(arch, num_classes=10).eval()
        cost = model_cost(model, arch.resolution)
        assert sum(layer_cost(e.key).macs for e in entries) == cost.macs
        assert sum(layer_cost(e.key).params for e in entries) == cost.params
        x = torch.randn(1, 3, arch.resolution, arch.resolution)
        with torch.no_grad():
            for e in entries:  # chaining the layers alone reproduces the network's shapes
                assert x.shape[1:] == (e.key.in_chs, e.key.size, e.key.size)
                x = layer_module(e.key).eval()(x)
        assert x.shape == (1, 10)


def test_layer_text_round_trips(tiny_space):
    arch = tiny_space.decode(_samples(tiny_space, 1)[0])
    for e in arch_layers(arch):
        assert lut.parse_layer_text(e.key.text) == e.key
    assert lut.parse_layer_text("garbage") is None


def test_a_layer_key_holds_its_block_as_a_stage(tiny_space):
    """``Stage``'s fields are written once: a layer key holds the block's ``Stage`` (the one
    its layer is built from) and restates none of its fields."""
    stage_fields = {f.name for f in dataclasses.fields(Stage)}
    assert not stage_fields & {f.name for f in dataclasses.fields(LayerKey)}
    arch = tiny_space.decode(_samples(tiny_space, 1)[0])
    entries = arch_layers(arch)
    for e in entries[:-1]:
        assert isinstance(e.key.block, Stage) and e.key.stage() is e.key.block
        assert e.key.kind == e.key.block.type and e.key.width == e.key.block.width
    head = entries[-1].key
    assert head.block is None and head.kind == "head" and head.width == arch.head.width


def test_missing_layers_are_measured_once_and_persist(tiny_arch):
    p = _predictor()
    ms = p.predict(tiny_arch)
    keys = {e.key.text for e in arch_layers(tiny_arch)}
    assert ms > 0 and p.last_fill.measured == len(keys)
    assert set(p.table) == keys
    again = _predictor()  # a new predictor (another process) reads the same store
    assert again.predict(tiny_arch) == pytest.approx(ms)
    assert again.last_fill.measured == 0
    assert again.table_id == p.table_id and again.table_id.library.startswith("torch ")


@pytest.mark.parametrize("name, options", FAST_PATH_SPACES)
def test_fast_path_equals_decoding_every_arch(name, options, tiny_arch):
    from accelsearch import spaces

    space = spaces.get(name, **options)
    assert space.name in lut.FAST_PATHS
    seed = _predictor()
    seed.predict(tiny_arch)  # a few measured layers for the cost model of the other layers
    p = _predictor(space, fill="estimate")
    params = _samples(space, 300, seed=5)
    fast_raw, fast_n = p.layer_sum_indices(p.indices_of(params))
    slow_raw, slow_n = p.layer_sum_many([space.decode(q) for q in params])
    np.testing.assert_allclose(fast_raw, slow_raw, rtol=1e-9)
    np.testing.assert_array_equal(fast_n, slow_n)


def test_unit_cube_samples(tiny_space, tiny_arch):
    p = _predictor(tiny_space)
    p.predict(tiny_arch)
    p.fill = "estimate"
    # unit-cube samples (Sobol) map to the same points as distributions.from_unit
    from scipy.stats import qmc

    u = qmc.Sobol(d=len(tiny_space.params()), seed=0).random(64)
    names = list(tiny_space.params())
    dicts = [
        {n: D.from_unit(d, row[i]) for i, (n, d) in enumerate(tiny_space.params().items())}
        for row in u
    ]
    assert names == list(dicts[0])
    np.testing.assert_allclose(p.predict_unit(u), p.predict_many(dicts), rtol=1e-9)
    assert np.all(p.predict_unit(u) > 0)


def test_the_cost_model_learns_from_measured_layers_only(tiny_space, tiny_arch):
    """Estimates of missing layers go into the table beside measured ones; a later call
    with new missing layers must refit on the measured layers alone, not on its own
    earlier estimates (a fresh predictor estimates the same layers the same way)."""
    from accelsearch.objectives.latency.lut.fill import Estimator

    p = _predictor(tiny_space)
    p.predict(tiny_arch)
    measured = dict(p.table)
    p.fill = "estimate"
    first, later = (
        [tiny_space.decode(q) for q in _samples(tiny_space, 10, seed=s)] for s in (21, 22)
    )
    p.predict_many(first)
    estimated_first = set(p.table) - set(measured)
    new_keys = [k for a in later for k in p.layers(a) if k.text not in p.table]
    assert estimated_first and new_keys
    p.predict_many(later)
    reference = Estimator.fit(measured, p.batch_size, p.precision)
    for k in new_keys:
        assert p.table[k.text] == pytest.approx(reference.predict(k), rel=1e-12)
    assert p._estimator.size == len(measured)


def test_a_predictor_told_to_measure_measures_the_layers_it_had_estimated(tiny_space, tiny_arch):
    p = _predictor(tiny_space)
    p.predict(tiny_arch)
    p.fill = "estimate"
    arch = tiny_space.decode(_samples(tiny_space, 1, seed=23)[0])
    estimated = [k.text for k in p.missing(p.layers(arch))]
    p.predict(arch)
    assert estimated and not p.missing(p.layers(arch))
    p.fill = "measure"
    assert sorted(k.text for k in p.missing(p.layers(arch))) == sorted(set(estimated))
    p.predict(arch)
    stored = p.store.table(p.table_id)
    assert all(t in stored for t in estimated) and not p.missing(p.layers(arch))


def test_correction_recovers_a_known_fusion_and_persists(tiny_space, tiny_arch):
    p = _predictor(tiny_space)
    p.predict(tiny_arch)
    p.fill = "estimate"
    archs = [tiny_space.decode(q) for q in _samples(tiny_space, 12, seed=7)]
    raw, n = p.layer_sum_many(archs)
    measured = 0.7 * raw - 0.002 * n + 0.05
    corr = p.fit_correction(archs, measured)
    assert (corr.a, corr.b, corr.c) == pytest.approx((0.7, -0.002, 0.05), rel=1e-6, abs=1e-9)
    assert corr.mape_after < 1e-6 < corr.mape_before and corr.n_fit == 12
    np.testing.assert_allclose(p.predict_many(archs), measured, rtol=1e-6)
    np.testing.assert_allclose(p.predict_many(archs, corrected=False), raw)
    fresh = _predictor(tiny_space, fill="estimate")
    assert fresh.correction == corr
    assert _predictor(fill="estimate").correction is None  # scoped per space


def test_correction_from_real_whole_network_measurements(tiny_space):
    p = _predictor(tiny_space)
    archs = [tiny_space.decode(q) for q in _samples(tiny_space, 4, seed=9)]
    corr = p.fit_correction(archs)
    assert corr.n_fit == 4 and np.isfinite(corr.mape_before) and np.isfinite(corr.mape_after)
    assert corr.mape_after <= corr.mape_before + 1e-9


def test_a_correction_never_makes_its_own_fit_worse():
    # four noisy networks where least squares on relative error raises the percentage
    # error (13.0 % for three terms, 13.2 % for the scale alone, 12.0 % for the plain sum)
    raw, n_layers, measured = [1.9, 1.8, 1.5, 2.5], [22, 29, 13, 31], [1.4, 1.7, 1.6, 2.5]
    corr = lut.Correction.fit(raw, n_layers, measured)
    assert (corr.a, corr.b, corr.c) == (1.0, 0.0, 0.0)
    assert corr.mape_after == corr.mape_before == pytest.approx(11.96, abs=0.01)
    # here the scale alone (9.6 %) beats three terms (10.6 %) and the plain sum (14.5 %)
    scaled = lut.Correction.fit([1.4, 2.7, 2.1, 2.3], [13, 35, 39, 11], [1.6, 4.0, 2.3, 2.4])
    assert scaled.b == scaled.c == 0.0 and scaled.a == pytest.approx(1.1507, abs=1e-4)
    assert scaled.mape_after == pytest.approx(9.59, abs=0.01)
    assert scaled.mape_before == pytest.approx(14.47, abs=0.01)


def test_a_table_read_where_its_device_is_not(tiny_arch):
    local = _predictor()
    ms = local.predict(tiny_arch)
    remote = lut.LUTPredictor(
        batch_size=2, precision="fp32", device_name=local.table_id.device_name
    )
    assert remote.fill == "error" and remote.predict(tiny_arch) == pytest.approx(ms)
    with pytest.raises(MeasurementError, match="missing from LUT table"):
        remote.predict(tiny_arch.replace(resolution=64))
    with pytest.raises(ConfigError, match="no table for 'NVIDIA H100"):
        lut.LUTPredictor(batch_size=2, device_name="NVIDIA H100 80GB HBM3")


def test_the_lut_backend(tiny_arch):
    kw = dict(device="cpu", layer_protocol=FAST, layer_options={"threads": 1})
    r = latency.measure(tiny_arch, batch_size=2, backend="lut", **kw)
    assert r.backend == "lut" and r.mode == "lut" and r.extra["predicted"]
    assert r.n == len(arch_layers(tiny_arch)) and r.cv == 0 and not r.cached
    assert r.extra["measured_layers"] > 0
    again = latency.measure(build_model(tiny_arch), batch_size=2, backend="lut", **kw)
    assert again.median_ms == pytest.approx(r.median_ms) and again.extra["measured_layers"] == 0
    assert not again.cached
    with pytest.raises(MeasurementError, match="predicts from an Arch"):
        latency.measure(torch.nn.Conv2d(3, 3, 1), resolution=8, backend="lut", **kw)


def test_layers_fill_in_parallel_worker_processes(tiny_arch):
    p = _predictor()
    keys = list({e.key.text: e.key for e in arch_layers(tiny_arch)}.values())
    report = p._measure_parallel(keys, ["cpu", "cpu"])
    assert report.measured == len(keys) and report.devices == ["cpu", "cpu"]
    assert set(p.table) == {k.text for k in keys}
    assert set(lut.LUTStore(p.store.path).table(p.table_id)) == set(p.table)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fill": "guess"}, "fill='guess'"),
        ({"batch_size": 0}, "batch_size"),
        ({"backend": "lut"}, "real backend"),
    ],
)
def test_bad_predictor_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        _predictor(**kwargs)


def test_mape():
    assert lut.mape([1.1, 0.9], [1.0, 1.0]) == pytest.approx(10.0)


def test_the_estimator_learns_what_squeeze_excite_and_activations_cost_at_batch_1():
    """At batch 1 a layer's time is mostly its kernels: a table whose SE layers take 20 µs
    more and whose swish layers 10 µs more, whatever their size, is estimated within 5 %
    on layers it lacks; a fit on size alone (MACs, bytes) cannot tell them apart."""
    from accelsearch.objectives.latency.lut.fill import Estimator, parse_layer_text

    def ms(text: str) -> float:
        key = parse_layer_text(text)
        return 0.01 + 0.02 * (key.block.se > 0) + 0.01 * (key.block.act == "swish")

    texts = [
        f"mbconv|{c}>{c}|h{h}|k3|s1|e4|se{se}|{act}"
        for c in (16, 32, 64)
        for h in (8, 16)
        for se in ("0", "0.25")
        for act in ("relu", "swish")
    ]
    held = {"mbconv|32>32|h16|k3|s1|e4|se0.25|swish", "mbconv|16>16|h8|k3|s1|e4|se0|relu"}
    est = Estimator.fit({t: ms(t) for t in texts if t not in held}, batch=1, precision="fp16")
    for t in held:
        assert est.predict(parse_layer_text(t)) == pytest.approx(ms(t), rel=0.05)
    assert len(est.coefs["mbconv"]) == 7  # constant, MACs, bytes and four kernel terms
