"""Every registered zero-cost proxy, picked up from ``PROXIES``, held to the proxy contract:
a finite float for a tiny model, the same float for the same seed, the caller's model left
as it was, and the same number through the ``proxy`` evaluator."""

from __future__ import annotations

import math

import pytest
import torch

from accelsearch.core.builder import build_model
from accelsearch.objectives.accuracy import ProxyEvaluator
from accelsearch.objectives.accuracy.proxies import PROXIES, Proxy, score

BATCH = 8  # speed only: every proxy is checked on the same small batch


@pytest.mark.parametrize("name", PROXIES.names())
def test_proxy_contract(name, arch):
    proxy = PROXIES.get(name)
    assert isinstance(proxy, Proxy) and proxy.name == name and callable(proxy.fn)
    assert isinstance(proxy.batch_size, int) and proxy.batch_size >= 1
    assert isinstance(proxy.description, str)

    model = build_model(arch, num_classes=10).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    shape = (arch.in_chans, arch.resolution, arch.resolution)
    value = score(name, model, shape, batch_size=BATCH, seed=1)
    assert isinstance(value, float) and math.isfinite(value)
    assert score(name, model, shape, batch_size=BATCH, seed=1) == value  # seeded
    # the caller's model is scored on a copy: weights, buffers and mode stay as they were
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())

    # the evaluator a recipe names reports the same kind of number once and returns it
    reports = []
    evaluator = ProxyEvaluator(name, batch_size=BATCH, seed=1)
    got = evaluator.evaluate(arch, lambda epoch, v: reports.append((epoch, v)))
    assert math.isfinite(got) and reports == [(1, got)]
