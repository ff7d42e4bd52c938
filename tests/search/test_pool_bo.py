"""``pool-bo``: the closed-form hypervolume improvement, the pool (whole space or Sobol, one
member per predicted latency, cut to the budget), the search on a made-up NAS-Bench-201
problem, its state across a save, and its errors before any trial."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import search_testkit  # noqa: F401  (registers the space search_tiny)

from accelsearch import spaces
from accelsearch.errors import ConfigError
from accelsearch.search import strategy
from accelsearch.search.budget import Budget
from accelsearch.search.pool_acquisition import (
    expected_improvement,
    hypervolume,
    hypervolume_improvement,
)
from accelsearch.search.pool_bo import PoolBOSearcher
from accelsearch.search.strategy import Objective

MULTI = Objective.of("accuracy", "latency_ms")
SINGLE = Objective.of("accuracy")
COST = {"none": 0.0, "skip_connect": 0.01, "avg_pool_3x3": 0.03, "nor_conv_1x1": 0.05,
        "nor_conv_3x3": 0.2}  # fmt: skip
GAIN = {"none": -3.0, "skip_connect": 0.5, "avg_pool_3x3": 0.2, "nor_conv_1x1": 1.0,
        "nor_conv_3x3": 2.0}  # fmt: skip


def _ops(space, params) -> list[str]:
    return [params[n] for n in space.params()]


def made_up(space, params) -> dict[str, float]:
    """NB201-like: 3x3 convs cost most and give most; 'none' on edge 1 breaks the cell."""
    ops = _ops(space, params)
    lat = 0.2 + sum(COST[o] * (1 + 0.1 * k) for k, o in enumerate(ops))
    acc = 80 + sum(GAIN[o] for o in ops) + 0.7 * (ops[0] == ops[3]) - 60 * (ops[0] == "none")
    return {"accuracy": acc, "latency_ms": lat}


def latency_of(space):
    return lambda arch: made_up(space, space.encode(arch))["latency_ms"]


def test_certain_improvement_is_the_exact_hypervolume_gain():
    rng = np.random.default_rng(0)
    front_v, front_t = rng.uniform(0, 1, 12), rng.uniform(0, 1, 12)
    cand_v, cand_t = rng.uniform(-0.2, 1.2, 40), rng.uniform(-0.2, 1.2, 40)
    got = hypervolume_improvement(cand_v, np.zeros(40), cand_t, front_v, front_t, 1.0, 1.0)
    base = hypervolume(front_v, front_t, 1.0, 1.0)
    want = [
        hypervolume(np.r_[front_v, v], np.r_[front_t, t], 1.0, 1.0) - base
        for v, t in zip(cand_v, cand_t)
    ]
    np.testing.assert_allclose(got, want, atol=1e-12)
    from pymoo.indicators.hv import HV

    assert base == pytest.approx(HV(ref_point=np.array([1.0, 1.0]))(np.c_[front_v, front_t]))


def test_expected_improvement_matches_sampling():
    rng = np.random.default_rng(1)
    front_v, front_t = np.array([0.2, 0.5, 0.8]), np.array([0.7, 0.4, 0.1])
    mu, sigma, t = 0.45, 0.2, 0.3
    draws = rng.normal(mu, sigma, 4_000)
    base = hypervolume(front_v, front_t, 1.0, 1.0)
    sampled = np.mean(
        [hypervolume(np.r_[front_v, v], np.r_[front_t, t], 1.0, 1.0) - base for v in draws]
    )
    closed = hypervolume_improvement([mu], [sigma], [t], front_v, front_t, 1.0, 1.0)[0]
    assert closed == pytest.approx(sampled, rel=0.05)
    assert expected_improvement(np.array([1.0]), np.array([0.0]), 3.0)[0] == 2.0


def _drive(searcher, space, n: int, metrics=made_up) -> list[dict]:
    asked = []
    for _ in range(n):
        sug = searcher.ask()
        if sug is None:
            break
        asked.append(sug.params)
        searcher.tell(sug.id, metrics(space, sug.params))
    return asked


def _front_area(space, asked) -> float:
    m = [made_up(space, p) for p in asked]
    return hypervolume(
        np.array([-x["accuracy"] for x in m]), np.array([x["latency_ms"] for x in m]), -70.0, 2.0
    )


def test_finds_more_of_the_front_than_random_on_a_made_up_problem():
    space = spaces.get("nb201")
    opts = {"candidates": 1024, "n_startup_trials": 6, "predictor": latency_of(space)}
    pool_bo = strategy.validate("pool-bo", space, MULTI, 3, opts)
    rand = strategy.validate("random", space, MULTI, 3, {})
    found = _drive(pool_bo, space, 20)
    assert len({tuple(p.values()) for p in found}) == 20  # no repeats
    assert 900 < pool_bo.summary()["pool"] <= 1024  # Sobol draws, repeats dropped
    assert _front_area(space, found) > 1.05 * _front_area(space, _drive(rand, space, 20))


def _ask_all(s) -> list[dict]:
    asked = []
    while (sug := s.ask()) is not None:
        asked.append(sug.params)
        s.tell(sug.id, {"accuracy": float(sug.params["depth"]), "latency_ms": 0.1})
    return asked


def test_budget_cuts_the_pool_and_a_coarse_predictors_ties_are_not_merged():
    space = spaces.get("search_tiny")  # 48 assignments: the pool is the whole space
    lat = {4: 0.1, 8: 0.2, 12: 0.3, 16: 0.4}
    opts = {"n_startup_trials": 2, "predictor": lambda a: lat[a.stages[0].width]}
    s = strategy.validate("pool-bo", space, SINGLE, 0, opts, budget=Budget(latency_ms=0.25))
    asked = _ask_all(s)
    # widths 4 and 8 are within 0.25 ms (+5 %): 24 members; 4 latencies for the pool's 48
    # (< 10 %): the predictor does not tell networks apart, a tie is no evidence of one
    # network, so all 24 are asked
    assert sorted({p["width"] for p in asked}) == [4, 8] and len(asked) == 24
    assert s.is_finished()
    assert s.summary()["pool"] == 48 and s.summary()["admitted"] == 24


def test_one_member_per_predicted_latency_where_the_predictor_tells_networks_apart():
    space = spaces.get("search_tiny")

    def ms(a):  # act never changes it, so each latency is at least two members
        return a.stages[0].width * a.stages[0].depth + 0.1 * a.stages[0].kernel

    fine = {"n_startup_trials": 2, "predictor": ms}
    off = strategy.validate("pool-bo", space, SINGLE, 0, {**fine, "merge_equal_latency": False})
    every = {ms(space.decode(p)) for p in _ask_all(off)}
    s = strategy.validate("pool-bo", space, SINGLE, 0, fine)
    asked = [ms(space.decode(p)) for p in _ask_all(s)]
    assert 0.1 * 48 <= len(every) <= 24  # fine enough to merge; ties to merge
    assert sorted(asked) == sorted(every) and s.summary()["admitted"] == len(every)


def tiny_latency(arch) -> float:
    st = arch.stages[0]
    return st.width * st.depth + 0.1 * st.kernel + 0.01 * (st.act == "relu")


def test_state_survives_a_save_and_asks_on_as_before():
    space = spaces.get("search_tiny")
    a = PoolBOSearcher(space, MULTI, 5, n_startup_trials=3, predictor=tiny_latency)
    _drive(a, space, 6, search_testkit.fake_metrics)
    restored = pickle.loads(pickle.dumps(a))
    assert restored.pool is None  # regenerated from the seed, not saved
    after = _drive(restored, space, 4, search_testkit.fake_metrics)
    assert len(after) == 4 and after == _drive(a, space, 4, search_testkit.fake_metrics)


def test_bad_input_fails_before_any_trial():
    space = spaces.get("search_tiny")
    fast = {"predictor": lambda a: 0.1 * a.stages[0].width}
    with pytest.raises(ConfigError, match=r"one metric or two with latency_ms.*params_m"):
        strategy.validate("pool-bo", space, Objective.of("accuracy", "params_m"), 0, fast)
    with pytest.raises(ConfigError, match="n_startup_trials must be >= 2"):
        strategy.validate("pool-bo", space, MULTI, 0, {**fast, "n_startup_trials": 1})
    with pytest.raises(ConfigError, match="predictor in ms.*'flops'"):
        strategy.validate(
            "pool-bo", space, SINGLE, 0, {"predictor": "flops"}, budget=Budget(latency_ms=1.0)
        )
    s = strategy.validate("pool-bo", space, SINGLE, 0, fast, budget=Budget(latency_ms=0.1))
    with pytest.raises(ConfigError, match=r"fastest is predicted at 0.4 ms.*latency_budget_ms"):
        s.ask()


def test_with_a_budget_it_trains_within_it_and_finds_the_best_feasible():
    space = spaces.get("search_tiny")
    budget = Budget(latency_ms=0.1)

    def lat(arch):
        return search_testkit.fake_metrics(space, space.encode(arch))["latency_ms"]

    opts = {"n_startup_trials": 3, "predictor": lat, "merge_equal_latency": False,
            "latency_feature": 1.0}  # fmt: skip
    s = strategy.validate("pool-bo", space, SINGLE, 0, opts, budget=budget)
    found = _drive(s, space, 48, search_testkit.fake_metrics)
    metrics = [search_testkit.fake_metrics(space, p) for p in found]
    assert all(m["latency_ms"] <= 0.1 * 1.05 for m in metrics) and s.is_finished()
    every = [
        search_testkit.fake_metrics(space, s.encoding.from_indices(row)) for row in s._make_pool()
    ]
    best = max(m["accuracy"] for m in every if m["latency_ms"] <= 0.1)
    assert max(m["accuracy"] for m in metrics[:10] if m["latency_ms"] <= 0.1) == best


def test_neighbourhood_steps_stay_one_or_two_parameters_from_the_front():
    space = spaces.get("nb201")
    opts = {"candidates": 512, "n_startup_trials": 4, "local_every": 1,
            "predictor": latency_of(space)}  # fmt: skip
    s = strategy.validate("pool-bo", space, MULTI, 1, opts)
    found = _drive(s, space, 10)
    for k in range(4, 10):  # after the startup: near a trained member
        diff = [sum(found[k][n] != p[n] for n in p) for p in found[:k]]
        assert min(diff) <= 2


def test_latency_is_a_gp_feature_for_one_metric_under_a_latency_budget_only():
    space = spaces.get("search_tiny")
    opts = {"n_startup_trials": 2, "predictor": tiny_latency}
    plain = strategy.validate("pool-bo", space, SINGLE, 0, opts)
    budgeted = strategy.validate("pool-bo", space, SINGLE, 0, opts, budget=Budget(latency_ms=30.0))
    for s in (plain, budgeted):
        s.ask()  # makes the pool
    members = np.array([0, 1])
    assert budgeted._features(members).shape[1] == plain._features(members).shape[1] + 1
    weighed = strategy.validate("pool-bo", space, SINGLE, 0, {**opts, "latency_feature": 0})
    weighed.ask()
    assert weighed._features(members).shape == plain._features(members).shape
