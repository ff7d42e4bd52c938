"""``search.strategy: auto`` (the default): ``pool-bo`` only where it was measured to win
(a space searched whole, the accuracy-latency front or accuracy under a latency budget, a
latency predictor in ms, at most 300 trials), else ``optuna-tpe``; resolved before any
trial and recorded as the strategy it chose. One test per branch of the rule."""

from __future__ import annotations

import pytest
import search_testkit as kit

from accelsearch import spaces
from accelsearch.core.errors import ConfigError
from accelsearch.recipe import recipe_from_dict
from accelsearch.recipe_settings import resolve_strategy
from accelsearch.search import strategy, strategy_auto
from accelsearch.search.budget import Budget
from accelsearch.search.pool_bo import PoolBOSearcher
from accelsearch.search.strategy import Objective

FRONT = Objective.of("accuracy", "latency_ms")
ACCURACY = Objective.of("accuracy")


def width_ms(arch) -> float:
    """A latency predictor in ms for the tiny test space."""
    return 0.01 * arch.stages[0].width * arch.stages[0].depth


PREDICTOR = {"predictor": width_ms}


def _tiny():
    return spaces.get("search_tiny")  # 48 assignments


def test_the_default_strategy_is_auto():
    raw = kit.tiny_recipe().model_dump()
    del raw["search"]["strategy"]
    assert recipe_from_dict(raw).search.strategy == "auto"


def test_front_with_a_predictor_in_ms_on_a_small_space_is_pool_bo():
    choice = strategy_auto.choose(_tiny(), FRONT, PREDICTOR, trials=100)
    assert choice.name == "pool-bo" and choice.options == PREDICTOR
    assert "accuracy-latency front" in choice.reason
    # the registry entry makes the same choice: pool-bo's ask/tell searcher, seeded
    searcher = strategy.validate("auto", _tiny(), FRONT, 3, PREDICTOR)
    assert isinstance(searcher, PoolBOSearcher) and searcher.seed == 3


def test_accuracy_under_a_latency_budget_is_pool_bo_and_without_one_tpe():
    budget = Budget(latency_ms=0.2)
    choice = strategy_auto.choose(_tiny(), ACCURACY, PREDICTOR, budget)
    assert choice.name == "pool-bo" and "under a latency budget" in choice.reason
    searcher = strategy.validate("auto", _tiny(), ACCURACY, 0, PREDICTOR, budget)
    assert isinstance(searcher, PoolBOSearcher) and searcher.search_budget == budget
    plain = strategy_auto.choose(_tiny(), ACCURACY, PREDICTOR)
    assert plain.name == "optuna-tpe" and "neither" in plain.reason
    sizes = strategy_auto.choose(_tiny(), ACCURACY, PREDICTOR, Budget(params_m=1.0))
    assert sizes.name == "optuna-tpe"  # a budget on size only: no latency to search under


@pytest.mark.parametrize("metrics", [("reward",), ("accuracy", "params_m"), ("latency_ms",)])
def test_other_objectives_are_tpe(metrics):
    choice = strategy_auto.choose(_tiny(), Objective.of(*metrics), PREDICTOR)
    assert choice.name == "optuna-tpe" and choice.options == {}
    assert str(list(metrics)) in choice.reason


def test_no_predictor_or_flops_is_tpe():
    none = strategy_auto.choose(_tiny(), FRONT, {})
    assert none.name == "optuna-tpe" and "no latency predictor given" in none.reason
    flops = strategy_auto.choose(_tiny(), FRONT, {"predictor": "flops"})
    assert flops.name == "optuna-tpe" and "not a latency in ms" in flops.reason
    assert flops.options == {}  # TPE does not take the predictor


def test_a_space_too_large_to_search_whole_is_tpe():
    big = spaces.get("genet")  # ~2.5e15 assignments
    choice = strategy_auto.choose(big, FRONT, PREDICTOR)
    assert (
        choice.name == "optuna-tpe" and "more than pool-bo searches whole (16384)" in choice.reason
    )
    # NAS-Bench-201 (15,625 cells) is searched whole
    nb201 = spaces.get("nb201")
    assert strategy_auto.choose(nb201, FRONT, {"predictor": "lut"}).name == "pool-bo"


def test_more_trials_than_a_gp_per_ask_affords_is_tpe():
    assert strategy_auto.choose(_tiny(), FRONT, PREDICTOR, trials=300).name == "pool-bo"
    many = strategy_auto.choose(_tiny(), FRONT, PREDICTOR, trials=301)
    assert many.name == "optuna-tpe" and "301 trials" in many.reason


def test_auto_refuses_strategy_options_and_names_the_fix():
    with pytest.raises(ConfigError) as exc:
        strategy_auto.choose(_tiny(), FRONT, {"n_startup_trials": 5})
    msg = str(exc.value)
    assert "['n_startup_trials']" in msg and "'auto' does not take" in msg
    assert "search.strategy: pool-bo or optuna-tpe" in msg
    with pytest.raises(ConfigError, match="search.strategy: .*'auto' does not take"):
        kit.tiny_recipe("auto", options={"population_size": 4})


def test_a_recipe_resolves_to_the_strategy_it_records_and_prints():
    lines: list[str] = []
    rec = kit.tiny_recipe("auto", objectives=["accuracy", "latency_ms"], num_samples=50)
    out = resolve_strategy(rec, printer=lines.append)
    assert out.search.strategy == "optuna-tpe" and rec.search.strategy == "auto"
    assert out.search.options == {"objectives": ["accuracy", "latency_ms"]}
    assert lines == [
        "[search] strategy auto: optuna-tpe (no latency predictor given (search.options.predictor))"
    ]
    lut = {"predictor": "lut", "predictor_options": {"batch_size": 1, "precision": "fp16"}}
    rec = kit.tiny_recipe("auto", objectives=["accuracy", "latency_ms"], options=lut)
    out = resolve_strategy(rec, printer=lines.append)
    assert out.search.strategy == "pool-bo" and out.search.options["predictor_options"] == {
        "batch_size": 1,
        "precision": "fp16",
    }
    assert lines[-1].startswith("[search] strategy auto: pool-bo (the accuracy-latency front")
    # what it resolved to is an ordinary recipe (what recipe.json holds and resume loads)
    assert recipe_from_dict(out.model_dump()).search.strategy == "pool-bo"
    named = kit.tiny_recipe("optuna-tpe")
    assert resolve_strategy(named, printer=lines.append) is named  # a named one: untouched


def test_auto_through_tune_suggests_points_of_the_space():
    """``make("auto")`` gives Ray Tune the search algorithm of the strategy it chose."""
    space = _tiny()
    alg, _ = strategy.make("auto", space, FRONT, 0, {**PREDICTOR})
    assert isinstance(alg.ask_tell, PoolBOSearcher)
    cfg = alg.suggest("t0")
    space.validate_params(cfg)
    alg.on_trial_complete("t0", kit.fake_metrics(space, cfg))
