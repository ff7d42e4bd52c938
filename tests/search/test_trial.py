"""What a trial reports of where its figures came from: which proxy run its accuracy came
from (the seed kept, a loss spike, the runs trained again) and whether its latency was read
from the latency cache (search.json, summary.md and MLflow carry them)."""

from __future__ import annotations

import pytest
import search_testkit as kit

from accelsearch import mlflow_schema as schema
from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.objectives.accuracy.train import RETRY_SEED_STEP, TrainEvaluator
from accelsearch.recipe_settings import trial_context
from accelsearch.search.trial import evaluate_arch, proxy_run_metrics

STABLE = dict(dataset="digits", batch_size=64, lr=0.1, threads=1, epochs=3)
# warm-up to lr 5 (clipped): the loss rises in epoch 2 (tests/objectives/accuracy/...)
SPIKY = dict(STABLE, lr=5.0, scheduler="constant", warmup_epochs=1, clip_grad=0.5)


# the accuracy tests' tiny net (accuracy_helpers.tiny_arch), on which SPIKY spikes
ARCH = Arch(
    resolution=16,
    stem=Stage("conv", 8, stride=2),
    stages=(
        Stage("mbconv", 16, depth=2, stride=2, expansion=3, se=0.25),
        Stage("fused", 24, stride=2, expansion=2),
    ),
    head=Head(32),
)


def _evaluate(evaluator) -> dict:
    ctx = trial_context(kit.tiny_recipe("random"), kit.TinySpace())
    ctx.evaluator = evaluator
    return evaluate_arch(ctx, ARCH)


@pytest.mark.parametrize(
    "options, seed, unstable, retries",
    [
        (STABLE, 0, 0, 0),
        ({**SPIKY, "retry_unstable": 1}, RETRY_SEED_STEP, 1, 1),  # both runs spiked
        (SPIKY, 0, 1, 0),  # no retry: the spiked run is the result
    ],
)
def test_a_trial_reports_its_proxy_run(options, seed, unstable, retries):
    out = _evaluate(TrainEvaluator(**options))
    assert (out["proxy_seed"], out["proxy_unstable"], out["proxy_retries"]) == (
        seed,
        unstable,
        retries,
    )
    assert schema.proxy_tags(out) == {
        schema.PROXY_SEED: str(seed),
        schema.PROXY_UNSTABLE: "true" if unstable else "false",
        schema.PROXY_RETRIES: str(retries),
    }


def test_evaluators_without_training_runs_report_nothing_of_them():
    assert proxy_run_metrics(object()) == {}
    assert schema.proxy_tags({"accuracy": 70.0}) == {}


def test_a_latency_read_from_the_cache_says_so(tmp_path, monkeypatch):
    """The same arch twice with the latency cache on: measured, then looked up."""
    monkeypatch.setenv("ACCELSEARCH_LATENCY_CACHE", str(tmp_path / "latency.sqlite"))
    space = kit.TinySpace()
    ctx = trial_context(kit.tiny_recipe("random"), space)
    first, again = (evaluate_arch(ctx, space.sample_arch(3)) for _ in range(2))
    assert (first["latency_cached"], again["latency_cached"]) == (0, 1)
    assert again["latency_ms"] == first["latency_ms"]
