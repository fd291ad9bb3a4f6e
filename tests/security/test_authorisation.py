"""Authorisation, one test per rule: who may read and act on a course's gradebook.

Sessions are genuinely signed (as a launch issues them) for the role and course each rule names;
each action is then tried with that session and its own CSRF value, so only the rule refuses it.
The rule that a platform cannot touch another platform's data is proven end to end in
`tests/e2e/test_lti13_e2e.py` (a second platform with the same context id gets its own course, and
one platform's instructor session cannot open the other's gradebook).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from course_setup import Course, lti13_course
from gradebook_kit import forge_session
from passback import container
from passback.domain.release import ReleasePolicy
from stack_harness import Stack


@pytest.fixture
def courses(stack: Stack, lms: Any, clock: Any) -> tuple[Course, Course]:
    biology = lti13_course(stack, lms, context="bio-101")
    chemistry = lti13_course(stack, lms, context="chem-110", students=("lee",))
    for course in (biology, chemistry):
        container.course_settings().set_policy(course.course_id, ReleasePolicy.MANUAL, None, now=clock.now)
    stack.drain()
    return biology, chemistry


def queued_jobs(stack: Stack) -> int:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queue_urls["ReleaseQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def post(stack: Stack, course_id: str, action: str, session: Any, **fields: str) -> requests.Response:
    form = {"s": session.token, "csrf": session.csrf, **fields}
    return requests.post(
        f"{stack.base_url}/gradebook/{course_id}/{action}", data=form, allow_redirects=False, timeout=30
    )


def assert_untouched(stack: Stack, course_id: str) -> None:
    assert queued_jobs(stack) == 0
    course = container.courses().get(course_id)
    assert course is not None
    assert course.release_policy is ReleasePolicy.MANUAL
    assert all(a.released_at is None and a.gau is None for a in course.activities.values())


def test_a_student_cannot_read_the_gradebook_or_its_csv(stack: Stack, courses: tuple[Course, Course]) -> None:
    biology = courses[0].course_id
    student = forge_session(biology, role="learner")
    instructor = forge_session(biology)
    for path in (f"/gradebook/{biology}", f"/gradebook/{biology}/export.csv"):
        assert requests.post(f"{stack.base_url}{path}", data={"s": student.token}, timeout=30).status_code == 403
        assert requests.post(f"{stack.base_url}{path}", data={"s": instructor.token}, timeout=30).status_code == 200


def test_a_student_cannot_release_grades(stack: Stack, courses: tuple[Course, Course]) -> None:
    biology = courses[0].course_id
    answer = post(stack, biology, "release", forge_session(biology, role="learner"), activity="quiz-1")
    assert answer.status_code == 403
    assert_untouched(stack, biology)


def test_a_student_cannot_resync(stack: Stack, courses: tuple[Course, Course]) -> None:
    biology = courses[0].course_id
    answer = post(stack, biology, "resync", forge_session(biology, role="learner"), scope="course")
    assert answer.status_code == 403
    assert_untouched(stack, biology)


def test_a_student_cannot_change_the_release_policy_or_a_deadline(stack: Stack, courses: tuple[Course, Course]) -> None:
    biology = courses[0].course_id
    student = forge_session(biology, role="learner")
    assert post(stack, biology, "settings/policy", student, policy="immediate").status_code == 403
    assert post(stack, biology, "settings/gau", student, **{"gau-quiz-1": "2031-01-01T00:00"}).status_code == 403
    assert_untouched(stack, biology)


def test_an_instructor_of_one_course_cannot_read_or_act_on_another(
    stack: Stack, courses: tuple[Course, Course]
) -> None:
    biology, chemistry = (c.course_id for c in courses)
    biology_instructor = forge_session(biology)
    page = requests.post(f"{stack.base_url}/gradebook/{chemistry}", data={"s": biology_instructor.token}, timeout=30)
    assert page.status_code == 403
    assert post(stack, chemistry, "release", biology_instructor, activity="quiz-1").status_code == 403
    assert post(stack, chemistry, "resync", biology_instructor, scope="course").status_code == 403
    assert post(stack, chemistry, "settings/policy", biology_instructor, policy="immediate").status_code == 403
    assert_untouched(stack, chemistry)
    # The same session does act on its own course.
    assert post(stack, biology, "resync", biology_instructor, scope="course", confirm="yes").status_code == 303
