"""Deadlines (rule 7) whatever order things happen in, and the previews that let people set them safely.

In-process whole stack on moto with the LMS emulator on 127.0.0.1 (issue 18).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from course_setup import lti13_course
from passback import container
from passback.domain.release import ReleasePolicy
from passback.services.course_settings import SettingRefused
from stack_harness import Stack, score


def test_previews_count_the_zeros_and_grades_a_past_deadline_a_release_and_a_resync_would_give(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms, students=("sam", "ria", "lee"), activities=(("quiz-1", 1),), homepage=True)
    settings = container.course_settings()
    settings.set_policy(course.course_id, ReleasePolicy.MANUAL, None, now=clock.now)
    # Sam works before the deadline, Lee and Ria never.
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 80.0, clock.now - timedelta(hours=2))])
    stack.drain()
    gau = clock.now - timedelta(hours=1)

    preview = settings.preview_gau(course.course_id, "quiz-1", gau, clock.now)
    assert (preview.passed, preview.learners, preview.zeros, preview.changed) == (True, 3, 2, 2)
    assert preview.needs_confirmation
    assert "2 of 3 students will get a zero" in preview.summary()
    future = settings.preview_gau(course.course_id, "quiz-1", clock.now + timedelta(days=1), clock.now)
    assert (future.passed, future.zeros, future.changed, future.needs_confirmation) == (False, 0, 0, False)
    # A preview changes nothing.
    assert course.record().activities["quiz-1"].gau is None

    settings.set_gau(course.course_id, "quiz-1", gau, clock.now)
    stack.sweep()
    stack.drain()
    release = settings.preview_release(course.course_id, "quiz-1", clock.now)
    assert (release.learners, release.grades, release.zeros, release.already_released) == (3, 3, 2, False)
    resync = settings.preview_resync(course.course_id, clock.now)
    assert (resync.learners, resync.links, resync.cells, resync.grades) == (3, 2, 6, 0)

    # Once passed and applied, the preview carries set_gau's refusal instead of numbers.
    moved = settings.preview_gau(course.course_id, "quiz-1", clock.now + timedelta(days=1), clock.now)
    assert moved.refused is not None
    assert "cannot be moved" in moved.refused
    assert not moved.needs_confirmation
    with pytest.raises(SettingRefused, match="no course"):
        settings.preview_gau("nope", "quiz-1", gau, clock.now)
