"""A 500-learner course in a real browser: filter, search, sort and paging; the 390 px page; axe-core."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from test_gradebook_browser import save_shot

from gradebook_kit import FIRST, LAST, build_big_course, fast_moto_responses, forge_session  # noqa: F401
from passback import container
from passback.clock import utcnow
from passback.web import gradebook_page, session

pytestmark = pytest.mark.browser

COURSE, LEARNERS, ACTIVITIES = "cbrowse500", 500, 2
ORIGIN = "https://lms.example.edu"


def needing_attention() -> int:
    """Learners with a retrying or refused cell, as build_big_course makes them (1 in 20 of each per link)."""
    return sum(1 for n in range(LEARNERS) if any((n + (i or 0)) % 20 in (0, 1) for i in [*range(ACTIVITIES), None]))


def serious_violations(page: Any) -> list[tuple[str, str, int]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response["violations"]
    return [(v["id"], v["impact"], len(v["nodes"])) for v in violations if v["impact"] in ("serious", "critical")]


def grades_in_column(page: Any, column: int) -> list[str]:
    return [
        t.split(" %", 1)[0].strip()
        for t in page.locator(f".gb tbody tr td:nth-of-type({column + 1}) .g").all_inner_texts()
    ]


@pytest.mark.usefixtures("fast_moto_responses")
def test_filter_search_sort_and_paging_on_500_learners_the_390_px_page_and_axe(
    stack: Any, page: Any, tmp_path: Path
) -> None:
    build_big_course(COURSE, LEARNERS, ACTIVITIES, title="Large lecture: 500 learners", lms_origin=ORIGIN)
    instructor = forge_session(COURSE, lms_origin=ORIGIN)
    ticket = session.ticket(container.tool_keys(), instructor, now=utcnow())
    page.goto(f"{stack.base_url}{gradebook_page.page_url(COURSE, ticket)}")
    expect(page.get_by_text("Showing 50 of 500 matching learners (500 in the course).")).to_be_visible()
    expect(page.get_by_text("Page 1 of 10")).to_be_visible()
    assert page.locator(".gb tbody tr").count() == 50

    # No serious or critical accessibility violation (axe-core, from the package registry: axe-playwright-python).
    page.locator(".gb tbody tr").nth(0).locator("td").nth(0).locator("summary").click()
    assert serious_violations(page) == []

    # One click: only the learners who need attention.
    page.get_by_role("button", name="Needs attention only").click()
    expected = needing_attention()
    shown = min(expected, 50)
    expect(page.get_by_text(f"Showing {shown} of {expected} matching learners (500 in the course).")).to_be_visible()
    rows = page.locator(".gb tbody tr")
    for i in range(rows.count()):
        assert rows.nth(i).locator("td.c-retrying, td.c-lms-error").count() > 0
    save_shot(page, "gradebook-needs-attention.png", tmp_path, full_page=False)
    page.get_by_role("button", name="Show everything").click()
    expect(page.get_by_text("Showing 50 of 500 matching learners")).to_be_visible()

    # Search by name (and by email).
    page.get_by_label("Search name or email").fill(f"{FIRST[4]} {LAST[3]}")
    page.get_by_role("button", name="Apply").click()
    names = page.locator(".gb tbody th").all_inner_texts()
    assert names
    assert all(FIRST[4] in n and LAST[3] in n for n in names)
    assert len(names) == sum(1 for n in range(LEARNERS) if n % len(FIRST) == 4 and (n // len(FIRST)) % len(LAST) == 3)
    page.get_by_label("Search name or email").fill("learner123@example.edu")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".gb tbody th")).to_have_count(1)
    expect(page.locator(".gb tbody th")).to_contain_text("learner123@example.edu")
    page.get_by_label("Search name or email").fill("")

    # Sort by a column's grade, from its header: ascending, then descending (across all 500, not one page).
    page.get_by_role("button", name="Sort by Activity 1 grade (ascending)").click()
    expect(page.locator(".gb thead th[aria-sort=ascending]")).to_contain_text("Activity 1")
    values = [float(v) for v in grades_in_column(page, 0)]
    assert values == sorted(values)
    assert values[0] == 0.0
    page.get_by_role("button", name="Sort by Activity 1 grade (descending)").click()
    values = [float(v) for v in grades_in_column(page, 0)]
    assert values == sorted(values, reverse=True)
    assert values[0] == 100.0
    # Paging keeps the order.
    page.get_by_role("button", name="Next page").click()
    expect(page.get_by_text("Page 2 of 10")).to_be_visible()
    following = [float(v) for v in grades_in_column(page, 0)]
    assert following[0] <= values[-1]

    # At 390 px (a phone): nothing scrolls sideways but the table, inside its own box.
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    widths = page.evaluate(
        "() => ({doc: document.documentElement.scrollWidth, view: window.innerWidth,"
        " box: document.querySelector('.scroll').scrollWidth, boxView: document.querySelector('.scroll').clientWidth})"
    )
    assert widths["doc"] <= widths["view"], widths
    assert widths["box"] > widths["boxView"], widths  # the table scrolls inside its box
    save_shot(page, "gradebook-390px.png", tmp_path, full_page=False)
    assert serious_violations(page) == []
