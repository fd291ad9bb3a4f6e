"""A report refused for its date, as the instructor sees it in Chromium (issue 17, "Clocks")."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from test_gradebook_browser import cell, save_shot

from gradebook_kit import course_of, learner_ids, play_demo
from passback.clock import utcnow
from stack_harness import score

pytestmark = pytest.mark.browser


def test_the_instructor_sees_which_cell_had_a_report_refused_for_its_date_and_what_to_do(
    stack: Any, lms: Any, page: Any, tmp_path: Path
) -> None:
    demo = play_demo(stack, lms)
    url = demo["bio-101"].gradebook_url
    ada = learner_ids(course_of(url))["ada"]
    typed = utcnow() + timedelta(days=365)
    stack.send_messages(
        [score({"learner_id": ada}, "bio-quiz-cells", 10, 12.0, typed, message_id="quiz-app:typed-a-year-ahead")]
    )
    stack.drain()

    page.goto(url)
    expect(page.get_by_text("1 cell shows a report that a product dated in the future")).to_be_visible()
    quiz = cell(page, "Ada Lovelace", 0)
    # Beside the status, which (like the grade) is what Ada's trusted reports made it.
    expect(quiz).to_contain_text("92")
    expect(quiz).to_contain_text("synced")
    expect(quiz.locator("span.rf")).to_have_text("\u26a0report refused")
    expect(page.locator("tbody td", has_text="report refused")).to_have_count(1)
    quiz.locator("summary").click()
    words = quiz.locator("p.rf")
    expect(words).to_be_visible()
    expect(words).to_contain_text(f"dated {typed:%Y-%m-%d %H:%M}")
    expect(words).to_contain_text("quiz-app:typed-a-year-ahead")
    expect(words).to_contain_text("the product's clock is wrong or the date was typed by hand")
    expect(words).to_contain_text("kept the grade from the reports it trusts")
    expect(words).to_contain_text("send that report again with the right time")
    save_shot(quiz, "gradebook-refused-report.png", tmp_path)

    # In a large course: one click shows only the learners with such a notice.
    page.get_by_role("button", name="Show learners with a refused report").click()
    expect(page.locator("table.gb tbody tr")).to_have_count(1)
    expect(page.locator("table.gb tbody tr th")).to_contain_text("Ada Lovelace")
    expect(page.locator('select[name="show"]')).to_have_value("refused")
