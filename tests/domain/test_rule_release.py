"""Rule 8: nothing leaves before release (by hand, or by the course's automatic policy)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from passback.domain.release import ReleasePolicy, automatic_release_time, nothing_leaves_before_release

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
PAST = NOW - timedelta(hours=1)
FUTURE = NOW + timedelta(hours=1)


def released(
    policy: ReleasePolicy,
    *,
    by_hand: datetime | None = None,
    release_date: datetime | None = None,
    gau: datetime | None = None,
    now: datetime = NOW,
) -> bool:
    return nothing_leaves_before_release(
        policy, released_by_hand_at=by_hand, release_date=release_date, gau=gau, now=now
    )


def test_rule8_manual_never_releases_without_a_hand_release() -> None:
    assert released(ReleasePolicy.MANUAL) is False
    assert released(ReleasePolicy.MANUAL, release_date=PAST, gau=PAST) is False
    assert released(ReleasePolicy.MANUAL, now=NOW + timedelta(days=3650)) is False


def test_rule8_immediate_always_releases() -> None:
    assert released(ReleasePolicy.IMMEDIATE) is True
    assert released(ReleasePolicy.IMMEDIATE, release_date=FUTURE, gau=FUTURE) is True


def test_rule8_at_date_releases_only_at_or_after_the_date() -> None:
    assert released(ReleasePolicy.AT_DATE, release_date=FUTURE) is False
    assert released(ReleasePolicy.AT_DATE, release_date=NOW) is True
    assert released(ReleasePolicy.AT_DATE, release_date=PAST) is True


def test_rule8_at_date_without_a_date_never_releases() -> None:
    assert released(ReleasePolicy.AT_DATE, release_date=None, gau=PAST) is False


def test_rule8_after_gau_releases_only_at_or_after_the_gau() -> None:
    assert released(ReleasePolicy.AFTER_GAU, gau=FUTURE) is False
    assert released(ReleasePolicy.AFTER_GAU, gau=NOW) is True
    assert released(ReleasePolicy.AFTER_GAU, gau=PAST) is True


def test_rule8_after_gau_without_a_gau_never_releases() -> None:
    assert released(ReleasePolicy.AFTER_GAU, gau=None, release_date=PAST) is False


@pytest.mark.parametrize("policy", list(ReleasePolicy))
def test_rule8_hand_release_releases_under_every_policy(policy: ReleasePolicy) -> None:
    assert released(policy, by_hand=PAST, release_date=FUTURE, gau=FUTURE) is True
    assert released(policy, by_hand=NOW, release_date=None, gau=None) is True


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (ReleasePolicy.IMMEDIATE, None),
        (ReleasePolicy.MANUAL, None),
        (ReleasePolicy.AT_DATE, NOW + timedelta(days=2)),
        (ReleasePolicy.AFTER_GAU, NOW + timedelta(days=7)),
    ],
)
def test_rule8_automatic_release_time_is_when_the_policy_releases(
    policy: ReleasePolicy, expected: datetime | None
) -> None:
    assert automatic_release_time(policy, release_date=NOW + timedelta(days=2), gau=NOW + timedelta(days=7)) == expected


offsets = st.one_of(st.none(), st.integers(min_value=-1_000, max_value=1_000))


@given(
    policy=st.sampled_from(list(ReleasePolicy)),
    hand=offsets,
    date=offsets,
    gau=offsets,
)
def test_rule8_release_follows_the_policy_or_the_hand(
    policy: ReleasePolicy, hand: int | None, date: int | None, gau: int | None
) -> None:
    def at(offset: int | None) -> datetime | None:
        return None if offset is None else NOW + timedelta(seconds=offset)

    result = released(policy, by_hand=at(hand), release_date=at(date), gau=at(gau))
    if hand is not None and hand <= 0:
        assert result is True
        return
    automatic = automatic_release_time(policy, release_date=at(date), gau=at(gau))
    if policy is ReleasePolicy.IMMEDIATE:
        assert result is True
    elif policy is ReleasePolicy.MANUAL:
        assert result is False
    else:
        # The schedule's wake-up time and the release decision agree.
        assert result is (automatic is not None and automatic <= NOW)
