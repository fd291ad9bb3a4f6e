"""Helpers for the gradebook's integration and browser tests: the demo world, sessions, DynamoDB call counts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.client
import requests

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


# One "browser" per gradebook URL: the URL's one-time ticket is spent by the first visit, and the
# session cookie that visit set is what later visits (reloads) use, as in a real browser.
_BROWSERS: dict[str, requests.Session] = {}


def browser_for(url: str) -> requests.Session:
    """A cookie-keeping HTTP client that has opened this gradebook URL (spending its ticket) once."""
    found = _BROWSERS.get(url)
    if found is None:
        found = requests.Session()
        first = found.get(url, timeout=30)
        assert first.status_code == 200, first.text[:500]
        assert session.SESSION_COOKIE in found.cookies, "the first visit set no session cookie"
        _BROWSERS[url] = found
    return found


def browse(url: str, **kwargs: Any) -> requests.Response:
    """GET the gradebook URL as the instructor's browser would (again)."""
    return browser_for(url).get(url, timeout=30, **kwargs)


def ticket_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["t"][0]


def token_of(url: str) -> str:
    """The session the URL's ticket was exchanged for (the browser's cookie)."""
    return str(browser_for(url).cookies[session.SESSION_COOKIE])


def course_of(url: str) -> str:
    return urlsplit(url).path.split("/gradebook/", 1)[1].split("/", 1)[0]


def verified(url: str) -> session.Session:
    """The instructor's session behind a gradebook URL (as the page's browser holds it)."""
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
