"""state.py and discovery's window arithmetic: pure rules, tested without a network."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bsg_campaigns.extract.discovery import add_months, creation_windows
from bsg_campaigns.incremental.state import (Observed, RefreshPolicy, RunOutcome, affects_state, already_known, apply_outcome,
                                 ids_to_refresh, init_state, listing_start)

UTC = timezone.utc
NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
POLICY = RefreshPolicy(timedelta(hours=168), ("done", "stopped", "spam"), timedelta(minutes=60))


def test_settling_needs_final_status_and_a_quiet_window():
    finished = NOW - timedelta(hours=170)
    assert POLICY.is_settled("done", finished, None, NOW)
    assert not POLICY.is_settled("done", NOW - timedelta(hours=100), None, NOW)
    assert not POLICY.is_settled("sending", finished, None, NOW)
    assert not POLICY.is_settled("paused", finished, None, NOW)
    assert not POLICY.is_settled("spam", None, None, NOW)  # no reference time yet
    assert POLICY.is_settled("spam", None, NOW - timedelta(hours=169), NOW)


def test_apply_outcome_moves_campaigns_between_open_settled_retry_and_gone():
    state = init_state({})
    state["open"]["5"] = {"type": "rcs", "status": "sending", "finished_at": None, "final_since": None}
    state["open"]["6"] = {"type": "rcs", "status": "sending", "finished_at": None, "final_since": None}
    outcome = RunOutcome()
    outcome.observed = {
        1: Observed("rcs", "sending", None),
        2: Observed("sms", "done", NOW - timedelta(days=30)),                 # new and already settled
        5: Observed("rcs", "done", NOW - timedelta(days=8)),                  # was open, settles now
        6: Observed("rcs", "done", NOW - timedelta(hours=2)),                 # finished, still in window
    }
    outcome.rejected = {3: "bad"}
    outcome.gone = {7: "HTTP 422"}
    outcome.listed = {"rcs": {1: NOW - timedelta(minutes=30), 5: NOW - timedelta(days=9)},
                      "sms": {2: NOW - timedelta(days=31)}}
    changes = apply_outcome(state, outcome, POLICY, NOW)
    assert changes.settled == [5]
    assert set(state["open"]) == {"1", "6"}
    assert state["open"]["6"]["final_since"] == NOW.isoformat()
    assert state["retry"] == {"3": {"reason": "bad", "since": NOW.isoformat()}}
    assert state["cursors"] == {"rcs": (NOW - timedelta(minutes=30)).isoformat(),
                                "sms": (NOW - timedelta(days=31)).isoformat()}
    assert set(state["recent"]["rcs"]) == {"1"}  # only ids within the overlap of the cursor
    assert already_known(state, "rcs", 1) and not already_known(state, "rcs", 5)
    assert ids_to_refresh(state) == [1, 3, 6]
    assert listing_start(state, "rcs", NOW - timedelta(days=365), POLICY) == NOW - timedelta(minutes=90)
    assert listing_start(state, "whatsapp", NOW - timedelta(days=365), POLICY) == NOW - timedelta(days=365)


def test_observations_that_cannot_change_the_state_are_not_kept():
    """The fetch loop keeps only observations `affects_state` says matter (memory per campaign in
    a backfill); folding only those gives exactly the state and changes folding all would give."""
    old, recent = NOW - timedelta(hours=200), NOW - timedelta(hours=2)
    observations = {
        1: Observed("rcs", "done", old),        # settled on sight, unknown to the state: not kept
        2: Observed("rcs", "done", recent),     # final but still in its window: open
        3: Observed("rcs", "sending", None),    # open
        4: Observed("rcs", "done", old),        # settles a campaign the state had open
        5: Observed("rcs", "done", old),        # was being retried: must leave `retry`
        6: Observed("sms", "stopped", None),    # final, no finish time: window starts now
    }

    def fold(keep):
        state = init_state({})
        state["open"]["4"] = {"type": "rcs", "status": "sending", "finished_at": None, "final_since": None}
        state["retry"]["5"] = {"reason": "bad", "since": (NOW - timedelta(hours=1)).isoformat()}
        outcome = RunOutcome(observed={i: o for i, o in observations.items() if keep(state, i, o)})
        return state, apply_outcome(state, outcome, POLICY, NOW), sorted(outcome.observed)

    all_state, all_changes, _ = fold(lambda state, i, o: True)
    kept_state, kept_changes, kept = fold(lambda state, i, o: affects_state(state, i, o, POLICY, NOW))
    assert kept == [2, 3, 4, 5, 6]
    assert kept_state == all_state and kept_changes == all_changes


def test_rejected_campaigns_are_given_up_after_the_window():
    state = init_state({})
    outcome = RunOutcome(rejected={3: "bad"})
    apply_outcome(state, outcome, POLICY, NOW)
    later = NOW + timedelta(hours=169)
    changes = apply_outcome(state, RunOutcome(rejected={3: "still bad"}), POLICY, later)
    assert changes.given_up == [3] and state["retry"] == {}


def test_backfill_does_not_move_cursor():
    state = init_state({})
    outcome = RunOutcome(move_cursor=False, listed={"rcs": {1: NOW}})
    apply_outcome(state, outcome, POLICY, NOW)
    assert state["cursors"] == {}


def test_month_windows_never_exceed_three_calendar_months():
    assert add_months(datetime(2026, 1, 31), 1) == datetime(2026, 2, 28)
    start, end = datetime(2025, 11, 30, 10, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    windows = creation_windows(start, end, 3)
    assert windows[0][0] == start and windows[-1][1] == end
    for (a, b), (c, _) in zip(windows, windows[1:]):
        assert c - b == timedelta(seconds=1)
    for a, b in windows:
        assert b < add_months(a, 3)


def test_windows_follow_the_api_wall_clock_across_dst():
    kyiv = ZoneInfo("Europe/Kyiv")
    windows = creation_windows(datetime(2026, 8, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), 3, kyiv)
    a, b = windows[0]
    local_a, local_b = a.astimezone(kyiv).replace(tzinfo=None), b.astimezone(kyiv).replace(tzinfo=None)
    assert local_b == add_months(local_a, 3) - timedelta(seconds=1)
