"""hitl.Audit: figures of a small table, named groups, the report."""
import json

import numpy as np
import pytest

import hitl


def _loop(n=400, seed=0):
    rng = np.random.default_rng(seed)
    pool = hitl.Pool(1)
    pool.add(np.zeros((n, 1), dtype=np.float32))
    fb = hitl.Feedback(pool)
    groups = np.where(np.arange(n) % 2 == 0, "north", "south")
    wrong = rng.random(n) < 0.3
    # the south's errors are mostly accepted: caught far less often
    accept = np.where(groups == "north", ~wrong & (rng.random(n) < 0.7),
                      rng.random(n) < 0.6)
    for i in range(n):
        fb.label(i, int(wrong[i]), annotator=1)
    return fb, groups, accept


def test_audit_finds_gap_and_reports():
    fb, groups, accept = _loop()
    n = len(groups)
    audit = hitl.Audit(1)
    audit.set_groups(np.arange(n), groups)
    audit.set_decisions(np.arange(n), accept, np.zeros(n, dtype=np.int32))
    audit.run(fb)
    assert sorted(audit.groups()) == ["north", "south"]
    v, lo, hi, m = audit.figure("north", "accepted")
    assert m == n // 2 and lo <= v <= hi
    assert v == pytest.approx(accept[groups == "north"].mean())
    flagged, p = audit.caught_flag("south")
    assert flagged and p < 0.01
    gap = audit.gap("caught")
    assert {gap["group_a"], gap["group_b"]} == {"north", "south"} and gap["flagged"]
    csv = audit.report()
    assert csv.splitlines()[0].startswith("kind,attribute,group,metric")
    recs = audit.records()
    assert any(r["kind"] == "caught_check" and r["group"] == "south" and r["flagged"]
               for r in recs)
    for line in audit.report("jsonl").splitlines():
        json.loads(line)
    assert audit.get_param("alpha") == pytest.approx(0.05)
