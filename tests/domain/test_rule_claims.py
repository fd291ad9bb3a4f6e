"""The send protocol's decisions and the clock-skew rule, as plain functions (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from passback.domain.clocks import DEFAULT_SKEW, future_report_refusal
from passback.domain.delivery import (
    CALLS_PER_SEND,
    CLAIM_LEASE,
    SEND_MARGIN,
    Action,
    CellState,
    CellStatus,
    SendOutlivesLease,
    claim_is_live,
    claim_timestamp,
    slot_wait_budget,
    stops_sending,
    sync_decision,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def decide(owed: float | None, cell: CellState, *, released: bool = True) -> Action:
    return sync_decision(owed=owed, released=released, has_target=True, merge_pending=False, cell=cell, now=NOW).action


def test_a_sender_finding_the_claim_held_for_the_value_it_owes_sends_nothing_but_leaves_a_mark() -> None:
    # Not a second POST; but a mark (DEFER), so a holder that died mid-send is taken over by the sweep.
    assert decide(70.0, CellState(status="synced", sent_value=60.0, claimed=True, claimed_value=70.0)) is Action.DEFER


def test_a_sender_finding_the_claim_held_for_another_value_defers_to_its_holder() -> None:
    # The LMS has 60 and another sender is posting 70; this one owes 60 again: only the holder may
    # decide what goes last, so it is told (a dirty mark), never skipped because 60 "is already there".
    assert decide(60.0, CellState(status="synced", sent_value=60.0, claimed=True, claimed_value=70.0)) is Action.DEFER
    assert decide(None, CellState(claimed=True, claimed_value=70.0)) is Action.DEFER
    assert decide(70.0, CellState(claimed=True, claimed_value=70.0), released=False) is Action.DEFER


def test_a_claim_holds_until_its_holder_records_on_the_cell_or_its_lease_ends() -> None:
    assert claim_is_live("c1", NOW + timedelta(seconds=1), None, NOW)
    assert claim_is_live("c1", NOW + timedelta(seconds=1), "c0", NOW)  # the cell recorded an earlier claim
    assert not claim_is_live("c1", NOW + timedelta(seconds=1), "c1", NOW)  # released
    assert not claim_is_live("c1", NOW, None, NOW)
    assert not claim_is_live(None, NOW + timedelta(seconds=1), None, NOW)


def test_a_claim_reserves_the_second_after_the_cells_last_and_the_last_claims() -> None:
    second = int(NOW.timestamp())
    assert claim_timestamp(None, None, NOW) == second
    assert claim_timestamp(second, None, NOW) == second + 1
    # A holder died after reserving second + 5 (maybe after posting it): never used again.
    assert claim_timestamp(second, second + 5, NOW) == second + 6
    assert claim_timestamp(second - 100, second - 50, NOW) == second


def test_only_statuses_that_stop_sending_need_the_release_state_read_at_write_time() -> None:
    assert stops_sending(CellStatus.NOT_RELEASED)
    assert not stops_sending(CellStatus.NO_TARGET)
    assert not stops_sending(CellStatus.SYNCED)


def test_a_report_dated_within_the_skew_is_accepted_and_past_it_refused_with_the_fix() -> None:
    assert future_report_refusal(NOW + DEFAULT_SKEW, NOW) is None
    assert future_report_refusal(NOW - timedelta(days=30), NOW) is None
    refusal = future_report_refusal(NOW + timedelta(days=365), NOW)
    assert refusal is not None
    assert "365 days" in refusal
    assert "clock" in refusal
    assert future_report_refusal(NOW + timedelta(minutes=2), NOW, timedelta(minutes=1)) is not None


def test_every_call_of_a_send_waiting_its_longest_for_a_slot_and_the_lms_still_ends_inside_the_lease() -> None:
    wait = slot_wait_budget(10.0)
    assert wait > 0
    assert CALLS_PER_SEND * (wait + 10.0) + SEND_MARGIN.total_seconds() <= CLAIM_LEASE.total_seconds()
    assert slot_wait_budget(24.5) < slot_wait_budget(10.0)


def test_an_http_timeout_that_lets_a_send_outlive_its_claim_is_refused_with_the_setting_to_change() -> None:
    with pytest.raises(SendOutlivesLease) as refused:
        slot_wait_budget(30.0)  # 4 calls x 30 s = 120 s: the whole lease, nothing left to wait or write
    assert "PASSBACK_HTTP_TIMEOUT_SECONDS" in str(refused.value)
    assert "at most 25" in str(refused.value)
