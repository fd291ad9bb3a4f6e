"""A course of 500 learners and 40 activities: one Query per page view (the times are printed, not asserted)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from gradebook_kit import build_big_course, dynamodb_calls, fast_moto_responses, forge_session  # noqa: F401
from passback import container
from passback.clock import utcnow
from passback.services.gradebook import build_view
from passback.web import gradebook_page

LEARNERS, ACTIVITIES = 500, 40
COURSE = "cbigcourse500x40"


def build_course() -> None:
    build_big_course(COURSE, LEARNERS, ACTIVITIES, title="Large lecture: 500 learners, 40 activities")


@pytest.mark.usefixtures("fast_moto_responses")
def test_500_learners_by_40_activities_render_with_one_query(stack: Any) -> None:
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
    tables = [(op, p.get("TableName") or ",".join(p.get("RequestItems", {}))) for op, p in http_calls]
    gradebook_reads = [op for op, table in tables if table.endswith("-gradebook")]
    others = [(op, table) for op, table in tables if not table.endswith("-gradebook")]
    assert len(gradebook_reads) == len(calls)
    # (and the thresholds: one BatchGetItem of the catalog, cached for a minute)
    assert set(others) <= {("Query", "passback-local-config"), ("BatchGetItem", "passback-local-config")}
    assert len(others) <= 2
    assert response.headers["Content-Encoding"] == "gzip"
    wire = int(response.headers["Content-Length"])
    assert response.text.count('<th scope="row" id="r-') == 50  # one page of learners (the default size)
    print(
        f"\n{LEARNERS}x{ACTIVITIES} gradebook: one Query in {len(calls)} page(s) read in {read - started:.2f} s "
        f"(moto), view model built in {built - read:.2f} s, rendered in {rendered - built:.2f} s, "
        f"HTML {len(html) / 1e6:.1f} MB "
        f"({wire / 1e3:.0f} kB gzipped); the whole GET through the local gateway {elapsed_http:.2f} s"
    )
    # No timed assertions (noisy machines): the Query counts above catch a per-cell read; the times
    # are printed for a human, and the benchmarks measure performance.
