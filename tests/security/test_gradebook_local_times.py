"""Deadlines typed as wall-clock times in the page's zone: a time the clocks skip is refused, not shifted."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from passback.web.gradebook_actions import parse_moment

PARIS = ZoneInfo("Europe/Paris")


def test_a_deadline_typed_at_a_local_time_the_clocks_skip_is_refused_not_moved_an_hour() -> None:
    # 29 March 2026, 02:00 -> 03:00 in Paris: 02:30 never happens there.
    with pytest.raises(ValueError, match="does not exist"):
        parse_moment("2026-03-29T02:30", PARIS)


def test_local_deadlines_around_a_dst_change_are_stored_as_the_right_utc_moment() -> None:
    assert parse_moment("2026-03-29T01:30", PARIS) == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert parse_moment("2026-03-29T03:30", PARIS) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    # 25 October 2026, 02:30 happens twice: the first (summer time) one, the earlier deadline.
    assert parse_moment("2026-10-25T02:30", PARIS) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert parse_moment("2026-03-29T02:30+02:00", PARIS) == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
