"""lacs_gpu.py's resumable proxy: a run with more seeds than its state trains only those."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from lacs_gpu import DeferredAccuracy  # noqa: E402


def test_an_arch_missing_a_requested_seed_is_stale_and_others_are_kept(tmp_path):
    state = tmp_path / "proxy.json"
    records = [
        {"key": "both", "seed": 0, "accuracy": 80.0},
        {"key": "both", "seed": 1, "accuracy": 81.0},
        {"key": "one", "seed": 0, "accuracy": 79.0},
    ]
    state.write_text(json.dumps({"records": records, "wall_s": 1.0}))
    proxy = DeferredAccuracy({}, [0, 1], 1, "cpu", 0, lambda msg: None, state=state)
    assert not proxy.missing_seeds("both", 80.5)
    assert proxy.missing_seeds("one", 79.0)  # its cached mean is over seed 0 only
    assert not proxy.missing_seeds("elsewhere", 75.0)  # never trained in this state
    assert proxy.mean("both") == 80.5
