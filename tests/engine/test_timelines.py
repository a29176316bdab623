"""The hand-written timelines (bench/timelines.py) on the rule path: every final state,
valid_at and as_of view, history and expiry check holds, inline and in the background."""

from __future__ import annotations

import pytest

from engramdb.bench.timelines import TIMELINES, run


@pytest.mark.parametrize("background", [False, True], ids=["inline", "background"])
def test_every_timeline_view_holds_on_the_rule_path(background: bool) -> None:
    report = run(background=background)
    assert report.to_dict()["failed"] == []
    assert report.passed == sum(len(t.checks) for t in TIMELINES) >= 25
