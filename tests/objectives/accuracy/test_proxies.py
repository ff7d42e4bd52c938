"""Zero-cost proxies on built models and timm models."""

from __future__ import annotations

import math

import pytest
import torch
from accuracy_helpers import tiny_arch, write_images

from accelsearch.core.builder import build_model
from accelsearch.core.errors import ConfigError, UnknownNameError
from accelsearch.objectives.accuracy import proxies
from accelsearch.objectives.accuracy.proxy_evaluator import ProxyEvaluator

REQUIRED = ("synflow", "naswot", "grad_norm", "zen")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(tiny_arch(resolution=32), num_classes=10)


@pytest.mark.parametrize("name", proxies.names())
def test_every_proxy_is_finite_deterministic_and_leaves_the_model_alone(model, name):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = proxies.score(name, model, input_shape=(3, 32, 32))
    b = proxies.score(name, model, input_shape=(3, 32, 32))
    assert math.isfinite(a) and a == b
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())


def test_required_names_are_registered():
    assert set(REQUIRED) <= set(proxies.names())


def test_unknown_proxy_lists_the_names(model):
    with pytest.raises(UnknownNameError) as err:
        proxies.score("snipp", model)
    for name in REQUIRED:
        assert name in str(err.value)


def test_bigger_networks_score_higher_on_size_driven_proxies():
    torch.manual_seed(0)
    small = build_model(tiny_arch(width=8, resolution=32), num_classes=10)
    big = build_model(tiny_arch(width=48, resolution=32), num_classes=10)
    for name in ("synflow", "params", "flops", "zen"):
        assert proxies.score(name, big) > proxies.score(name, small), name


def test_proxies_work_on_timm_models():
    import timm

    net = timm.create_model("resnet10t", num_classes=10)
    for name in REQUIRED:
        assert math.isfinite(proxies.score(name, net, (3, 32, 32), batch_size=8))


def test_seed_changes_data_dependent_proxies(model):
    a = proxies.score("grad_norm", model, seed=0, batch_size=16)
    b = proxies.score("grad_norm", model, seed=1, batch_size=16)
    assert a != b
    # synflow uses no data: the seed does not matter
    assert proxies.score("synflow", model, seed=0) == proxies.score("synflow", model, seed=1)


def test_real_batch_from_a_dataset(tmp_path, model, monkeypatch):
    monkeypatch.setenv("ACCELSEARCH_CACHE", str(tmp_path / "cache"))
    write_images(tmp_path / "ds", {"a": 10, "b": 10})
    x, y = proxies.batch_from_dataset(tmp_path / "ds", batch_size=8, resolution=32)
    assert x.shape == (8, 3, 32, 32) and y.shape == (8,)
    assert abs(float(x.mean())) < 1.0  # normalised
    value = proxies.score("naswot", model, (3, 32, 32), batch=(x, y))
    assert math.isfinite(value)
    with pytest.raises(ConfigError, match="input_shape"):
        proxies.score("naswot", model, (3, 16, 16), batch=(x, y))


def test_bad_arguments_are_config_errors(model):
    with pytest.raises(ConfigError, match="input_shape"):
        proxies.score("naswot", model, (32, 32))
    with pytest.raises(ConfigError, match="nn.Module"):
        proxies.score("naswot", "resnet18")


def test_proxy_evaluator_reports_once_and_can_take_logs():
    ev = ProxyEvaluator("synflow", log=True)
    seen = []
    value = ev.evaluate(tiny_arch(resolution=32), lambda e, v: seen.append((e, v)))
    assert seen == [(1, value)] and 0 < value < 100
    with pytest.raises(UnknownNameError):
        ProxyEvaluator("nope")


def test_proxy_evaluator_with_max_stride_and_digits():
    ev = ProxyEvaluator("naswot", dataset="digits", resolution=16, max_stride=4, batch_size=16)
    assert math.isfinite(ev.evaluate(tiny_arch()))


def test_degenerate_nb201_cell_scores_lowest_or_fails_clearly():
    from accelsearch import spaces
    from accelsearch.core.errors import EvaluationError

    space = spaces.get("nb201", channels=8, cells_per_stage=1)
    dead = space.build(space.from_string("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), 10)
    live = space.build(
        space.from_string(
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
        ),
        10,
    )
    # the output ignores the input: a zero Jacobian is the lowest jacob_cov there is
    assert proxies.score("jacob_cov", dead, batch_size=8) < proxies.score(
        "jacob_cov", live, batch_size=8
    )
    assert proxies.score("synflow", dead) == 0.0 < proxies.score("synflow", live)
    with pytest.raises(EvaluationError, match="zen"):
        proxies.score("zen", dead, batch_size=8)
