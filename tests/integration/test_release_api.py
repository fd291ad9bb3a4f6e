"""POST /api/v1/releases (operators and automation, IAM-signed in AWS): a release request becomes a release job."""

from __future__ import annotations

from typing import Any

import requests

from course_setup import lti13_course
from passback import container
from passback.domain.release import ReleasePolicy
from stack_harness import Stack, score


def test_rule8_a_release_request_over_http_releases_the_activity_once(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, students=("sam", "ria"))
    container.course_settings().set_policy(course.course_id, ReleasePolicy.MANUAL, None, now=clock.now)
    stack.send_messages([score(course.ref(u), "quiz-1", 2, 90.0, clock.now) for u in ("sam", "ria")])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") is None  # nothing before release

    url = f"{stack.base_url}/api/v1/releases"
    body = {"course_id": course.course_id, "activity_id": "quiz-1", "requested_by": "ops:test"}
    answer = requests.post(url, json=body, timeout=60)
    assert answer.status_code == 202
    assert answer.json()["job_id"]
    stack.drain()
    assert {u: course.lms_grade(u, "link-quiz-1") for u in ("sam", "ria")} == {"sam": 90.0, "ria": 90.0}

    refused = requests.post(url, json={"course_id": course.course_id}, timeout=60)
    assert 400 <= refused.status_code < 500
