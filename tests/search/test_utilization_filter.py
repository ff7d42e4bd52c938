"""Search strategy ``utilization-filter`` (real Ray Tune, real training on digits), and a
diverging candidate recorded as a failed trial while the search goes on."""

from __future__ import annotations

import pytest

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import ConfigError
from accelsearch.search import strategy
from accelsearch.spaces import Categorical, SearchSpace

LATENCY = {
    "device": "cpu",
    "batch_size": 8,
    "protocol": {"warmup": 1, "min_reps": 3, "max_reps": 5, "max_seconds": 0.3},
}


class TinySpace(SearchSpace):
    """Six tiny networks for 8×8 digits: width × depth."""

    name = "tiny"

    def params(self):
        return {"width": Categorical((8, 16, 32)), "depth": Categorical((1, 2))}

    def decode(self, params):
        return Arch(
            resolution=8,
            stem=Stage("conv", 8, stride=1),
            stages=(
                Stage("mbconv", params["width"], depth=params["depth"], stride=2, expansion=2),
            ),
            head=Head(0),
        )

    def encode(self, arch):
        st = arch.stages[0]
        return {"width": st.width, "depth": st.depth}


def _recipe(strategy_name: str, options: dict, lr: float = 0.1, samples: int = 6):
    from accelsearch.recipe import recipe_from_dict

    return recipe_from_dict(
        {
            "name": "uf",
            "num_classes": 10,
            "space": {"name": "efficientnet_x"},  # replaced by TinySpace below
            "latency": {"backend": "torch", "device": "cpu", **LATENCY},
            "accuracy": {
                "evaluator": "train",
                "options": {
                    "dataset": "digits",
                    "epochs": 1,
                    "batch_size": 64,
                    "lr": lr,
                    "data_fraction": 0.3,
                    "resolution": 8,
                    "threads": 1,
                },
            },
            "reward": {"target_ms": 1.0},
            "search": {
                "strategy": strategy_name,
                "num_samples": samples,
                "cpus_per_trial": 1,
                "options": options,
            },
        }
    )


@pytest.fixture(scope="module")
def ray_session():
    import ray

    yield
    if ray.is_initialized():
        ray.shutdown()


def test_searcher_screens_then_suggests_the_kept_and_finishes(tmp_path):
    from ray.tune.search import Searcher

    searcher, param_space = strategy.make(
        "utilization-filter",
        TinySpace(),
        strategy.Objective(("accuracy", "latency_ms"), ("max", "min")),
        0,
        {"num_candidates": 6, "by": "flops", "latency": LATENCY, "num_classes": 10},
    )
    assert param_space == {}
    suggested = []
    while (cfg := searcher.suggest(f"t{len(suggested)}")) is not Searcher.FINISHED:
        suggested.append(cfg)
    assert len(searcher.screened) == 6  # all six distinct archs were measured
    kept = [r for r in searcher.screened if r.get("kept")]
    assert len(suggested) == len(kept) >= 1
    assert all(r["gflops"] > 0 and r["throughput"] > 0 for r in searcher.screened)
    # the widest, deepest net has the most FLOPs: the FLOPs filter always keeps it
    assert {"width": 32, "depth": 2} in suggested
    # a checkpoint restores the state (nothing left to suggest)
    searcher.save(str(tmp_path / "ckpt"))
    fresh, _ = strategy.make(
        "utilization-filter",
        TinySpace(),
        strategy.Objective(),
        0,
        {"num_candidates": 6, "latency": LATENCY},
    )
    fresh.restore(str(tmp_path / "ckpt"))
    assert fresh.suggest("again") is Searcher.FINISHED


def test_searcher_pickles_when_builtins_print_was_replaced(monkeypatch):
    """Ray's tqdm support swaps ``builtins.print``; Tune still pickles the searcher."""
    import builtins

    import ray.cloudpickle as cloudpickle

    searcher, _ = strategy.make(
        "utilization-filter", TinySpace(), strategy.Objective(), 0, {"latency": LATENCY}
    )
    original = builtins.print
    monkeypatch.setattr(builtins, "print", lambda *a, **k: original(*a, **k))
    copy = cloudpickle.loads(cloudpickle.dumps(searcher))
    assert copy.num_candidates == searcher.num_candidates and callable(copy.print)


def test_bad_options_name_the_strategy():
    with pytest.raises(ConfigError, match="utilization-filter"):
        strategy.make("utilization-filter", TinySpace(), strategy.Objective(), 0, {"bogus": 1})
    with pytest.raises(ConfigError, match="flops"):
        strategy.make("utilization-filter", TinySpace(), strategy.Objective(), 0, {"by": "x"})


@pytest.mark.slow
def test_search_with_the_filter_trains_only_kept_candidates(tmp_path, ray_session):
    from accelsearch.recipe_search import Search

    recipe = _recipe(
        "utilization-filter",
        {
            "num_candidates": 6,
            "latency": LATENCY,
            "num_classes": 10,
            "objectives": ["accuracy", "latency_ms"],
        },
    )
    result = Search(recipe, tmp_path, printer=lambda *a: None, space=TinySpace()).run()
    assert 1 <= len(result.trials) <= 6
    assert all(t.ok for t in result.trials), [t.error for t in result.trials]
    archs = {str(t.arch) for t in result.trials}
    assert len(archs) == len(result.trials)  # each kept candidate once
    assert result.pareto()


@pytest.mark.slow
def test_diverging_candidates_fail_with_their_reason_and_the_search_goes_on(tmp_path, ray_session):
    from accelsearch.recipe_search import Search

    recipe = _recipe("random", {}, lr=1e6, samples=2)
    result = Search(recipe, tmp_path, printer=lambda *a: None, space=TinySpace()).run()
    assert len(result.trials) == 2
    assert all(t.status == "failed" for t in result.trials)
    assert all("diverged" in (t.error or "") for t in result.trials)
