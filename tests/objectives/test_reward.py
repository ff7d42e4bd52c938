"""The MnasNet reward and the Pareto mask."""

from __future__ import annotations

import pytest

from accelsearch.errors import ConfigError
from accelsearch.objectives.reward import mnas_reward, pareto_mask


def test_mnas_reward_at_and_off_target():
    assert mnas_reward(80.0, 2.0, 2.0) == 80.0
    assert mnas_reward(80.0, 4.0, 2.0, w=-0.09) == pytest.approx(80.0 * 2**-0.09)
    assert mnas_reward(80.0, 1.0, 2.0, w=-0.07) > 80.0


def test_mnas_reward_rejects_nonsense():
    with pytest.raises(ConfigError, match="target_ms must be a positive"):
        mnas_reward(1.0, 1.0, 0.0)
    with pytest.raises(ConfigError, match="positive latency"):
        mnas_reward(1.0, -1.0, 1.0)


def test_pareto_mask_mixed_senses():
    pts = [[90, 5.0], [85, 3.0], [80, 4.0], [95, 9.0], [95, 10.0]]
    assert pareto_mask(pts, ["max", "min"]) == [True, True, False, True, False]
