"""Budgets as constraints and the screen before the GPU, without a cluster.

Every strategy that takes constraints gets them (Optuna's samplers through
``Trial.set_constraint``, pymoo through its violation, stratified by its pool, LLR by its
budget); the others are refused without the screen; the screen rejects candidates predicted
over the budget by more than the predictor's measured error; the trial stops a candidate
measured over the budget before training; bad budgets fail before any trial.
"""

from __future__ import annotations

import itertools
import math
import pickle

import numpy as np
import pytest
import search_testkit as kit
from torch import nn

from accelsearch import spaces
from accelsearch.core.errors import ConfigError
from accelsearch.objectives.latency.lut import LUTStore
from accelsearch.recipe_settings import trial_context
from accelsearch.search import strategy
from accelsearch.search.budget import Budget
from accelsearch.search.screen import BuildCost, Screen
from accelsearch.search.screen_models import FlopsLatency, TableLatency
from accelsearch.search.screen_setup import check_reachable, check_search_budget
from accelsearch.search.trial import evaluate_arch
from accelsearch.search.tune_adapter import ScreenedSearch

SINGLE = strategy.Objective.of("accuracy")
MULTI = strategy.Objective.of("accuracy", "latency_ms")
BUDGET = Budget(latency_ms=0.1)
FAST = {
    "optuna-gp": {"n_startup_trials": 3},
    "optuna-nsga2": {"population_size": 4},
    "optuna-nsga3": {"population_size": 4},
    "pymoo-nsga2": {"pop_size": 4},
    "pymoo-smsemoa": {"pop_size": 4},
}


def tiny():
    return spaces.get("search_tiny")


def fake_latency(arch) -> float:
    """The latency of ``kit.fake_metrics`` for an arch (an exact 'table' for the tests)."""
    st = arch.stages[0]
    return 0.01 * st.width * st.depth * st.kernel + 0.02


def best_feasible(space, budget: Budget) -> float:
    names = list(space.params())
    grid = itertools.product(*(d.values() for d in space.params().values()))
    metrics = [kit.fake_metrics(space, dict(zip(names, v))) for v in grid]
    return max(m["accuracy"] for m in metrics if budget.feasible(m))


def measured_first(space, cfg, budget: Budget) -> dict:
    """What a trial under the screen reports: latency first, trained only when within."""
    m = kit.fake_metrics(space, cfg)
    if not budget.feasible(m):
        return {"latency_ms": m["latency_ms"], "feasible": 0}
    return {**m, "feasible": 1}


# -- the budget --------------------------------------------------------------------------
def test_violations_are_relative_to_each_bound():
    b = Budget(latency_ms=2.0, latency_min_ms=0.5, params_m=5.0)
    v = b.violations({"latency_ms": 2.4, "params_m": 4.0})
    assert v["latency_ms"] == pytest.approx(0.2) and v["params_m"] == pytest.approx(-0.2)
    assert v["latency_min_ms"] == pytest.approx(-3.8)
    assert b.violation({"latency_ms": 2.4}) == pytest.approx(0.2)
    assert not b.feasible({"latency_ms": 2.4}) and b.feasible({"latency_ms": 1.0})
    assert b.reason({"latency_ms": 0.25}) == "latency_ms 0.25 under search.latency_min_ms 0.5"
    assert b.violations({})["latency_ms"] is None and b.violation({}) == 0.0
    with pytest.raises(ConfigError, match=r"latency_min_ms \(3.0\) must be below .* \(2.0\)"):
        Budget(latency_ms=2.0, latency_min_ms=3.0)


def test_a_strategy_that_cannot_take_constraints_needs_the_screen():
    with pytest.raises(ConfigError) as exc:
        kit.tiny_recipe("random", search={"latency_budget_ms": 0.3, "screen": {"enabled": False}})
    msg = str(exc.value)
    assert "search.search: " not in msg and "strategy 'random' cannot take constraints" in msg
    assert "turn the screen on" in msg and "optuna-tpe" in msg
    kit.tiny_recipe("random", search={"latency_budget_ms": 0.3})  # the screen keeps it
    kit.tiny_recipe("optuna-tpe", search={"latency_budget_ms": 0.3, "screen": {"enabled": False}})


# -- strategies take the constraints -------------------------------------------------------
@pytest.mark.parametrize("name", ["optuna-tpe", "optuna-nsga2", "optuna-nsga3", "optuna-gp"])
def test_optuna_samplers_get_the_budget_as_constraints(name):
    import optuna

    space = tiny()
    obj = MULTI if name == "optuna-nsga3" else SINGLE
    budget = Budget(latency_ms=0.2)  # a third of the tiny space is within it
    alg, _ = strategy.make(name, space, obj, 0, FAST.get(name, {}), budget=budget)
    for i in range(12):
        cfg = alg.suggest(f"t{i}")
        alg.on_trial_complete(f"t{i}", measured_first(space, cfg, budget))
    trials = alg._ot_study.trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert all(set(t.constraints) == {"latency_ms"} for t in trials)
    over = [t for t in trials if t.constraints["latency_ms"] > 0]
    within = [t for t in trials if t.constraints["latency_ms"] <= 0]
    assert over and within  # the tiny space has both at this budget
    worst = None
    for t in trials:  # never trained: the worst accuracy seen so far stands in (0 before any)
        if t.constraints["latency_ms"] <= 0:
            worst = t.values[0] if worst is None else min(worst, t.values[0])
            continue
        assert t.values[0] == (0.0 if worst is None else worst)
        assert t.constraints["latency_ms"] == pytest.approx(
            (fake_latency(space.decode(t.params)) - 0.2) / 0.2
        )


def test_pymoo_gets_the_violation_of_an_over_budget_individual():
    space = tiny()
    alg, _ = strategy.make("pymoo-nsga2", space, SINGLE, 0, {"pop_size": 4}, budget=BUDGET)
    for i in range(8):
        cfg = alg.suggest(f"t{i}")
        alg.on_trial_complete(f"t{i}", measured_first(space, cfg, BUDGET))
    cache = alg.ask_tell.cache
    for key, (values, g) in cache.items():
        lat = fake_latency(space.decode(dict(zip(alg.ask_tell.encoding.names, key))))
        assert g == pytest.approx(max(0.0, (lat - 0.1) / 0.1))
        assert (values is None) == (lat > 0.1)  # over the budget: not trained


def exact_screen(space, budget: Budget, margin: float | None = None) -> Screen:
    model = TableLatency(lambda: fake_latency, space, "exact test table", prior_margin=0.05)
    return Screen(budget, space, model, cost_of=lambda p: (0.0, 0.0), margin=margin)


@pytest.mark.parametrize(
    "name", ["optuna-tpe", "optuna-nsga2", "optuna-gp", "pymoo-nsga2", "random", "sobol"]
)
def test_the_screen_keeps_every_training_under_the_budget(name):
    """Native and screen-only strategies behind the screen: no training over the budget,
    over-budget candidates rejected on the CPU, the best feasible arch found."""
    space = tiny()
    native = strategy.STRATEGIES.get(name).constraints == "native"
    alg, _ = strategy.make(name, space, SINGLE, 0, FAST.get(name, {}), budget=BUDGET)
    screen = exact_screen(space, BUDGET)
    search = ScreenedSearch(alg, screen, max_per_trial=50)
    trained = []
    for i in range(24):
        cfg = search.suggest(f"t{i}")
        if cfg is None or cfg == "FINISHED":
            break
        result = measured_first(space, cfg, BUDGET)
        trained += [result] if "accuracy" in result else []
        search.on_trial_complete(f"t{i}", result)
    assert trained and all(r["latency_ms"] <= 0.1 for r in trained)
    assert screen.rejected > 0
    screened = search.drain_screened()
    assert len(screened) == screen.rejected and search.drain_screened() == []
    assert all(s["predicted_latency_ms"] * (1 - s["screen_margin"]) > 0.1 for s in screened)
    assert all(s["feasible"] == 0 and s["screened"] == 1 for s in screened)
    if native:
        assert max(r["accuracy"] for r in trained) == best_feasible(space, BUDGET)
    assert search.summary()["screen"]["screened"] == screen.rejected


def test_a_steady_bias_of_the_table_is_divided_out_on_the_trials_measured():
    space = tiny()
    model = TableLatency(lambda: lambda arch: 1.2 * fake_latency(arch), space, "20 % high", 0.05)
    screen = Screen(Budget(latency_ms=1.0), space, model, cost_of=lambda p: (0.0, 0.0))
    assert screen.margin() == 0.05  # the prior, until min_points trials are measured
    for w, d in [(4, 1), (8, 1), (4, 2), (12, 1)]:
        params = {"width": w, "depth": d, "kernel": 1, "act": "relu"}
        assert screen.judge(params).predicted_ms == pytest.approx(1.2 * (0.01 * w * d + 0.02))
        screen.observe(params, kit.fake_metrics(space, params))
    assert model.scale() == pytest.approx(1 / 1.2)  # every prediction 20 % high
    assert screen.margin() == pytest.approx(0.02)  # exact once scaled: the floor
    assert screen.summary()["scale"] == pytest.approx(1 / 1.2)
    # 0.98 ms true, 1.176 by the table: measured, as the plain table's 20 % margin also did
    assert screen.judge({"width": 16, "depth": 2, "kernel": 3, "act": "relu"}).passed
    verdict = screen.judge({"width": 16, "depth": 3, "kernel": 3, "act": "relu"})
    assert not verdict.passed and "predicted 1.46 ms − 2.0 % > 1 ms" in verdict.reason


def test_rescale_off_and_a_snapshot_from_before_the_scale():
    space = tiny()
    params = [{"width": w, "depth": 1, "kernel": 1, "act": "relu"} for w in (4, 8, 12, 16)]
    plain = TableLatency(lambda: lambda a: 1.2 * fake_latency(a), space, "high", rescale=False)
    for p in params:
        plain.observe(p, 1.0, fake_latency(space.decode(p)))
    assert plain.scale() == 1.0 and plain.margin() == pytest.approx(0.2)
    plain.rescale = True
    state = {k: v for k, v in plain.__getstate__().items() if k not in ("rescale", "make")}
    old = TableLatency.__new__(TableLatency)  # pickled before the option existed
    old.__dict__.update(pickle.loads(pickle.dumps(state)), make=plain.make)
    assert old.scale() == pytest.approx(1 / 1.2)  # its errors are the table's own: rescaled


def test_a_table_that_errs_both_ways_keeps_its_scale_and_its_measured_error():
    space = tiny()

    def noisy(arch):  # 20 % high on two networks, 20 % low on the other two
        high = arch.stages[0].width in (4, 12) and arch.stages[0].depth == 1
        return (1.2 if high else 0.8) * fake_latency(arch)

    model = TableLatency(lambda: noisy, space, "±20 %", 0.05)
    screen = Screen(Budget(latency_ms=1.0), space, model, cost_of=lambda p: (0.0, 0.0))
    for w, d in [(4, 1), (8, 1), (4, 2), (12, 1)]:
        params = {"width": w, "depth": d, "kernel": 1, "act": "relu"}
        screen.judge(params)
        screen.observe(params, kit.fake_metrics(space, params))
    assert model.scale() == 1.0  # a scale fitted on three of them errs more on the fourth
    assert screen.margin() == pytest.approx(0.2)


def test_flops_are_calibrated_on_the_trials_before_they_screen():
    space = tiny()
    model = FlopsLatency(min_points=4)
    gflops = {4: 1.0, 8: 2.0, 12: 3.0, 16: 4.0}  # one GFLOP per 4 channels
    screen = Screen(BUDGET, space, model, cost_of=lambda p: (0.0, gflops[p["width"]]))
    wide = {"width": 16, "depth": 1, "kernel": 1, "act": "relu"}
    assert screen.judge(wide).passed and screen.passed_unscreened == 1  # not calibrated yet
    for w, ms in [(4, 0.05), (8, 0.09), (12, 0.13), (16, 0.18)]:
        params = {"width": w, "depth": 1, "kernel": 1, "act": "relu"}
        screen.observe(params, {"latency_ms": ms, "gflops": gflops[w]})
    a, b = model.coef
    assert a == pytest.approx(0.043, abs=0.005) and b == pytest.approx(0.005, abs=0.01)
    assert 0.02 <= screen.margin() < 0.2  # the leave-one-out error of the fit
    verdict = screen.judge(wide)
    assert not verdict.passed and verdict.metrics["gflops"] == 4.0
    assert screen.judge({"width": 4, "depth": 1, "kernel": 1, "act": "relu"}).passed


def test_the_layer_count_joins_the_flops_fit_where_flops_alone_predict_badly():
    # launch-bound, as a GPU at batch 1: latency follows the layers, not the FLOPs
    class Cost:
        def __call__(self, p):
            return 0.0, {4: 3.0, 8: 0.5, 12: 2.0, 16: 1.0}[p["width"]]

        def layers(self, p):
            return 10 * p["depth"] + p["width"]

    space, model = tiny(), FlopsLatency(min_points=4)
    screen = Screen(Budget(latency_ms=0.6), space, model, cost_of=Cost())
    measured = []
    for w, d in [(4, 1), (8, 1), (12, 2), (16, 2), (4, 3), (8, 3)]:
        params = {"width": w, "depth": d, "kernel": 1, "act": "relu"}
        ms = 0.02 * (10 * d + w) + 0.05
        screen.observe(params, {"latency_ms": ms, "gflops": Cost()(params)[1]})
        measured.append(ms)
    assert model.with_layers and model.description.startswith("FLOPs and layer count")
    assert screen.margin() == pytest.approx(0.02)  # exact fit: the floor
    assert screen.summary()["calibration_terms"] == ["gflops", "layers", "1"]
    deep = {"width": 16, "depth": 3, "kernel": 1, "act": "relu"}  # 46 layers: 0.97 ms
    verdict = screen.judge(deep)
    assert not verdict.passed and verdict.predicted_ms == pytest.approx(0.97)
    assert screen.judge({"width": 4, "depth": 1, "kernel": 1, "act": "relu"}).passed
    line = FlopsLatency(min_points=4)  # the same points without layers: the line, a wide margin
    for g, ms in zip([3.0, 0.5, 2.0, 1.0, 3.0, 0.5], measured):
        line.observe({}, None, ms, g)
    assert not line.with_layers and len(line.coef) == 2 and line.margin() > 0.5


def test_build_cost_counts_convolutions_and_linear_layers():
    space = tiny()
    cost = BuildCost(space, num_classes=4)
    params = {"width": 8, "depth": 2, "kernel": 3, "act": "relu"}
    model = space.build(space.decode(params), num_classes=4)
    expected = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    assert cost.layers(params) == expected > 2  # built once, for the sizes too
    assert cost(params) == cost.memo[cost.encoding.key(params)]
    deeper = cost.layers({**params, "depth": 3})
    assert deeper > expected
    state = pickle.loads(pickle.dumps(cost)).__dict__  # a snapshot from before the count:
    old = BuildCost.__new__(BuildCost)
    old.__setstate__({k: v for k, v in state.items() if k != "layer_memo"})
    assert old.layers(params) == expected  # sized already, built again for its layers


def test_exact_sizes_are_screened_without_a_margin():
    space = tiny()
    screen = Screen(Budget(params_m=0.001), space, cost_of=BuildCost(space, num_classes=4))
    small = screen.judge({"width": 4, "depth": 1, "kernel": 1, "act": "relu"})
    big = screen.judge({"width": 16, "depth": 3, "kernel": 3, "act": "relu"})
    assert small.passed and not big.passed
    assert big.reason == "params_m 0.005464 over search.params_budget_m 0.001"
    assert big.margin is None and big.metrics["params_m"] == pytest.approx(0.005464)


def test_stratified_bins_lie_under_the_budget():
    space = tiny()
    opts = {"candidates": 64, "bins": 2, "predictor": fake_latency}
    alg, _ = strategy.make("stratified", space, SINGLE, 0, opts, budget=BUDGET)
    alg.suggest("a")
    s = alg.ask_tell
    members = np.concatenate(s.members)
    assert len(members) and (s.latency[members] <= 0.1 * 1.05).all()
    assert (s.latency > 0.105).any()  # the pool had slower candidates, left out
    with pytest.raises(ConfigError, match=r"needs a predictor in ms.*'flops'"):
        strategy.make("stratified", space, SINGLE, 0, {"predictor": "flops"}, budget=BUDGET)


def test_stratified_ridge_surrogate_is_a_valid_option_and_a_bad_one_is_named():
    space = tiny()
    opts = {"candidates": 64, "bins": 2, "predictor": fake_latency, "surrogate": "ridge"}
    alg, _ = strategy.make("stratified", space, SINGLE, 0, opts, budget=BUDGET)
    assert alg.suggest("a") is not None
    with pytest.raises(ConfigError, match=r"search.options.surrogate.*'ridge'"):
        strategy.make("stratified", space, SINGLE, 0, {**opts, "surrogate": "gp"}, budget=BUDGET)


def test_llr_takes_the_search_budget_as_its_own():
    space = spaces.get("efficientnet_x", width_mult=0.25, resolutions=(32,))
    alg, _ = strategy.make("llr", space, SINGLE, 0, {}, budget=Budget(latency_ms=1.5))
    assert alg.ask_tell.budget == 1.5
    with pytest.raises(ConfigError, match=r"latency_budget_ms \(2.0\) and search.latency_bud"):
        strategy.make("llr", space, SINGLE, 0, {"latency_budget_ms": 2.0}, budget=Budget(1.5))
    with pytest.raises(ConfigError, match="takes a latency budget only"):
        strategy.make("llr", space, SINGLE, 0, {}, budget=Budget(latency_ms=1.5, gflops=1.0))


# -- the trial stops before training ------------------------------------------------------
@pytest.mark.parametrize(
    "budget,trained",
    [
        (Budget(gflops=1e-6), False),
        (Budget(latency_ms=1e-4), False),
        (Budget(latency_ms=1e3), True),
    ],
)
def test_a_trial_over_the_budget_is_not_trained(tmp_path, budget, trained):
    log = tmp_path / "evaluations.jsonl"
    rec = kit.tiny_recipe(evaluator_options={"log_path": str(log)})
    space = tiny()
    ctx = trial_context(rec, space)
    ctx.budget, ctx.gate = budget, True
    out = evaluate_arch(ctx, space.decode({"width": 8, "depth": 2, "kernel": 3, "act": "relu"}))
    assert log.exists() == trained  # the evaluator ran only within the budget
    assert out["feasible"] == int(trained) and ("accuracy" in out) == trained
    if budget.gflops is not None:
        assert "latency_ms" not in out  # stopped by its size, before the measurement
        assert out["infeasible"].startswith("gflops")
    elif not trained:
        assert out["latency_ms"] > 1e-4 and "over search.latency_budget_ms" in out["infeasible"]
    assert math.isfinite(out["measure_s"])


# -- bad budgets fail before any trial --------------------------------------------------------
def test_a_budget_below_the_fastest_predicted_arch_says_how_fast_that_is():
    space = tiny()
    model = TableLatency(lambda: fake_latency, space, "exact test table", prior_margin=0.05)
    with pytest.raises(ConfigError) as exc:
        check_reachable(Budget(latency_ms=0.01), model, space)
    msg = str(exc.value)
    assert (
        "search.latency_budget_ms 0.01 is below the smallest latency the predictor reaches" in msg
    )
    assert "predicted at 0.06 ms" in msg and "raise the budget to at least 0.057 ms" in msg
    reach = check_reachable(Budget(latency_ms=0.06), model, space)
    assert reach["fastest_predicted_ms"] == pytest.approx(0.06)


def _budget_recipe(tmp_path, **screen):
    store = tmp_path / "lut.sqlite"
    LUTStore(store)  # a store with no table in it
    return kit.tiny_recipe(
        "optuna-tpe",
        search={"latency_budget_ms": 0.3, "screen": {"lut": {"store": str(store)}, **screen}},
        options={"objectives": ["accuracy"]},
    )


def test_no_latency_predictor_for_the_device(tmp_path):
    rec = _budget_recipe(tmp_path, predictor="lut")
    with pytest.raises(ConfigError) as exc:
        check_search_budget(rec)
    msg = str(exc.value)
    assert "search.screen.predictor is 'lut' but there is no latency predictor" in msg
    assert "has no table for" in msg and "it has: (none)" in msg
    lines = []
    screen = check_search_budget(_budget_recipe(tmp_path), printer=lines.append)  # auto
    assert screen.model.kind == "flops" and "FLOPs calibrated" in lines[0]


def test_the_repository_table_refuses_a_budget_gpunet_cannot_reach():
    """GPUNet at batch 1, fp16 on the H200 table of the repository: no candidate is predicted
    faster than ~0.17 ms (the space's smallest arch), and a 0.1 ms budget says so before any
    trial."""
    from mlflow_kit import ROOT

    from accelsearch.recipe import load_recipe

    store = ROOT / "benchmarks/results/latency/lut.sqlite"
    rec = load_recipe(
        ROOT / "recipes/under_budget_gpu.yaml",
        [
            "search.latency_budget_ms=0.1",
            f"search.screen.lut.store={store}",
            "search.screen.lut.device_name='NVIDIA H200'",
            "accuracy.options.dataset=digits",
            "accuracy.options.val_dataset=null",
        ],
    )
    with pytest.raises(ConfigError, match=r"0.1 is below .* predicted at 0.1\d+ ms by the lookup"):
        check_search_budget(rec)
    screen = check_search_budget(rec.model_copy(update={"search": rec.search.model_copy(
        update={"latency_budget_ms": 0.5})}))  # fmt: skip
    assert screen.model.kind == "lut" and 0.1 < screen.reach["fastest_predicted_ms"] < 0.5


def test_the_screened_search_survives_ray_snapshots():
    """Ray Tune pickles the search algorithm in every snapshot (``accelsearch resume``): the
    screen and its measured error come back; a table predictor is made again, not stored."""
    from ray import cloudpickle

    space = tiny()
    alg, _ = strategy.make("optuna-tpe", space, SINGLE, 0, {}, budget=BUDGET)
    search = ScreenedSearch(alg, exact_screen(space, BUDGET), max_per_trial=50)
    for i in range(6):
        cfg = search.suggest(f"t{i}")
        search.on_trial_complete(f"t{i}", measured_first(space, cfg, BUDGET))
    assert search.screen.model._predictor is not None
    again = cloudpickle.loads(cloudpickle.dumps(search))
    assert again.screen.model._predictor is None  # dropped from the snapshot
    assert again.screen.model.errors == search.screen.model.errors
    assert again.screen.rejected == search.screen.rejected
    assert again.suggest("x") == search.suggest("x")


def test_on_a_gpu_the_table_is_looked_up_by_the_cuda_device_name(monkeypatch):
    """With no ``device_name`` the screen asks CUDA for the GPU's name (the path that failed on
    an H200: it called a function the latency package does not export). No GPU here, so CUDA's
    two answers are stood in; the table lookup itself is the repository's real H200 table."""
    from mlflow_kit import ROOT

    from accelsearch.recipe import load_recipe
    from accelsearch.search.screen_setup import lut_settings

    asked = []
    monkeypatch.setattr("torch.cuda.is_available", lambda: True)
    monkeypatch.setattr(
        "torch.cuda.get_device_name", lambda index: asked.append(index) or "NVIDIA H200"
    )
    store = ROOT / "benchmarks/results/latency/lut.sqlite"
    rec = load_recipe(
        ROOT / "recipes/under_budget_gpu.yaml",
        [
            f"search.screen.lut.store={store}",
            "accuracy.options.dataset=digits",
            "accuracy.options.val_dataset=null",
        ],  # fmt: skip
    )
    settings = lut_settings(rec)
    assert asked == ["cuda:0"] and settings["device_name"] == "NVIDIA H200"
    screen = check_search_budget(rec)
    assert screen.model.kind == "lut"


def test_the_summary_reads_the_screens_margin_and_the_tables_scale():
    from accelsearch.search.budget_report import budget_markdown

    seconds = dict.fromkeys(
        ("spent", "measuring", "training", "on_infeasible", "saved_by_screen",
         "saved_by_measuring_first"), 1.0,
    )  # fmt: skip
    report = {"unit": "GPU-s", "candidates": 9, "screened": 5, "measured": 4,
              "measured_infeasible": 2, "trained": 2, "trained_infeasible": 0, "feasible": 2,
              "seconds": seconds}  # fmt: skip
    screen = {"budget": {"latency_ms": 0.5}, "predictor": "FLOPs", "margin": 1.266}
    wide = budget_markdown({"budget": report, "screen": screen})
    assert "margin 126.6 %" in wide and "can no longer reject" in wide
    assert "benchmarks/latency_lut.py" in wide
    narrow = budget_markdown({"budget": report, "screen": {**screen, "margin": 0.46}})
    assert "margin 46.0 %" in narrow and "can no longer reject" not in narrow
    table = {**screen, "predictor": "lookup table", "margin": 0.12}
    scaled = budget_markdown({"budget": report, "screen": {**table, "scale": 1.215}})
    assert "multiplied by 1.22, fitted on the trials measured" in scaled
    assert "multiplied by" not in budget_markdown(
        {"budget": report, "screen": {**table, "scale": 1.0}}
    )


def test_latencies_read_from_the_cache_are_counted_and_explained():
    """A run whose trials' latencies the cache answered spent less measuring than a fresh
    one would: the report counts them and the summary says so."""
    from accelsearch.search.budget_report import budget_markdown, spending
    from accelsearch.search.result import TrialRecord

    def trial(i, cached, feasible=1):
        metrics = {"measure_s": 0.3 if cached else 8.0, "feasible": feasible}
        metrics.update(latency_cached=int(cached), **({"train_s": 60.0} if feasible else {}))
        return TrialRecord(f"t{i}", {}, "ok" if feasible else "infeasible", metrics)

    trials = [trial(0, True), trial(1, True, feasible=0), trial(2, False), trial(3, False)]
    report = spending(trials, gpus_per_trial=0.25)
    assert report["measured_from_cache"] == 2 and report["measured"] == 4
    text = budget_markdown({"budget": report})
    assert "2 of the 4 latencies were read from the latency cache" in text
    assert "would spend more GPU-s" in text
    fresh = spending([trial(2, False)], gpus_per_trial=0.25)
    assert fresh["measured_from_cache"] == 0
    assert "latency cache" not in budget_markdown({"budget": fresh})


@pytest.mark.parametrize("kind", ["lut", "flops"])
def test_latency_model_contract(kind):
    """Each screen model: a ``LatencyModel``; after trials it predicted exactly, its figure
    is the truth and its measured error 0 (the screen's floor then applies)."""
    from accelsearch.search.screen_models import LatencyModel

    space = tiny()
    gflops = {4: 1.0, 8: 2.0, 12: 3.0, 16: 4.0}

    def truth(params):  # linear in GFLOPs, as the FLOPs fit assumes
        return 0.01 + 0.1 * gflops[params["width"]]

    if kind == "lut":
        model = TableLatency(lambda: lambda a: 0.01 + 0.1 * gflops[a.stages[0].width], space, "t")
    else:
        model = FlopsLatency(min_points=4)
    assert isinstance(model, LatencyModel) and model.kind == kind and model.description
    for w in (4, 8, 12, 16, 4):
        params = {"width": w, "depth": 1, "kernel": 1, "act": "relu"}
        pred = model.predict(params, gflops[w]) if model.ready else None
        model.observe(params, pred, truth(params), gflops[w])
    probe = {"width": 12, "depth": 2, "kernel": 3, "act": "swish"}
    assert model.ready and model.predict(probe, gflops[12]) == pytest.approx(truth(probe))
    assert model.margin() == pytest.approx(0.0, abs=1e-9)
