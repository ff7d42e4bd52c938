"""A recipe becomes the search room's settings in one place (``recipe_settings``), and the
settings give the latency keyword arguments the trial and LACS use."""

from __future__ import annotations

import pickle

import search_testkit as kit

from accelsearch.recipe_settings import latency_kwargs, search_settings, trial_context
from accelsearch.search import settings
from accelsearch.search.settings import (
    LatencySettings,
    SearchSettings,
    TrialSettings,
    cpu_threads,
)


def test_search_settings_carry_what_the_recipe_says():
    rec = kit.tiny_recipe(
        "optuna-tpe",
        num_samples=5,
        evaluator_options={"epochs": 3},
        search={
            "max_concurrent": 2,
            "cpus_per_trial": 2,
            "max_failures": 1,
            "resumable": False,
            "scheduler": {"name": "asha", "grace_period": 2},
        },
        options={"n_startup_trials": 2},
    )
    s = search_settings(rec)
    assert isinstance(s, SearchSettings) and s.space_name == "search_tiny"
    assert (s.strategy, s.num_samples, s.max_concurrent, s.max_failures) == ("optuna-tpe", 5, 2, 1)
    assert s.cpus_per_trial == 2 and s.gpus_per_trial == 0 and not s.resumable
    assert s.options == {"n_startup_trials": 2} and s.seed == 0
    assert s.scheduled and s.scheduler.grace_period == 2 and s.evaluator_epochs == 3
    t = s.trial
    assert (t.reward_target_ms, t.reward_w, t.num_classes, t.cpus) == (0.5, -0.09, 4, 2)
    assert (t.latency.backend, t.latency.device, t.latency.batch_size) == ("torch", "cpu", 2)
    assert pickle.loads(pickle.dumps(s)) == s  # travels to Ray workers as it is


def test_cpu_timing_threads_default_to_the_trials_cpus(monkeypatch):
    monkeypatch.setattr(settings, "usable_cores", lambda: 8)
    rec = kit.tiny_recipe(search={"cpus_per_trial": 3})
    assert latency_kwargs(rec)["threads"] == 3
    assert latency_kwargs(rec)["protocol"] == kit.FAST_PROTOCOL
    given = LatencySettings(device="cpu", options={"threads": 1}, default_threads=3)
    assert given.backend_kwargs()["threads"] == 1  # a backend option given wins
    assert "threads" not in LatencySettings(device="cuda").backend_kwargs()


def test_cpu_threads_leave_one_core_to_the_driver_and_ray(monkeypatch):
    """The quickstart asks for 2 CPUs per trial on a 2-core machine: it times and trains with
    1 thread (2 made every forward wait for a descheduled OpenMP thread: 5-50x slower)."""
    assert cpu_threads(2, cores=2) == 1
    assert cpu_threads(2, cores=8) == 2
    assert cpu_threads(8, cores=4) == 3
    assert cpu_threads(0.5, cores=1) == cpu_threads(1, cores=1) == 1  # at least one
    monkeypatch.setattr(settings, "usable_cores", lambda: 2)
    rec = kit.tiny_recipe(search={"cpus_per_trial": 2})
    assert latency_kwargs(rec)["threads"] == 1  # the trials and LACS in the driver
    assert search_settings(rec).trial.cpus == 2  # what Ray reserves is unchanged
    given = LatencySettings(device="cpu", options={"threads": 2}, default_threads=2)
    assert given.backend_kwargs()["threads"] == 2  # a thread count the recipe names is kept


def test_trial_context_has_the_recipes_evaluator_and_trial_settings():
    rec = kit.tiny_recipe(evaluator_options={"epochs": 1})
    ctx = trial_context(rec, kit.TinySpace())
    assert isinstance(ctx.settings, TrialSettings) and ctx.num_classes == 4
    assert isinstance(ctx.evaluator, kit.ScoreEvaluator) and ctx.evaluator.epochs == 1
    assert "torch" in ctx.latency_backends
