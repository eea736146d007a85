"""The fault suite's own plumbing, against the undisturbed stack: a small
load with a primary key reaches the warehouse exactly once."""
from faultlib import Load, report


def test_undisturbed_baseline(stack, unique_name):
    url = stack.create_integration(unique_name, "--primary-key", "id")
    load = Load(url, 500, workers=4, max_seconds=60).start().wait()
    rows = stack.wait_loaded(unique_name, "id", {str(i) for i in load.acked})
    acked = {str(i) for i in load.acked}
    lost = len(acked - rows.keys())
    dup = sum(c - 1 for c in rows.values())
    report("baseline (no fault)", load.sent, len(load.acked), len(rows), lost, dup)
    assert len(load.acked) == 500, load.statuses
    assert lost == 0 and dup == 0
