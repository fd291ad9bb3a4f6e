"""LTI 1.3 end to end in-process: launches, score messages, AGS delivery to the LMS emulator."""

from __future__ import annotations

from typing import Any

from passback import container
from stack_harness import Stack, activity, score


def setup_course(stack: Stack, lms: Any, *, min_questions: int = 2) -> None:
    stack.register_lti13(lms)
    lms.add_course("bio-101", "Biology 101")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.add_user("ria", name="Ria Student", email="ria@example.edu")
    lms.enroll("bio-101", "teacher", "instructor")
    lms.enroll("bio-101", "sam", "student")
    lms.enroll("bio-101", "ria", "student")
    lms.add_link("bio-101", "quiz-link", title="Quiz 1", custom={"activity_id": "quiz-1"})
    stack.send_messages([activity("quiz-1", "Quiz 1", min_questions=min_questions)])
    stack.drain()


def test_instructor_launch_creates_the_course_named_after_the_lms_course(stack: Stack, lms: Any) -> None:
    setup_course(stack, lms)
    response = stack.launch13(lms, "teacher", "bio-101", "quiz-link")
    assert response.status_code == 303
    assert "/gradebook/" in response.headers["Location"]
    course_id = response.headers["Location"].split("/gradebook/")[1].split("?")[0]
    course = container.courses().get(course_id)
    assert course is not None
    assert course.title == "Biology 101"
    assert "quiz-1" in course.activities


def test_a_released_grade_with_a_target_arrives_in_one_post(stack: Stack, lms: Any, clock: Any) -> None:
    setup_course(stack, lms)
    stack.launch13(lms, "teacher", "bio-101", "quiz-link")
    assert stack.launch13(lms, "sam", "bio-101", "quiz-link").status_code == 200
    stack.drain()
    lms.reset_counters()
    stack.send_messages([score({"issuer": lms.issuer, "user_id": "sam"}, "quiz-1", 2, 80.0, clock.now)])
    stack.drain()
    assert lms.counters["score"] == 1
    assert lms.gradebook()["bio-101"]["sam"]["quiz-link"] == 80.0
