"""``pool-bo``'s surrogate: one GP length scale per parameter (tied over its one-hot columns),
its gradient, and that it learns which parameters matter; the random forest beside the GP or
instead of it, and pool-bo's ``surrogate`` option."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.gaussian_process.kernels import Matern

from accelsearch import spaces
from accelsearch.errors import ConfigError
from accelsearch.search import pool_bo, strategy
from accelsearch.search.budget import Budget
from accelsearch.search.pool_surrogate import (
    ParameterMatern,
    Surrogate,
    features,
    forest_mode,
    parameter_of_column,
)
from accelsearch.search.strategy import Objective


def _nb201_encoding():
    s = strategy.validate("pool-bo", spaces.get("nb201"), Objective.of("accuracy"), 0, {})
    return s.encoding


def test_columns_map_to_their_parameter():
    enc = _nb201_encoding()
    groups = parameter_of_column(enc)
    assert groups.tolist() == [p for p in range(6) for _ in range(5)]  # 6 edges x 5 ops
    assert features(enc, np.zeros((1, 6), dtype=int)).shape[1] == len(groups)


def test_tied_kernel_is_the_per_column_one_and_its_gradient_is_exact():
    rng = np.random.default_rng(0)
    groups = np.array([0, 0, 0, 1, 1, 2])
    x = rng.integers(0, 2, size=(7, 6)).astype(float)
    scales = np.array([0.7, 2.0, 1.3])
    k = ParameterMatern(groups, scales, nu=2.5)
    K, grad = k(x, eval_gradient=True)
    assert np.allclose(K, Matern(scales[groups], nu=2.5)(x))
    assert grad.shape == (7, 7, 3)
    eps = 1e-6
    for g in range(3):  # d K / d log(scale_g), by central differences
        up, down = scales.copy(), scales.copy()
        up[g] *= np.exp(eps)
        down[g] *= np.exp(-eps)
        numeric = (ParameterMatern(groups, up)(x) - ParameterMatern(groups, down)(x)) / (2 * eps)
        assert np.allclose(grad[..., g], numeric, atol=1e-6)


def test_per_parameter_scales_find_the_parameters_that_matter():
    """20 points (pool-bo's startup), a value that edge 4 decides and edge 1 nudges: the tied
    scales say so, and predict unseen cells better than one length scale for all."""
    enc = _nb201_encoding()
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 5, size=(220, 6))
    y = -np.array([0.0, 1.0, 3.0, 2.0, 0.5])[idx[:, 4]] - 0.5 * (idx[:, 1] % 2)
    y = y + 0.01 * rng.standard_normal(len(y))
    x = features(enc, idx)
    train, test = slice(0, 20), slice(20, None)
    tied = Surrogate(warp=False, groups=parameter_of_column(enc)).fit(x[train], y[train])
    scales = tied.gp.kernel_.k1.k2.length_scale
    assert len(scales) == 6
    assert scales[4] < 0.2 * scales[1] and scales[1] < 0.2 * min(np.delete(scales, [1, 4]))
    one = Surrogate(warp=False).fit(x[train], y[train])
    err_tied = np.abs(tied.predict(x[test])[0] - y[test]).mean()
    err_one = np.abs(one.predict(x[test])[0] - y[test]).mean()
    assert err_tied < 0.5 * err_one


def test_pool_bo_fits_one_length_scale_per_parameter_and_the_latency_feature():
    space = spaces.get("nb201")
    lat = {"none": 0.0, "skip_connect": 0.01, "avg_pool_3x3": 0.03, "nor_conv_1x1": 0.05,
           "nor_conv_3x3": 0.2}  # fmt: skip
    opts = {"candidates": 512, "n_startup_trials": 3, "per_parameter": True,
            "predictor": lambda arch: 0.1 + sum(lat[o] for o in space.ops_of(arch))}  # fmt: skip
    for budget, n_scales in ((None, 6), (Budget(latency_ms=0.5), 7)):
        s = strategy.validate("pool-bo", space, Objective.of("accuracy"), 0, opts, budget=budget)
        s.ask()
        members = np.array([0, 1, 2])
        groups = s._length_groups(s._features(members))
        assert len(set(groups.tolist())) == n_scales
        default = {k: v for k, v in opts.items() if k != "per_parameter"}
        off = strategy.validate("pool-bo", space, Objective.of("accuracy"), 0, default)
        off.ask()
        assert off._length_groups(off._features(members)) is None  # one length scale


def test_fast_tied_kernel_matches_the_per_column_path_also_between_two_sets():
    rng = np.random.default_rng(2)
    groups = np.array([0, 0, 1, 1, 1, 2])
    x, y = rng.random((9, 6)), rng.random((4, 6))
    k = ParameterMatern(groups, np.array([0.5, 1.7, 3.0]), nu=2.5)
    fast, fast_grad = k(x, eval_gradient=True)
    slow, slow_grad = k._per_column(x, None, True)
    assert np.allclose(fast, slow) and np.allclose(fast_grad, slow_grad)
    assert np.allclose(k(x, y), k._per_column(x, y, False))


def test_summed_kernel_has_both_scales_and_pool_bo_passes_it():
    enc = _nb201_encoding()
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 5, size=(30, 6))
    x, y = features(enc, idx), rng.standard_normal(30)
    gp = Surrogate(groups=parameter_of_column(enc), summed=True).fit(x, y).gp
    parts = gp.kernel_.k1  # (C * per parameter) + (C * one scale)
    assert isinstance(parts.k1.k2, ParameterMatern) and len(parts.k1.k2.length_scale) == 6
    assert type(parts.k2.k2) is Matern and np.isscalar(parts.k2.k2.length_scale)
    space = spaces.get("nb201")
    s = strategy.validate(
        "pool-bo", space, Objective.of("accuracy"), 0,
        {"candidates": 512, "summed_kernel": True, "predictor": lambda arch: 1.0 + 0.01 * len(
            [o for o in space.ops_of(arch) if o == "nor_conv_3x3"])},
    )  # fmt: skip
    s.ask()
    assert len(set(s._length_groups(s._features(np.array([0, 1]))).tolist())) == 6


def test_the_forest_beside_the_gp_pools_both_predictions_on_the_warped_targets():
    enc = _nb201_encoding()
    rng = np.random.default_rng(4)
    idx = rng.integers(0, 5, size=(40, 6))
    # an interaction: op 1 on the first edge is good only beside op 3 on the second
    y = rng.normal(0, 0.05, 40) - 2.0 * ((idx[:, 0] == 1) & (idx[:, 1] == 3))
    x = features(enc, idx)
    mixed = Surrogate(seed=1, forest="mixture").fit(x, y)
    gp_only = Surrogate(seed=1).fit(x, y)
    probe = features(enc, rng.integers(0, 5, size=(8, 6)))
    mu_gp, sd_gp = gp_only.predict(probe)  # the same GP: same targets, same seed
    np.testing.assert_allclose(mixed.gp.predict(probe), mu_gp)
    per_tree = np.stack([t.predict(probe) for t in mixed.forest.estimators_])
    mu_f, sd_f = per_tree.mean(axis=0), np.maximum(per_tree.std(axis=0), 1e-3)
    mu, sd = mixed.predict(probe)
    np.testing.assert_allclose(mu, (mu_gp + mu_f) / 2)
    np.testing.assert_allclose(sd**2, (sd_gp**2 + sd_f**2) / 2 + ((mu_gp - mu_f) / 2) ** 2)
    # the forest learnt the warped targets: its training-set means follow them
    fitted = np.stack([t.predict(x) for t in mixed.forest.estimators_]).mean(axis=0)
    assert np.corrcoef(fitted, mixed.warp(y))[0, 1] > 0.8
    assert Surrogate().fit(x, y).forest is None
    alone = Surrogate(seed=1, forest="alone").fit(x, y)
    assert alone.gp is None
    np.testing.assert_allclose(alone.predict(probe)[0], alone._predict_forest(probe)[0])
    np.testing.assert_allclose(alone.predict(probe)[0], mu_f)  # the same forest as beside it
    with pytest.raises(ValueError, match="forest='both'"):
        Surrogate(forest="both")


def test_alternate_takes_the_forest_alone_at_odd_counts_and_the_gp_at_even():
    assert [forest_mode("alternate", n) for n in (20, 21, 22, 99)] == [None, "alone", None, "alone"]
    assert {forest_mode("gp", n) for n in (20, 21)} == {None}
    assert {forest_mode("gp+forest", n) for n in (20, 21)} == {"mixture"}


NB201 = {"candidates": 256, "n_startup_trials": 2, "predictor": lambda arch: 1.0}


@pytest.fixture
def forests_made(monkeypatch) -> list:
    """The ``forest`` argument of every Surrogate pool-bo makes, in order."""
    made = []

    class Recording(Surrogate):
        def __init__(self, *args, **kwargs):
            made.append(kwargs.get("forest"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pool_bo, "Surrogate", Recording)
    return made


def _search_five(objective, options):
    """A pool-bo search on NB201 told five made-up results; the searcher."""
    s = strategy.validate("pool-bo", spaces.get("nb201"), objective, 0, {**NB201, **options})
    for k in range(5):
        sug = s.ask()
        s.tell(sug.id, {"accuracy": 50.0 + k, "latency_ms": 1.0 + k})
    return s


def test_pool_bo_passes_its_surrogate_option_and_names_the_choices(forests_made):
    choices = (
        ({"surrogate": "gp"}, {None}),
        ({"surrogate": "gp+forest"}, {"mixture"}),
        ({"surrogate": "alternate"}, {None, "alone"}),
    )
    for choice, forests in choices:
        _search_five(Objective.of("accuracy"), choice)
        assert set(forests_made) == forests
        forests_made.clear()
    with pytest.raises(
        ConfigError,
        match=r"surrogate must be one of gp, gp\+forest, alternate or null \(alternate for a "
        r"front, gp for one metric\), got 'rf'",
    ):
        strategy.validate(
            "pool-bo",
            spaces.get("nb201"),
            Objective.of("accuracy"),
            0,
            {**NB201, "surrogate": "rf"},
        )


def test_by_default_a_front_alternates_and_one_metric_takes_the_gp(forests_made):
    for objective, forests, name in (
        (Objective.of("accuracy", "latency_ms"), {None, "alone"}, "alternate"),
        (Objective.of("accuracy"), {None}, "gp"),
    ):
        s = _search_five(objective, {})
        assert set(forests_made) == forests and s.summary()["surrogate"] == name
        forests_made.clear()
    # a run saved when gp was every objective's default has it in its options: it stays gp
    front = strategy.validate(
        "pool-bo", spaces.get("nb201"), Objective.of("accuracy", "latency_ms"), 0, NB201
    )
    front.options["surrogate"] = "gp"
    assert front.surrogate == "gp"
