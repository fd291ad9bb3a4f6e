"""Helpers for the gradebook's integration and browser tests: the demo world, sessions, DynamoDB call counts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.client
import pytest
import requests

from passback import container
from passback.cli.demo import DemoCourse, DemoWorld, populate
from passback.clock import utcnow
from passback.data.gradebook_models import Cell, Enrollment
from passback.domain.delivery import CellStatus
from passback.domain.records import Attempt, GradeEntry, LinkRecord
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
    return dict(re.findall(r'<input type="hidden" name="([\w-]+)" value="([^"]*)"', html))


FIRST = ("Ada", "Alan", "Barbara", "Edsger", "Grace", "Katherine", "Linus", "Marie", "Niklaus", "Radia")
LAST = ("Hopper", "Kay", "Lamport", "Liskov", "Perlman", "Ritchie", "Turing", "Wirth")


def build_big_course(
    course_id: str, learners: int, activities: int, *, title: str, lms_origin: str = "https://lms.example.edu"
) -> None:
    """A large LTI 1.3 course: synced grades, some retrying, some refused by the LMS (1 in 20 each)."""
    now = utcnow()
    courses = container.courses()
    courses.create_if_absent(
        course_id=course_id,
        platform_id="pbig",
        platform_key="lti13:https://lms.example.edu",
        lti_version="1.3",
        context_id="big",
        title=title,
        label=None,
        lms_origin=lms_origin,
        now=now,
    )
    for i in range(activities):
        courses.assign_activity(course_id, f"act-{i:02d}", f"Activity {i + 1}", now)
        courses.upsert_link(
            course_id,
            LinkRecord(
                link_id=f"l{i:02d}",
                resource_link_id=f"rl-{i}",
                activity_id=f"act-{i:02d}",
                lti_version="1.3",
                title=f"Activity {i + 1}",
                line_item_url=f"https://lms.example.edu/api/lti/courses/1/line_items/{i}",
            ),
            now,
        )
    courses.upsert_link(
        course_id,
        LinkRecord(
            link_id="lhome",
            resource_link_id="rl-home",
            activity_id=None,
            lti_version="1.3",
            title="Home",
            line_item_url="https://lms.example.edu/api/lti/courses/1/line_items/home",
        ),
        now,
    )
    failed = Attempt(at=now, value=50.0, outcome="retryable", status=503, message="HTTP 503: Service Unavailable")
    # Enrollments and cells go straight into moto's table (the repositories write one item at a
    # time over HTTP, which is what production needs and minutes of set-up here). The items are
    # the models' own serialisation, so the page reads exactly what the repositories would write.
    put = _moto_put(Cell.Meta.table_name)
    for n in range(learners):
        learner = f"u{n:04d}"
        grades = {str(i + 1): GradeEntry(float((n * 7 + i * 13) % 101), 10, 1).to_list() for i in range(activities)}
        put(
            Enrollment(
                course_id=course_id,
                learner_id=learner,
                role="learner",
                lms_user_id=f"sub-{n}",
                name=f"{FIRST[n % len(FIRST)]} {LAST[(n // len(FIRST)) % len(LAST)]} {n:04d}",
                email=f"learner{n}@example.edu",
                grades=grades,
                enrolled_at=now,
                version=1,
            )
        )
        for i in [*range(activities), None]:
            link = "lhome" if i is None else f"l{i:02d}"
            value = float((n * 7 + (i or 0) * 13) % 101)
            kind = (n + (i or 0)) % 20
            cell = Cell(course_id=course_id, learner_id=learner, link_id=link, updated_at=now, version=1)
            if kind == 0:
                cell.status, cell.message = CellStatus.RETRYING.value, "HTTP 503: Service Unavailable"
                cell.failed_value, cell.attempts = value, 2
                cell.next_attempt_at, cell.first_failure_at = now + timedelta(minutes=2), now
                cell.history = [failed.to_list(), failed.to_list()]
            elif kind == 1:
                cell.status, cell.message = CellStatus.LMS_ERROR.value, "HTTP 403: The line item is closed"
                cell.failed_value, cell.history = value, [failed.to_list()]
            else:
                cell.status, cell.sent_value, cell.sent_at, cell.sent_ts = "synced", value, now, 1
                ok = Attempt(at=now, value=value, outcome="synced", status=200, message="")
                cell.history = [ok.to_list()]
            put(cell)


def _moto_put(table_name: str) -> Any:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][Cell.Meta.region]

    def put(item: Any) -> None:
        backend.put_item(table_name, item.serialize())

    return put


@pytest.fixture
def fast_moto_responses(monkeypatch: pytest.MonkeyPatch, stack: Any) -> None:
    """Encode moto's DynamoDB answers with json.dumps instead of its generic response serializer.

    moto builds the same DynamoDB JSON either way; its serializer takes about 5 ms per item, so a
    21,000-item partition would take minutes to read here where DynamoDB takes a second. Paging
    (1 MB per page), key conditions and everything else stay moto's. After the stack is up (its
    set-up answers carry dates this encoder does not take).
    """
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict
    from moto.dynamodb.responses import DynamoResult

    def execute_result(self: Any, context: Any) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result)

    monkeypatch.setattr(DynamoResult, "execute_result", execute_result)
    # moto re-measures a whole item on every attribute it sets (its 400 KB check), quadratic in the
    # attributes and most of this test's time; these items are far below the limit.
    monkeypatch.setattr(LimitedSizeDict, "__setitem__", dict.__setitem__)
