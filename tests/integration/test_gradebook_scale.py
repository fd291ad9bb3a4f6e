"""A course of 500 learners and 40 activities: one Query per page view (the times are printed, not asserted)."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
import requests

from gradebook_kit import dynamodb_calls, forge_session
from passback import container
from passback.clock import utcnow
from passback.data.gradebook_models import Cell, Enrollment
from passback.domain.delivery import CellStatus
from passback.domain.records import Attempt, GradeEntry, LinkRecord
from passback.services.gradebook import build_view
from passback.web import gradebook_page

LEARNERS, ACTIVITIES = 500, 40
COURSE = "cbigcourse500x40"


def build_course() -> None:
    now = utcnow()
    courses = container.courses()
    courses.create_if_absent(
        course_id=COURSE,
        platform_id="pbig",
        platform_key="lti13:https://lms.example.edu",
        lti_version="1.3",
        context_id="big",
        title="Large lecture: 500 learners, 40 activities",
        label=None,
        lms_origin="https://lms.example.edu",
        now=now,
    )
    for i in range(ACTIVITIES):
        courses.assign_activity(COURSE, f"act-{i:02d}", f"Activity {i + 1}", now)
        courses.upsert_link(
            COURSE,
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
        COURSE,
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
    for n in range(LEARNERS):
        learner = f"u{n:04d}"
        grades = {str(i + 1): GradeEntry(float((n * 7 + i * 13) % 101), 10, 1).to_list() for i in range(ACTIVITIES)}
        put(
            Enrollment(
                course_id=COURSE,
                learner_id=learner,
                role="learner",
                lms_user_id=f"sub-{n}",
                name=f"Learner {n:04d}",
                email=f"learner{n}@example.edu",
                grades=grades,
                enrolled_at=now,
                version=1,
            )
        )
        for i in [*range(ACTIVITIES), None]:
            link = "lhome" if i is None else f"l{i:02d}"
            value = float((n * 7 + (i or 0) * 13) % 101)
            kind = (n + (i or 0)) % 20
            cell = Cell(course_id=COURSE, learner_id=learner, link_id=link, updated_at=now, version=1)
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
def fast_moto_responses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Encode moto's DynamoDB answers with json.dumps instead of its generic response serializer.

    moto builds the same DynamoDB JSON either way; its serializer takes about 5 ms per item, so a
    21,000-item partition would take minutes to read here where DynamoDB takes a second. Paging
    (1 MB per page), key conditions and everything else stay moto's.
    """
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict
    from moto.dynamodb.responses import DynamoResult

    def execute_result(self: Any, context: Any) -> tuple[int, dict[str, str], str]:
        return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result)

    monkeypatch.setattr(DynamoResult, "execute_result", execute_result)
    # moto re-measures a whole item on every attribute it sets (its 400 KB check), quadratic in the
    # attributes and most of this test's time; these items are far below the limit.
    monkeypatch.setattr(LimitedSizeDict, "__setitem__", dict.__setitem__)


def test_500_learners_by_40_activities_render_with_one_query(stack: Any, fast_moto_responses: None) -> None:
    build_course()
    current = forge_session(COURSE, lms_origin="https://lms.example.edu")

    # The service (one Query, followed page by page) and the renderer, timed apart.
    with dynamodb_calls() as calls:
        started = time.perf_counter()
        snapshot = container.gradebook_view().load(COURSE)
        read = time.perf_counter()
        assert snapshot is not None
        view = build_view(snapshot, utcnow())
        built = time.perf_counter()
        assert view is not None
        html = gradebook_page.render(view, token=current.token, csrf=current.csrf)
        rendered = time.perf_counter()
    assert [op for op, _ in calls] == ["Query"] * len(calls)
    assert {params["KeyConditionExpression"] for _, params in calls} == {"#0 = :0"}
    assert {params["ExpressionAttributeValues"][":0"]["S"] for _, params in calls} == {f"C#{COURSE}"}
    assert all("ExclusiveStartKey" in params for _, params in calls[1:])  # pages of the same Query
    assert len(view.rows) == LEARNERS
    assert len(view.columns) == ACTIVITIES + 1
    assert sum(len(row.cells) for row in view.rows) == LEARNERS * (ACTIVITIES + 1)
    assert view.totals["retrying"] > 0
    assert view.totals["LMS error"] > 0
    assert view.totals["synced"] > 15000

    # The whole request through the local API Gateway, as a browser sends it (gzip accepted).
    url = f"{stack.base_url}{gradebook_page.page_path(COURSE)}"
    with dynamodb_calls() as http_calls:
        started_http = time.perf_counter()
        response = requests.get(
            url, cookies={"pb_session": current.token}, headers={"Accept-Encoding": "gzip"}, timeout=120
        )
        elapsed_http = time.perf_counter() - started_http
    assert response.status_code == 200
    # The gradebook's one Query (same pages), plus at most the session check's key-set read (cached 60 s).
    gradebook_reads = [p for op, p in http_calls if p["TableName"].endswith("-gradebook")]
    others = [(op, p["TableName"]) for op, p in http_calls if not p["TableName"].endswith("-gradebook")]
    assert len(gradebook_reads) == len(calls)
    assert others in ([], [("Query", "passback-local-config")])
    assert response.headers["Content-Encoding"] == "gzip"
    wire = int(response.headers["Content-Length"])
    assert response.text.count('<th scope="row" id="r-') == LEARNERS
    print(
        f"\n{LEARNERS}x{ACTIVITIES} gradebook: one Query in {len(calls)} page(s) read in {read - started:.2f} s "
        f"(moto), view model built in {built - read:.2f} s, rendered in {rendered - built:.2f} s, "
        f"HTML {len(html) / 1e6:.1f} MB "
        f"({wire / 1e3:.0f} kB gzipped); the whole GET through the local gateway {elapsed_http:.2f} s"
    )
    # No timed assertions (noisy machines): the Query counts above catch a per-cell read; the times
    # are printed for a human, and the benchmarks measure performance.
