"""Instructors see a report refused because it was dated in the future (issue 17, "Clocks").

The in-process stack (moto, the real score handler, the LMS emulator): the refusal is
dead-lettered exactly as before, the grade and the LMS stay on the trusted reports, and the
learner's cells for that activity, in every course of theirs that assigns it, say what was
refused and what to do; no other cell does. The served page shows it too.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from html import unescape
from typing import Any

import pytest

from course_setup import Course, lti13_course
from gradebook_kit import browse
from passback import container
from passback.data.refusal_models import RefusedReportItem
from passback.data.refusals import refusal_record
from passback.services.gradebook import CellView, GradebookView
from passback.services.gradebook_select import REFUSED, ViewOptions, select
from product_kit import register_product
from stack_harness import Stack, activity, score

A_YEAR = timedelta(days=365)


def cells_of(view: GradebookView, learner_id: str) -> dict[str, CellView]:
    """A learner's cells by column key (activity id, or "composite")."""
    row = next(r for r in view.rows if r.learner_id == learner_id)
    return {column.key: cell for column, cell in zip(view.columns, row.cells, strict=True)}


def gradebook(course: Course, now: Any) -> GradebookView:
    view = container.gradebook().build(course.course_id, now)
    assert view is not None
    return view


def notices(course_id: str) -> list[RefusedReportItem]:
    return [
        i
        for i in RefusedReportItem.query(f"C#{course_id}", RefusedReportItem.sk.startswith("F#"), consistent_read=True)
        if isinstance(i, RefusedReportItem)
    ]


def page_text(html: str, learner_id: str, column: int) -> str:
    cell = re.search(rf'<td id="x-{re.escape(learner_id)}-{column}"[^>]*>.*?</td>', html, re.S)
    assert cell, f"no cell {learner_id}/{column}"
    return unescape(re.sub(r"<[^>]+>", " ", cell.group(0)))


def test_a_report_dated_in_the_future_is_shown_on_that_learners_cells_for_that_activity_and_changes_no_grade(
    stack: Stack, lms: Any, clock: Any
) -> None:
    bio = lti13_course(stack, lms, students=("sam", "ria"), activities=(("quiz-1", 1), ("quiz-2", 1)), homepage=True)
    chem = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),), context="chem-101")
    sam = bio.learners["sam"]
    assert chem.learners["sam"] == sam
    stack.send_messages(
        [
            score(bio.ref("sam"), "quiz-1", 3, 60.0, clock.now - timedelta(minutes=1)),
            score(bio.ref("ria"), "quiz-1", 3, 50.0, clock.now - timedelta(minutes=1)),
        ]
    )
    stack.drain()
    cell_before = bio.cell("sam", "link-quiz-1")
    posts_before = len(lms.score_history())

    typed = clock.now + A_YEAR
    stack.send_messages([score(bio.ref("sam"), "quiz-1", 9, 99.0, typed, message_id="quiz-app:typed-2099")])
    stack.drain()

    # The refusal itself is unchanged: dead-lettered with its reason and detail.
    parked = stack.dead_letters()
    assert [p["MessageAttributes"]["reason"]["StringValue"] for p in parked] == ["occurred_at in the future"]
    assert "clock" in parked[0]["MessageAttributes"]["detail"]["StringValue"]
    # No grade moved: the LMS, the course grade and the cell are what the trusted report made them.
    assert bio.lms_grade("sam", "link-quiz-1") == 60.0
    assert chem.lms_grade("sam", "link-quiz-1") == 60.0
    assert len(lms.score_history()) == posts_before
    assert bio.enrollment("sam").grades[bio.record().activities["quiz-1"].idx].value == 60.0
    cell_after = bio.cell("sam", "link-quiz-1")
    assert (cell_after.status, cell_after.sent_value, cell_after.version) == (
        cell_before.status,
        cell_before.sent_value,
        cell_before.version,
    )

    # Sam's quiz-1 cell says it, in both courses; the status stays "synced 60".
    for course in (bio, chem):
        quiz = cells_of(gradebook(course, clock.now), sam)["quiz-1"]
        assert (quiz.status, quiz.grade) == ("synced", 60.0)
        assert quiz.refusal is not None
        assert not quiz.refusal.past
        words = quiz.refusal.text
        assert "quiz-app:typed-2099" in words
        assert typed.strftime("%Y-%m-%d %H:%M") in words
        assert "dated in the future" in words
        assert "clock is wrong or the date was typed by hand" in words
        assert "kept the grade from the reports it trusts" in words
        assert "send that report again with the right time" in words
        assert "dead-letter queue" in words
    # Nobody else's cell, and none of Sam's other cells.
    view = gradebook(bio, clock.now)
    mine = cells_of(view, sam)
    assert mine["quiz-2"].refusal is None
    assert mine["composite"].refusal is None
    assert all(c.refusal is None for c in cells_of(view, bio.learners["ria"]).values())
    assert view.refused_reports == 1
    assert [r.learner_id for r in select(view, ViewOptions(show=REFUSED)).rows] == [sam]

    # The served page: the mark on that cell only, and the summary points at it.
    teacher = stack.launch13(lms, "teacher", bio.context, "link-quiz-1")
    html = browse(teacher.headers["Location"]).text
    assert html.count("report refused</span>") == 1  # the mark, on one cell
    assert "1 cell shows a report that a product dated in the future and Passback refused" in unescape(html)
    shown = page_text(html, sam, 0)
    assert "report refused" in shown
    assert "quiz-app:typed-2099" in shown
    assert "Synced" in shown
    assert "report refused" not in page_text(html, sam, 1)
    assert "report refused" not in page_text(html, bio.learners["ria"], 0)


def test_the_notice_keeps_only_the_latest_refusal_and_reads_as_past_once_a_report_is_applied_after_it(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    sam = course.learners["sam"]
    # A product with a broken clock, sending and resending: one notice, the latest.
    stack.send_messages(
        [
            score(course.ref("sam"), "quiz-1", n, 90.0, clock.now + timedelta(days=n), message_id=f"m-{n}")
            for n in (1, 2)
        ]
    )
    stack.drain()
    clock.advance(seconds=5)
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 90.0, clock.now + A_YEAR, message_id="m-3")])
    stack.drain()
    stored = notices(course.course_id)
    assert [(n.learner_id, n.activity_id, n.message_id) for n in stored] == [(sam, "quiz-1", "m-3")]
    assert len(stack.dead_letters()) == 3
    # A refusal received before the stored one (a batch redelivered late) does not replace it.
    repository = container.refusal_notices().repository
    older = refusal_record(stored[0])
    earlier = replace(older, received_at=older.received_at - timedelta(seconds=1), message_id="m-0")
    assert repository.record(earlier) is False
    assert [n.message_id for n in notices(course.course_id)] == ["m-3"]

    # The product is fixed and sends the report with the right time: the grade counts, the notice is past.
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 90.0, clock.now, message_id="m-3-fixed")])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 90.0
    quiz = cells_of(gradebook(course, clock.now), sam)["quiz-1"]
    assert quiz.status == "synced"
    assert quiz.refusal is not None
    assert quiz.refusal.past
    assert "has been applied since" in quiz.refusal.text
    assert gradebook(course, clock.now).refused_reports == 0
    # Two weeks on, it is no longer shown (and its TTL removes it).
    later = clock.now + timedelta(days=14, seconds=1)
    assert cells_of(gradebook(course, later), sam)["quiz-1"].refusal is None
    assert stored[0].expires is not None


def test_the_score_api_records_a_refusal_for_its_own_learner_and_not_for_another_products(
    stack: Stack, lms: Any, clock: Any
) -> None:
    product = register_product(stack.base_url, "quiz-app", issuers=(lms.issuer,))
    other = register_product(stack.base_url, "reading-app", issuers=(lms.issuer,))
    stack.register_lti13(lms)
    lms.add_course("bio-101", "Biology 101")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    lms.enroll("bio-101", "teacher", "instructor")
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll("bio-101", "sam", "student")
    assert (
        product.post([activity("essay-1", "Essay 1", product_url="https://quiz.example.com/play")]).status_code == 202
    )
    stack.drain()
    lms.add_link("bio-101", "link-essay-1", title="Essay 1", custom={"activity_id": "essay-1"})
    teacher = stack.launch13(lms, "teacher", "bio-101", "link-essay-1")
    assert teacher.status_code == 303
    # Sam's launch hands Sam's learner id to the product: the scope a score for Sam needs.
    assert stack.launch13(lms, "sam", "bio-101", "link-essay-1").status_code == 302
    stack.drain()
    course = Course(stack, lms, "bio-101", teacher.headers["Location"].split("/gradebook/")[1].split("?")[0])
    sam = container.learners().by_identity(course.record().platform_id, "sam")
    assert sam is not None

    foreign = score({"learner_id": sam}, "essay-1", 2, 10.0, clock.now + A_YEAR, message_id="not-yours")
    assert other.post([foreign]).status_code == 400
    assert notices(course.course_id) == []

    ahead = score({"learner_id": sam}, "essay-1", 2, 70.0, clock.now + A_YEAR, message_id="quiz-app:ahead")
    refused = product.post([ahead])
    assert refused.status_code == 400
    assert [p["field"] for p in refused.json()["problems"]] == ["occurred_at"]
    stack.drain()
    assert stack.dead_letters() == []  # nothing was queued: the product was told at once
    quiz = cells_of(gradebook(course, clock.now), sam)["essay-1"]
    assert quiz.refusal is not None
    assert "from quiz-app" in quiz.refusal.text
    assert "quiz-app:ahead" in quiz.refusal.text
    assert "told at once" in quiz.refusal.text
    assert quiz.grade is None


def test_a_notice_that_cannot_be_written_leaves_the_refusal_exactly_as_it_was(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))

    def table_unavailable(*_: Any, **__: Any) -> bool:
        raise RuntimeError("DynamoDB is unavailable")

    monkeypatch.setattr(container.refusal_notices().repository, "record", table_unavailable)
    stack.send_messages([score(course.ref("sam"), "quiz-1", 1, 90.0, clock.now + A_YEAR)])
    stack.drain()

    # Dead-lettered by Passback at once, with its reason (a message SQS moved after five failures has none).
    parked = stack.dead_letters()
    reasons = [p.get("MessageAttributes", {}).get("reason", {}).get("StringValue") for p in parked]
    assert reasons == ["occurred_at in the future"]
    assert notices(course.course_id) == []
