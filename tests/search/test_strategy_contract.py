"""Every registered search strategy, picked up from ``STRATEGIES``, held to the strategy
contract (as Optuna runs one test over all its samplers), without a Ray cluster.

A strategy is checked by :func:`strategy.validate` before Ray starts: it builds what the
strategy needs (an ask/tell :class:`Searcher` for the accelsearch strategies, the Optuna
sampler or a screening searcher for the others), and names the strategy and the fix for a
wrong arity or an unknown option. Then the search algorithm Ray Tune would drive is made
(:func:`strategy.make`) and fed results the way Tune feeds them, a failed trial among them;
an ask/tell searcher is also driven directly, and its seed fixes what it asks.
"""

from __future__ import annotations

import pytest
import search_testkit as kit

from accelsearch import spaces
from accelsearch.core.errors import ConfigError
from accelsearch.search import strategy
from accelsearch.search.searcher import Searcher, Suggestion
from accelsearch.search.strategy import STRATEGIES, Objective

MULTI = Objective.of("accuracy", "latency_ms")
SINGLE = Objective.of("accuracy")
N_TRIALS = 5
#: speed only: options that keep each strategy to a few cheap steps on a 2-core machine (a
#: registered strategy not named here is made with its defaults)
CHEAP_OPTIONS = {
    "optuna-gp": {"n_startup_trials": 3},
    "optuna-nsga2": {"population_size": 4},
    "optuna-nsga3": {"population_size": 4},
    "pymoo-nsga2": {"pop_size": 4},
    "pymoo-smsemoa": {"pop_size": 4},
    "stratified": {"candidates": 32, "bins": 2, "predictor": lambda a: a.stages[0].width},
    "pool-bo": {
        "n_startup_trials": 2,
        "predictor": lambda a: a.stages[0].width * a.stages[0].depth + 0.1 * a.stages[0].kernel,
    },
    "utilization-filter": {
        "num_candidates": 3,
        "latency": {
            "device": "cpu",
            "batch_size": 2,
            "protocol": {"warmup": 1, "min_reps": 3, "max_reps": 5, "max_seconds": 0.3},
        },
    },
}


def _objective(strat) -> Objective:
    return MULTI if strat.supports_multi else SINGLE


def _space():
    return spaces.get("search_tiny")  # one conv stage at 8 px (tests/search/search_testkit)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_registered_with_what_it_optimises(name):
    strat = STRATEGIES.get(name)
    assert strat.name == name and callable(strat.factory)
    assert strat.supports_multi or strat.supports_single
    assert isinstance(strat.description, str) and strat.description
    assert (name in strategy.multi_strategies()) == strat.supports_multi
    assert (name in strategy.single_strategies()) == strat.supports_single


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_wrong_arity_and_unknown_option_name_the_strategy_and_the_fix(name):
    strat, space = STRATEGIES.get(name), _space()
    if not strat.supports_multi:
        with pytest.raises(ConfigError, match=rf"{name!r} optimises one metric.*multi-objective"):
            strategy.validate(name, space, MULTI, 0, CHEAP_OPTIONS.get(name, {}))
    if not strat.supports_single:
        with pytest.raises(ConfigError, match=rf"{name!r} is multi-objective.*single-objective"):
            strategy.validate(name, space, SINGLE, 0, CHEAP_OPTIONS.get(name, {}))
    bad = {**CHEAP_OPTIONS.get(name, {}), "no_such_option": 1}
    with pytest.raises(ConfigError, match=r"no_such_option.*(valid options|does not take)"):
        strategy.validate(name, space, _objective(strat), 0, bad)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_tune_search_algorithm_suggests_points_of_the_space(name):
    strat, space = STRATEGIES.get(name), _space()
    options = CHEAP_OPTIONS.get(name, {})
    alg, param_space = strategy.make(name, space, _objective(strat), 0, options)
    assert isinstance(param_space, dict)
    if alg is None:  # Tune's own sampling: the param space must cover the space
        assert set(param_space) == set(space.params())
        return
    told, last = 0, None
    for i in range(N_TRIALS):
        last = cfg = alg.suggest(f"t{i}")
        if cfg is None or cfg == "FINISHED":
            break
        space.validate_params(cfg)  # every suggestion is a point of the space
        failed = i == 1  # a failed trial is told as Tune tells it, and the search goes on
        result = None if failed else kit.fake_metrics(space, cfg)
        alg.on_trial_complete(f"t{i}", result, error=failed)
        told += 1
    # it goes on for the trials asked, or says it has finished (a screening strategy keeps
    # only its Pareto-optimal candidates); waiting (None) with nothing running would hang Tune
    assert told >= 1 and (told == N_TRIALS or last == "FINISHED"), (name, told, last)


def _ask_tell_searcher(name: str, seed: int):
    strat = STRATEGIES.get(name)
    return strategy.validate(name, _space(), _objective(strat), seed, CHEAP_OPTIONS.get(name, {}))


ASK_TELL = [n for n in STRATEGIES.names() if isinstance(_ask_tell_searcher(n, 0), Searcher)]


@pytest.mark.parametrize("name", ASK_TELL)
def test_ask_tell_searcher_is_seeded_and_keeps_its_books(name):
    space = _space()
    runs = []
    for _ in range(2):
        searcher = _ask_tell_searcher(name, seed=7)
        asked = []
        for i in range(N_TRIALS):
            sug = searcher.ask()
            if sug is None:
                break
            assert isinstance(sug, Suggestion) and sug.id in searcher.pending
            space.validate_params(sug.params)
            asked.append(sug.params)
            searcher.tell(sug.id, None if i == 1 else kit.fake_metrics(space, sug.params))
        assert len(asked) >= 2 and searcher.n_told == len(asked) and not searcher.pending
        assert searcher.history[1] == (asked[1], None)  # the failed trial is recorded as such
        with pytest.raises(ConfigError, match="not pending"):
            searcher.tell(10_000, {"accuracy": 1.0})
        assert isinstance(searcher.summary(), dict)
        runs.append(asked)
    assert runs[0] == runs[1], f"strategy {name!r} asks differently with the same seed"
