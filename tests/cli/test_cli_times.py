"""Times on the command line (review 18): a time Python cannot put in UTC is a usage error, one line."""

from __future__ import annotations

import pytest

from passback.cli.deadlines import in_utc, iso_moment
from passback.cli.errors import CliError


@pytest.mark.parametrize("text", ["0001-01-01T00:00+14:00", "9999-12-31T23:59-05:00"])
def test_cli_a_time_that_falls_outside_the_calendar_in_utc_is_refused_with_one_line(text: str) -> None:
    moment = iso_moment(text)
    with pytest.raises(CliError) as refused:
        in_utc(moment, utc=False, option="--at")
    assert "--at" in str(refused.value)
    assert "\n" not in str(refused.value)
