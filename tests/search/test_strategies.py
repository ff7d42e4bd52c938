"""Every registered strategy through the search algorithm Ray Tune drives, without a cluster.

Each strategy is made by name (as a recipe or the API does), asked for configurations and
told results in the way Ray Tune does (``suggest`` / ``on_trial_complete``), on a tiny test
space and on the efficientnet_x space at small width. Bad input fails before any trial.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import search_testkit as kit

from accelsearch import search, spaces
from accelsearch.core.errors import ConfigError, UnknownNameError
from accelsearch.search import strategy
from accelsearch.search.strategy import Objective

EXPECTED = {
    "optuna-tpe",
    "optuna-nsga2",
    "optuna-nsga3",
    "optuna-gp",
    "pymoo-nsga2",
    "pymoo-smsemoa",
    "random",
    "sobol",
    "stratified",
    "llr",
}
MULTI = Objective.of("accuracy", "latency_ms")
SINGLE = Objective.of("accuracy")
FAST_OPTIONS = {
    "optuna-gp": {"n_startup_trials": 3},
    "pymoo-nsga2": {"pop_size": 4},
    "pymoo-smsemoa": {"pop_size": 4},
    "optuna-nsga2": {"population_size": 4},
    "optuna-nsga3": {"population_size": 4},
    "stratified": {"candidates": 64, "bins": 2, "predictor": lambda a: a.stages[0].width},
}


def drive(alg, space, n: int, order: str = "fifo", concurrency: int = 1) -> list[dict]:
    """Ask/tell like Ray Tune: up to ``concurrency`` trials in flight, results in ``order``."""
    told, running, i = [], [], 0
    rng = np.random.default_rng(0)
    while len(told) < n:
        while len(running) < concurrency and i < n:
            cfg = alg.suggest(f"t{i}")
            if cfg is None or cfg == "FINISHED":
                break
            running.append((f"t{i}", cfg))
            i += 1
        if not running:
            break
        k = (
            len(running) - 1
            if order == "lifo"
            else (0 if order == "fifo" else rng.integers(len(running)))
        )
        tid, cfg = running.pop(int(k))
        alg.on_trial_complete(tid, kit.fake_metrics(space, cfg))
        told.append(cfg)
    return told


def test_registry_lists_every_strategy():
    names = set(search.strategies())
    assert EXPECTED <= names
    from accelsearch.search.strategy import STRATEGIES

    assert not STRATEGIES.get("optuna-nsga3").supports_single
    assert not STRATEGIES.get("pymoo-smsemoa").supports_single
    assert not STRATEGIES.get("llr").supports_multi
    assert not STRATEGIES.get("stratified").supports_multi


@pytest.mark.parametrize("name", sorted(EXPECTED - {"llr", "stratified"}))
def test_multi_objective_strategies_suggest_valid_points(name):
    space = spaces.get("search_tiny")
    alg, param_space = strategy.make(name, space, MULTI, 0, FAST_OPTIONS.get(name, {}))
    told = drive(alg, space, 8 if name != "optuna-gp" else 5)
    assert len(told) == (8 if name != "optuna-gp" else 5)
    for cfg in told:
        space.validate_params(cfg)  # every suggestion is a point of the space


@pytest.mark.parametrize("name", ["optuna-tpe", "optuna-gp", "pymoo-nsga2", "random", "sobol"])
def test_single_objective_strategies(name):
    space = spaces.get("search_tiny")
    alg, _ = strategy.make(name, space, Objective.of("reward"), 1, FAST_OPTIONS.get(name, {}))
    assert len(drive(alg, space, 5)) == 5


@pytest.mark.parametrize("name", ["pymoo-nsga2", "pymoo-smsemoa"])
def test_pymoo_concurrent_trials_told_in_any_order(name):
    """Three trials in flight, results back in random order, a failure among them: the
    generation is told to pymoo once complete and the search moves on."""
    space = spaces.get("efficientnet_x", width_mult=0.25, resolutions=(32,))
    alg, _ = strategy.make(name, space, MULTI, 0, {"pop_size": 6})
    seen, running, n_done = [], {}, 0
    for step in range(40):
        while len(running) < 3:
            cfg = alg.suggest(f"t{step}-{len(running)}")
            if cfg is None:
                break
            space.validate_params(cfg)
            running[f"t{step}-{len(running)}"] = cfg
        tid = sorted(running)[step % len(running)]
        cfg = running.pop(tid)
        arch = space.decode(cfg)
        failed = n_done == 2  # one failed trial
        result = (
            None
            if failed
            else {"accuracy": 50.0 + arch.num_blocks, "latency_ms": 0.1 * arch.num_blocks}
        )
        alg.on_trial_complete(tid, result, error=failed)
        seen.append(cfg)
        n_done += 1
    inner = alg.ask_tell
    assert inner.generations >= 4  # told generation after generation
    assert len({inner.encoding.key(c) for c in seen}) >= 20  # it explores


def test_sobol_is_space_filling_and_unique():
    space = spaces.get("search_tiny")  # 4 × 3 × 2 × 2 = 48 assignments
    alg, _ = strategy.make("sobol", space, MULTI, 0, {})
    told = drive(alg, space, 48)
    keys = {tuple(sorted(c.items())) for c in told}
    assert len(keys) == 48  # the whole space, no repeats
    first16 = told[:16]
    assert {c["width"] for c in first16} == set(kit.WIDTHS)  # spread over every width early


def test_random_is_seeded():
    space = spaces.get("search_tiny")
    a = drive(strategy.make("random", space, MULTI, 3, {})[0], space, 6)
    b = drive(strategy.make("random", space, MULTI, 3, {})[0], space, 6)
    c = drive(strategy.make("random", space, MULTI, 4, {})[0], space, 6)
    assert a == b and a != c


@pytest.mark.parametrize(
    "name", ["pymoo-nsga2", "optuna-tpe", "optuna-nsga2", "optuna-nsga3", "sobol", "stratified"]
)
def test_searcher_state_survives_save_and_restore(tmp_path, name):
    """What Ray Tune does on resume: save mid-search, restore into a fresh object, go on
    with the same suggestions the original would have made."""
    space = spaces.get("search_tiny")
    obj = SINGLE if name == "stratified" else MULTI
    alg, _ = strategy.make(name, space, obj, 0, FAST_OPTIONS.get(name, {}))
    drive(alg, space, 5)
    alg.save(str(tmp_path / "ckpt.pkl"))
    fresh, _ = strategy.make(name, space, obj, 0, FAST_OPTIONS.get(name, {}))
    fresh.restore(str(tmp_path / "ckpt.pkl"))
    nxt_a = [alg.suggest(f"n{i}") for i in range(3)]
    nxt_b = [fresh.suggest(f"n{i}") for i in range(3)]
    assert nxt_a == nxt_b


def test_stratified_gives_one_winner_per_requested_bin():
    space = spaces.get("search_tiny")
    predictor = lambda arch: float(arch.stages[0].width * arch.stages[0].depth)  # noqa: E731
    alg, _ = strategy.make(
        "stratified",
        space,
        SINGLE,
        0,
        {
            "candidates": 256,
            "bins": [0, 10, 25, 100],
            "target_bins": [0, 2],
            "predictor": predictor,
        },
    )
    told = drive(alg, space, 12)
    summary = alg.summary()
    assert [b["bin"] for b in summary["bins"]] == [0, 2]
    for b in summary["bins"]:
        lo, hi = b["range"]
        w = b["winner"]
        assert lo <= w["predicted_latency"] < hi
        assert w["params"]["width"] * w["params"]["depth"] == w["predicted_latency"]
    # every evaluated arch lies in a requested bin, and each bin's winner is its best
    for cfg in told:
        lat = cfg["width"] * cfg["depth"]
        assert lat < 10 or 25 <= lat < 100
    for b in summary["bins"]:
        lo, hi = b["range"]
        in_bin = [c for c in told if lo <= c["width"] * c["depth"] < hi]
        best = max(kit.fake_metrics(space, c)["accuracy"] for c in in_bin)
        assert b["winner"]["accuracy"] == best


def test_stratified_with_the_flops_predictor():
    space = spaces.get("search_tiny")
    alg, _ = strategy.make(
        "stratified", space, SINGLE, 0, {"candidates": 32, "bins": 2, "predictor": "flops"}
    )
    told = drive(alg, space, 6)
    s = alg.summary()
    assert s["predictor_unit"] == "GFLOPs" and len(s["bins"]) == 2
    assert all(b["evaluated"] == 3 for b in s["bins"])
    # the fast bin's archs have fewer FLOPs than the slow bin's
    lo_hi = s["bins"][0]["range"][1]
    assert (
        s["bins"][0]["winner"]["predicted_latency"]
        < lo_hi
        <= s["bins"][1]["winner"]["predicted_latency"]
    )
    assert len(told) == 6


def test_llr_on_efficientnet_x_finds_a_better_arch_within_the_budget():
    """A synthetic objective where depth helps and latency grows with width × depth: LLR
    perturbs every stage, fits the pseudo-gradient and verifies an arch that beats its
    start without exceeding the start's latency."""
    space = spaces.get("efficientnet_x", width_mult=0.25, resolutions=(32,))

    def metrics(cfg):
        a = space.decode(cfg)
        acc = 50 + sum(2.0 * st.depth + 0.05 * st.width for st in a.stages)
        lat = sum(0.01 * st.width * st.depth for st in a.stages)
        return {"accuracy": acc, "latency_ms": lat}

    alg, _ = strategy.make("llr", space, SINGLE, 0, {"granularity": "type"})
    n = 0
    while True:
        cfg = alg.suggest(str(n))
        if cfg in (None, "FINISHED"):
            break
        alg.on_trial_complete(str(n), metrics(cfg))
        n += 1
    s = alg.summary()
    r = s["rounds"][0]
    n_perturb = sum(len(t) for t in s["stage_parameters"].values())
    assert n == 1 + len(alg.ask_tell._perturbations(alg.ask_tell.start_idx)) + 1
    assert n_perturb > 0
    assert r["coefficients"]  # one pseudo-gradient per block type and kind
    assert all(k.split(":")[0] in ("mbconv", "fused", "s2d") for k in r["coefficients"])
    assert r["verified_accuracy"] > r["center_accuracy"]
    assert r["verified_latency_ms"] <= s["latency_budget"] * 1.05  # linear model, small error
    assert alg.suggest("after") == "FINISHED"


def test_llr_rejects_a_space_without_ordered_stage_parameters():
    space = spaces.get("search_categorical")
    with pytest.raises(ConfigError, match=r"llr.*depth or width.*ordered parameters: none"):
        strategy.make("llr", space, SINGLE, 0, {})


# -- bad input: clear errors before any trial ------------------------------------------------
def test_unknown_strategy_names_the_choices():
    with pytest.raises(
        UnknownNameError, match=r"unknown search strategy 'annealing'.*'optuna-tpe'"
    ):
        strategy.make("annealing", spaces.get("search_tiny"), SINGLE, 0, {})


def test_multi_objective_strategy_with_one_metric():
    with pytest.raises(ConfigError, match=r"'optuna-nsga3' is multi-objective.*objectives"):
        strategy.make("optuna-nsga3", spaces.get("search_tiny"), SINGLE, 0, {})


def test_single_objective_strategy_with_several_metrics():
    with pytest.raises(ConfigError, match=r"'llr' optimises one metric.*accuracy, latency_ms"):
        strategy.make("llr", spaces.get("search_tiny"), MULTI, 0, {})


def test_unknown_metric_and_option():
    with pytest.raises(ConfigError, match=r"unknown metric\(s\) \['acuracy'\].*'accuracy'"):
        strategy.objective_from_options({"objectives": ["acuracy", "latency_ms"]})
    with pytest.raises(ConfigError, match=r"population_sise.*valid options.*population_size"):
        strategy.make("optuna-nsga2", spaces.get("search_tiny"), MULTI, 0, {"population_sise": 4})
    with pytest.raises(ConfigError, match=r"pop_sise.*valid options.*pop_size"):
        strategy.make("pymoo-nsga2", spaces.get("search_tiny"), MULTI, 0, {"pop_sise": 4})


class _FloatSpace(kit.TinySpace):
    def params(self):
        from ray import tune

        return {**super().params(), "dropout": tune.uniform(0.0, 0.5)}


def test_space_with_a_distribution_strategies_cannot_search():
    with pytest.raises(ConfigError, match=r"parameter 'dropout'.*Categorical, IntRange or Ordinal"):
        strategy.make("random", _FloatSpace(), MULTI, 0, {})


def test_recipe_checks_strategy_against_space():
    with pytest.raises(
        ConfigError, match=r"search.strategy: strategy .llr. steps stage depth and width"
    ):
        kit.tiny_recipe("llr", space="search_categorical", objectives=["accuracy"])
    with pytest.raises(ConfigError, match=r"'pymoo-smsemoa' is multi-objective"):
        kit.tiny_recipe("pymoo-smsemoa")  # default objective: reward alone


def test_objective_values_are_minimised_and_failures_are_none():
    obj = Objective.of("accuracy", "latency_ms")
    assert obj.values({"accuracy": 90.0, "latency_ms": 2.0}) == (-90.0, 2.0)
    assert obj.values({"accuracy": float("nan"), "latency_ms": 2.0}) is None
    assert obj.values({"latency_ms": 2.0}) is None
    assert obj.values(None) is None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tune_searcher_pickles(name):
    """Ray Tune pickles the searcher when the Tuner starts and in every snapshot (Optuna
    5.1's NSGA-II/III samplers hold a thread lock, which pickle refuses: they must still)."""
    from ray import cloudpickle

    space = spaces.get("search_tiny")
    obj = SINGLE if name in ("stratified", "llr") else MULTI
    alg, _ = strategy.make(name, space, obj, 0, FAST_OPTIONS.get(name, {}))
    drive(alg, space, 3)
    again = pickle.loads(cloudpickle.dumps(alg))
    assert again.suggest("x") == alg.suggest("x")


@pytest.mark.parametrize("objective", [SINGLE, MULTI])
def test_optuna_is_told_a_failed_trial_failed(objective):
    import optuna

    space = spaces.get("search_tiny")
    alg, _ = strategy.make("optuna-tpe", space, objective, 0, {})
    alg.suggest("a")
    alg.on_trial_complete("a", {"trial_error": "Traceback ... ArchError", "error": "ArchError"})
    alg.suggest("b")
    alg.on_trial_complete("b", kit.fake_metrics(space, space.sample(0)) | {"accuracy": 70.0})
    states = [t.state for t in alg._ot_study.trials]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]


def test_stratified_options_are_checked_before_any_trial():
    space = spaces.get("search_tiny")
    with pytest.raises(ConfigError, match=r"predictor is 'magic'.*'flops'"):
        strategy.make("stratified", space, SINGLE, 0, {"predictor": "magic"})
    with pytest.raises(ConfigError, match=r"target_bins has \[7\]; there are 3 bins"):
        strategy.make("stratified", space, SINGLE, 0, {"bins": 3, "target_bins": [7]})
    with pytest.raises(ConfigError, match=r"bins as edges needs >= 2 ascending"):
        strategy.make("stratified", space, SINGLE, 0, {"bins": [3.0, 1.0]})
