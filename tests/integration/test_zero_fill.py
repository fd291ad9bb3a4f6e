"""The course setting for deadline zeros of learners who never opened Passback (rule 13, WeBWorK style)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from course_setup import Course, lti13_course
from gradebook_kit import hidden_fields
from passback import container
from stack_harness import Stack, score

CONTEXT = "bio-101"


def course_with_a_roster(stack: Stack, lms: Any) -> Course:
    """sam and ria launched; new0 and new1 are only in the LMS roster (read at the instructor's launch)."""
    lms.add_course(CONTEXT, "Biology 101")
    for user in ("new0", "new1"):
        lms.add_user(user, name=f"{user.title()} Student", email=f"{user}@example.edu")
        lms.enroll(CONTEXT, user, "student")
    course = lti13_course(stack, lms, students=("sam", "ria"))
    stack.drain()
    for user in ("new0", "new1"):
        found = container.learners().by_identity(course.record().platform_id, user)
        assert found is not None, user
        course.learners[user] = found
    return course


def gradebook(stack: Stack, lms: Any) -> tuple[str, str]:
    """The instructor's gradebook page (opened by a launch): its URL without the ticket, and its HTML."""
    location = stack.launch13(lms, "teacher", CONTEXT, "link-quiz-1").headers["Location"]
    url = location if location.startswith("http") else stack.base_url + location
    session = requests.Session()
    return url.split("?", 1)[0], session.get(url, timeout=30).text


def cell_message(course: Course, user: str, now: Any) -> str:
    """What the instructor's gradebook says in the learner's quiz-1 cell (the page renders this view)."""
    view = container.gradebook().build(course.course_id, now)
    assert view is not None
    [row] = [row for row in view.rows if row.learner_id == course.learners[user]]
    [column] = [i for i, column in enumerate(view.columns) if column.activity_id == "quiz-1"]
    return str(row.cells[column].message)


def scores_for(lms: Any, user: str) -> list[float]:
    return [s["score_given"] for s in lms.score_history() if s["user_id"] == user]


def test_zero_fill_off_sends_no_deadline_zero_to_who_never_opened_passback_until_they_do(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = course_with_a_roster(stack, lms)
    base, page = gradebook(stack, lms)
    turned = requests.post(
        f"{base}/settings/zero-fill",
        data={**hidden_fields(page), "never_opened": "off"},
        allow_redirects=False,
        timeout=30,
    )
    assert turned.status_code == 303, turned.text[:300]
    assert not course.record().zero_fill_never_opened

    settings = container.course_settings()
    settings.set_gau(course.course_id, "quiz-1", clock.now + timedelta(minutes=5), clock.now)
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 80.0, clock.now)])
    stack.drain()
    clock.advance(minutes=10)
    stack.sweep()
    stack.drain()

    assert course.lms_grade("ria", "link-quiz-1") == 0.0  # opened Passback: her zero goes
    assert scores_for(lms, "new0") == []  # never opened: no POST at all
    assert course.cell("new0", "link-quiz-1").status == "no zero sent"
    assert "no deadline zero is sent for this student" in cell_message(course, "new0", clock.now)

    # new1 opens a link: from then on they are graded like everyone, their zero included.
    stack.launch13(lms, "new1", CONTEXT, "link-quiz-1")
    stack.drain()
    assert course.lms_grade("new1", "link-quiz-1") == 0.0
    assert scores_for(lms, "new0") == []

    # Turned on again: the zero owed to new0 is sent.
    assert settings.set_zero_fill(course.course_id, True, clock.now)
    stack.drain()
    assert course.lms_grade("new0", "link-quiz-1") == 0.0


def test_turning_zero_fill_off_leaves_zeros_already_in_the_lms_and_says_so(stack: Stack, lms: Any, clock: Any) -> None:
    course = course_with_a_roster(stack, lms)
    settings = container.course_settings()
    settings.set_gau(course.course_id, "quiz-1", clock.now + timedelta(minutes=5), clock.now)
    clock.advance(minutes=10)
    stack.sweep()
    stack.drain()
    assert course.lms_grade("new0", "link-quiz-1") == 0.0  # the default: rule 13 reaches them
    posts = len(lms.score_history())

    assert settings.set_zero_fill(course.course_id, False, clock.now)
    assert not settings.set_zero_fill(course.course_id, False, clock.now)  # the same again changes nothing
    stack.drain()

    assert len(lms.score_history()) == posts  # nothing sent, nothing taken back
    assert course.lms_grade("new0", "link-quiz-1") == 0.0
    assert "sent before the setting was turned off; it stays there" in cell_message(course, "new0", clock.now)


def test_turning_zero_fill_on_again_after_a_crash_before_its_resync_sends_the_zeros(
    stack: Stack, lms: Any, clock: Any, monkeypatch: Any
) -> None:
    """The setting is written, then its resync queued: a process that dies in between (here the queue
    refuses the send) leaves zeros owed and nothing coming for them. Repeating the change must repair it,
    not answer "unchanged" and queue nothing."""
    course = course_with_a_roster(stack, lms)
    settings = container.course_settings()
    assert settings.set_zero_fill(course.course_id, False, clock.now)
    settings.set_gau(course.course_id, "quiz-1", clock.now + timedelta(minutes=5), clock.now)
    clock.advance(minutes=10)
    stack.sweep()
    stack.drain()
    assert scores_for(lms, "new0") == []

    jobs = settings.jobs
    real = jobs.request

    def dies(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the process died before queuing the resync")

    monkeypatch.setattr(jobs, "request", dies)
    with pytest.raises(RuntimeError):
        settings.set_zero_fill(course.course_id, True, clock.now)
    monkeypatch.setattr(jobs, "request", real)
    assert course.record().zero_fill_never_opened

    settings.set_zero_fill(course.course_id, True, clock.now)  # the instructor tries again
    stack.drain()
    assert course.lms_grade("new0", "link-quiz-1") == 0.0
