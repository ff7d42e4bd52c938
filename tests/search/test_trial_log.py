"""The driver's trial record: how trials are numbered for the progress table."""

from __future__ import annotations

from accelsearch.search.result import TrialRecord
from accelsearch.search.trial_log import TrialLogger


def test_screened_candidates_are_records_but_not_numbered_trials():
    log = TrialLogger(space=None, observers=(), total=3)
    for tid, status in [
        ("screened-00000", "screened"),
        ("t1", "infeasible"),
        ("screened-00001", "screened"),
        ("screened-00002", "screened"),
        ("t2", "ok"),
        ("t3", "running"),
    ]:
        log.records[tid] = TrialRecord(tid, {}, status)
    # the third trial is "trial 3/3", not "trial 6/3"
    assert [log.number(log.records[t]) for t in ("t1", "t2", "t3")] == [1, 2, 3]
