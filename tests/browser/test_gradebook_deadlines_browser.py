"""Deadlines and confirmations in a real browser (issue 18's page part): the instructor's time zone,
and the actions that ask once with numbers, with and without JavaScript."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect
from test_gradebook_browser import cell, save_shot

from gradebook_kit import course_of, play_demo
from passback import container
from passback.clock import utcnow

pytestmark = pytest.mark.browser

PACIFIC = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def pacific_page(chromium: Any) -> Iterator[Any]:
    """A browser whose time zone is Los Angeles (the instructor's laptop in Pacific time)."""
    context = chromium.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="America/Los_Angeles"
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def deadline(course_id: str, activity_id: str) -> datetime | None:
    record = container.courses().get(course_id)
    assert record is not None
    return record.activities[activity_id].gau


def test_deadlines_are_shown_and_typed_in_the_browsers_time_zone_and_a_past_one_asks_naming_the_zeros(
    stack: Any, lms: Any, pacific_page: Any, tmp_path: Path
) -> None:
    page = pacific_page
    demo = play_demo(stack, lms)
    url = demo["bio-101"].gradebook_url
    course = course_of(url)
    page.goto(url)
    # The page came in UTC; its script asked for it again in the browser's zone, offset shown.
    expect(page.get_by_text("times in America/Los_Angeles (UTC\u221208:00)")).to_be_visible()
    quiz_2 = page.get_by_label("Quiz 2: Genetics", exact=True)
    existing = deadline(course, "bio-quiz-genetics")
    assert existing is not None
    expect(quiz_2).to_have_value(existing.astimezone(PACIFIC).strftime("%Y-%m-%dT%H:%M"))
    header = page.locator("thead th", has_text="Quiz 2: Genetics")
    expect(header).to_contain_text(f"open until {existing.astimezone(PACIFIC):%Y-%m-%d %H:%M} (UTC\u221208:00)")

    # 11:59 PM typed in Pacific time is stored as 07:59 UTC the next day.
    page.get_by_label("Quiz 1: Cells", exact=True).fill("2031-01-15T23:59")
    page.get_by_role("button", name="Save deadlines").click()
    expect(page.get_by_role("status")).to_contain_text("Deadlines saved")
    assert deadline(course, "bio-quiz-cells") == datetime(2031, 1, 16, 7, 59, tzinfo=UTC)
    expect(page.get_by_text("open until 2031-01-15 23:59 (UTC\u221208:00)").first).to_be_visible()

    # A deadline in the past asks once, naming the zeros; nothing is saved before the answer.
    past = (utcnow() - timedelta(days=1)).astimezone(PACIFIC).replace(second=0, microsecond=0)
    page.get_by_label("Quiz 2: Genetics", exact=True).fill(past.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Save deadlines").click()
    expect(page.get_by_role("heading", name="Save a deadline in the past?")).to_be_visible()
    expect(page.get_by_text("6 students of 6 get a zero")).to_be_visible()
    expect(page.get_by_text(f"{past:%Y-%m-%d %H:%M} (UTC\u221208:00) is in the past")).to_be_visible()
    save_shot(page, "gradebook-confirm-deadline.png", tmp_path, full_page=False)
    assert deadline(course, "bio-quiz-genetics") == existing
    page.get_by_role("button", name="Save and give 6 zeros").click()
    expect(page.get_by_role("status")).to_contain_text("Deadlines saved")
    assert deadline(course, "bio-quiz-genetics") == past.astimezone(UTC)


def test_without_javascript_release_and_resync_ask_once_and_the_page_says_to_refresh(
    stack: Any, lms: Any, page_without_js: Any
) -> None:
    page = page_without_js
    demo = play_demo(stack, lms)
    page.goto(demo["bio-101"].gradebook_url)
    # A whole-course resync asks first; Cancel does nothing.
    page.get_by_role("button", name="Resync the whole course").click()
    expect(page.get_by_role("heading", name="Resync the whole course?")).to_be_visible()
    expect(page.get_by_text("6 students x 4 links")).to_be_visible()
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", name="Resync the whole course?")).to_have_count(0)
    assert queued_jobs(stack) == 0  # asking queued nothing
    # Release Grades asks first, then sends; without a script the page says to use Refresh.
    page.get_by_role("button", name="Release Grades for Quiz 2: Genetics").click()
    page.get_by_role("button", name="Release and send 5 grades").click()
    expect(page.get_by_role("status")).to_contain_text("Release requested")
    expect(page.get_by_text("use Refresh in a few seconds")).to_be_visible()
    stack.drain()
    assert lms.gradebook()["bio-101"]["ada"]["bio-quiz-2"] == 81.0
    page.get_by_role("button", name="Refresh").click()
    expect(cell(page, "Ada Lovelace", 1)).to_contain_text("synced")


def queued_jobs(stack: Any) -> int:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queue_urls["ReleaseQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])
