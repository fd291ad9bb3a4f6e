"""Helpers for the gradebook's integration and browser tests: the demo world, sessions, DynamoDB call counts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.client

from passback import container
from passback.cli.demo import DemoCourse, DemoWorld, populate
from passback.clock import utcnow
from passback.web import session


@contextmanager
def dynamodb_calls() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB API call made in this process meanwhile (PynamoDB's and boto3's), in order."""
    calls: list[tuple[str, dict[str, Any]]] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb":
            calls.append((operation, params))
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def play_demo(stack: Any, lms: Any) -> dict[str, DemoCourse]:
    world = DemoWorld(lms=lms, base_url=stack.base_url, drain=stack.drain)
    return {course.context_id: course for course in populate(world, utcnow())}


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["s"][0]


def course_of(url: str) -> str:
    return urlsplit(url).path.split("/gradebook/", 1)[1].split("/", 1)[0]


def verified(url: str) -> session.Session:
    return session.verify(container.tool_keys(), token_of(url), now=utcnow())


def forge_session(
    course_id: str, *, role: str = "instructor", now: datetime | None = None, lms_origin: str | None = None
) -> session.Session:
    """A genuinely signed session (as a launch would issue) for another role, course or time."""
    return session.issue(
        container.tool_keys(),
        base_url="http://127.0.0.1",
        course_id=course_id,
        learner_id="someone",
        role=role,
        platform_id="p",
        lms_origin=lms_origin,
        now=now or utcnow(),
    )


def learner_ids(course_id: str) -> dict[str, str]:
    """LMS user id -> learner id for a course's enrollments."""
    records, _ = container.enrollments().page(course_id, None, 1000)
    return {r.lms_user_id or "": r.learner_id for r in records}


def link_ids(course_id: str) -> dict[str, str]:
    """Resource link id -> link id."""
    course = container.courses().get(course_id)
    assert course is not None
    return {link.resource_link_id: link.link_id for link in course.links.values()}


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
