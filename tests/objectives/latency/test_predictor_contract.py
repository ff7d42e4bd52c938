"""Every registered latency predictor, picked up from the registry, held to the
:class:`LatencyPredictor` contract (as Optuna runs one test over all its samplers)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from accelsearch.core.errors import ConfigError
from accelsearch.objectives.latency import Protocol
from accelsearch.objectives.latency import predictors as P

#: speed only: options that make a predictor cheap on a 2-core CI machine (a registered
#: predictor not named here is tested with its defaults)
FAST = Protocol(warmup=1, min_reps=3, max_reps=6, max_seconds=0.5, batch_reps=3)
CHEAP_OPTIONS = {"lut": {"device": "cpu", "options": {"threads": 1}, "protocol": FAST}}


def _points(space, n=2, seed=0):
    rng = np.random.default_rng(seed)
    return [{**space.sample(rng), "resolution": 32} for _ in range(n)]


@pytest.mark.parametrize("name", P.PREDICTORS.names())
def test_predictor_contract(name, tiny_space, tiny_arch):
    cls = P.PREDICTORS.get(name)
    assert issubclass(cls, P.LatencyPredictor) and cls.name == name
    # made the way searches and LACS make it
    predictor = P.create(name, tiny_space, **CHEAP_OPTIONS.get(name, {}))
    assert isinstance(predictor, cls) and predictor.describe()
    assert isinstance(predictor.unit, str) and predictor.unit

    one = predictor.predict_ms(tiny_arch)
    assert math.isfinite(one) and one > 0
    assert predictor(tiny_arch) == one == predictor.predict_ms(tiny_arch)  # deterministic

    # the batch path (a search's pool) agrees with predicting every point alone
    params = _points(tiny_space)
    many = predictor.predict_params(tiny_space, params)
    assert isinstance(many, np.ndarray) and many.shape == (len(params),)
    alone = [predictor.predict_ms(tiny_space.decode(p)) for p in params]
    np.testing.assert_allclose(many, alone, rtol=1e-6)

    # LACS calibrates once with its measured base; the predictor then answers in ms
    predictor.calibrate(tiny_arch, 2.5)
    assert predictor.unit == "ms"
    assert math.isfinite(predictor.predict_ms(tiny_arch)) and predictor.predict_ms(tiny_arch) > 0


@pytest.mark.parametrize("name", P.PREDICTORS.names())
def test_predictor_rejects_unknown_options(name, tiny_space):
    with pytest.raises(ConfigError, match=name):
        P.create(name, tiny_space, no_such_option=1)


def test_create_wraps_functions_and_knows_none(tiny_arch):
    assert P.create("none") is None
    wrapped = P.create(lambda arch: 3.0)
    assert isinstance(wrapped, P.LatencyPredictor) and wrapped.predict_ms(tiny_arch) == 3.0
    assert P.create(wrapped) is wrapped
    with pytest.raises(ConfigError, match=r"'magic'.*'flops'"):
        P.create("magic")
