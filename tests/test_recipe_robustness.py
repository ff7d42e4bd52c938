"""Issue 19's list of recipe values that gave a traceback, or were accepted though they mean
nothing: each is now a ConfigError naming the field. The shipped recipes are loaded from a
folder holding (empty) stand-ins for their data files, so validation gets past the paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsearch.core.errors import ConfigError
from accelsearch.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[1]
DATA_FILES = (
    ".data/cifar10/cifar10-train-50k.tar.gz",
    ".data/cifar10/cifar10-test-10k.tar.gz",
    ".data/nb201/nats_bench_tss.csv",
    ".data/timm/results-imagenet.csv",
)


@pytest.fixture
def data_cwd(tmp_path, monkeypatch):
    for rel in DATA_FILES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).touch()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _recipe(name: str) -> Path:
    return ROOT / "recipes" / f"{name}.yaml"


CASES = [
    # tracebacks before: the exception type is in the comment
    ("quickstart", "search.options.objectives=[[accuracy]]", "search.options.objectives must be a list of metric names"),  # TypeError: unhashable
    ("quickstart", "accuracy.options.device=[cpu]", "accuracy.options.device must be a text, got ['cpu']"),  # AttributeError
    ("quickstart", "space.options.resolutions=[.inf]", "space.options.resolutions.0: must be a finite number, got inf"),  # OverflowError
    ("quickstart", "space.options.width_mult=.inf", "space.options.width_mult: must be a finite number"),  # OverflowError
    ("quickstart", "accuracy.options.dataset=" + "p" * 300, "dataset 'pppp"),  # OSError: name too long
    ("quickstart", f"accuracy.options.dataset=./{'p' * 300}.tar.gz", "accuracy.options.dataset: './ppp"),
    ("quickstart", "accuracy.options.dataset=[a, b]", "accuracy.options.dataset must be a text"),  # OSError via str(list)
    ("zoo_survey", "space.options.models=[resnet18.a1_in1k, 7]", "space.options.models[1] must be a text, got 7"),  # AttributeError
    ("zoo_survey", "space.options.models=[resnet18.a1_in1k, 2020-01-01]", "must be a text, got datetime.date(2020, 1, 1)"),
    ("genet_llr", "search.options.rounds={a: 1}", "search.options.rounds must be an integer, got {'a': 1}"),  # TypeError
    ("genet_llr", "search.options.radius={a: 1}", "search.options.radius must be an integer"),  # TypeError
    ("genet_llr", "search.options.steps={a: 1}", "search.options.steps must be a list"),  # TypeError
    ("genet_llr", "search.options.steps=[[1]]", "search.options.steps must be a list of integer steps"),  # TypeError
    ("gpunet", "search.options.explore={a: 1}", "search.options.explore must be a number"),  # TypeError
    ("gpunet", "search.options.bins=[1, x]", "search.options.bins as edges needs >= 2 ascending values"),  # ValueError
    # accepted before, meaningless
    ("quickstart", "scaling.grid=[[1.0, .nan, 1.2]]", "scaling.grid.0.1: must be a finite number, got nan"),
    ("quickstart", "reward.target_ms=.inf", "reward.target_ms: must be a finite number, got inf"),
    ("quickstart", "reward.w=.nan", "reward.w: must be a finite number, got nan"),
    ("quickstart", "scaling.targets=[.inf]", "scaling.targets.0: must be a finite number, got inf"),
    ("quickstart", "latency.protocol.max_reps=.nan", "latency.protocol.max_reps: must be a finite number"),
    ("quickstart", "num_classes=0", "num_classes: Input should be greater than or equal to 1"),
    ("quickstart", "num_classes=-3", "num_classes: Input should be greater than or equal to 1"),
    ("quickstart", "latency.device=gpu0", "latency.device: unknown latency device"),
    ("efficientnet_x_gpu", "search.options.n_startup_trials=-0.5", "search.options.n_startup_trials must be an integer"),
    ("efficientnet_x_gpu", "search.options.bogus=1", "which Optuna's TPESampler (strategy 'optuna-tpe') does not take"),
    ("nb201_utilization_filter", "search.options.bogus=1", "which strategy 'utilization-filter' does not take"),
    ("nb201_utilization_filter", "search.options.by=7", "search.options.by must be a text, got 7"),
    ("nb201_utilization_filter", "search.options.latency.backend=abacus", "search.options.latency: backend: unknown latency backend 'abacus'"),
    ("nb201_utilization_filter", "accuracy.options.dataset=[]", "accuracy.options.dataset must be a text, got []"),
    ("gpunet", "search.options.predictor_options.device=-1", "search.options.predictor_options.device must be a text or null, got -1"),
    ("gpunet", "search.options.predictor_options.bogus=1", "which the lookup-table predictor does not take"),
    ("gpunet", "latency.protocol.min_reps=x", "latency.protocol.min_reps must be an integer, got 'x'"),
]  # fmt: skip


@pytest.mark.parametrize(("recipe", "override", "needle"), CASES, ids=[c[1][:40] for c in CASES])
def test_a_bad_value_is_a_clear_error_naming_its_field(data_cwd, recipe, override, needle):
    with pytest.raises(ConfigError) as exc:
        load_recipe(_recipe(recipe), [override])
    msg = str(exc.value)
    assert needle in msg, msg
    assert len(msg) < 1500, msg


@pytest.mark.parametrize("models", [[7], ["resnet18.a1_in1k", None], "resnet18.a1_in1k"])
def test_timm_zoo_names_a_model_that_is_not_a_text(models):
    from accelsearch import spaces

    with pytest.raises(ConfigError, match="timm_zoo option models must be timm model names"):
        spaces.get("timm_zoo", models=models)


def test_the_shipped_recipes_still_validate(data_cwd):
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        assert load_recipe(path).name == path.stem
