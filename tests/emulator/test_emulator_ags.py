"""Assignment and Grade Services: line items, scores (both LMS flavours), results, NRPS."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from emulator_testkit import CLIENT_ID, CONTAINER_LINK, COURSE, INSTRUCTOR, LINK, STUDENT
from hypothesis import given
from hypothesis import strategies as st

from passback.emulator import LmsEmulator
from passback.emulator.ags import SCORE_TYPE, ScoreRejectedError, parse_score, timestamp_conflict
from passback.emulator.claims import SCOPE_LINEITEM_READONLY, SCOPE_NRPS, SCOPE_RESULT_READONLY

GetToken = Callable[..., str]
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def score_body(user: str = STUDENT, given: float = 7, maximum: float = 10, **extra: Any) -> dict[str, Any]:
    return {
        "userId": user,
        "scoreGiven": given,
        "scoreMaximum": maximum,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": iso(datetime.now(UTC)),
        **extra,
    }


def scores_url(line_item_url: str) -> str:
    path, sep, query = line_item_url.partition("?")
    return f"{path}/scores{sep}{query}"


def post_score(line_item_url: str, token: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        scores_url(line_item_url),
        json=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCORE_TYPE},
        timeout=5,
    )


def item_url(emu: LmsEmulator) -> str:
    url = emu.line_item_url(COURSE, LINK, CLIENT_ID)
    assert url is not None
    return url


def test_score_is_accepted_and_recorded(emu: LmsEmulator, get_token: GetToken) -> None:
    token = get_token(emu)
    body = score_body(comment="well done")
    response = post_score(item_url(emu), token, body)
    assert response.status_code == 200, response.text
    assert response.json()["resultUrl"].startswith(item_url(emu) + "/results/")
    (recorded,) = emu.scores()
    assert recorded["user_id"] == STUDENT
    assert recorded["resource_link_id"] == LINK
    assert recorded["line_item_url"] == item_url(emu)
    assert (recorded["score_given"], recorded["score_maximum"]) == (7, 10)
    assert recorded["timestamp"] == body["timestamp"]
    assert (recorded["activity_progress"], recorded["grading_progress"]) == ("Completed", "FullyGraded")
    assert emu.gradebook() == {COURSE: {STUDENT: {LINK: 70.0}}}
    assert emu.counters["score"] == emu.counters["score_accepted"] == 1


def test_history_keeps_every_accepted_score(emu: LmsEmulator, get_token: GetToken) -> None:
    token = get_token(emu)
    start = datetime.now(UTC)
    for n in range(3):
        post_score(item_url(emu), token, score_body(given=n, timestamp=iso(start + timedelta(seconds=n))))
    assert [s["score_given"] for s in emu.score_history()] == [0, 1, 2]
    assert [s["score_given"] for s in emu.scores()] == [2]


def test_dropped_user_is_refused_canvas_style(emu: LmsEmulator, get_token: GetToken) -> None:
    emu.drop(COURSE, STUDENT)
    response = post_score(item_url(emu), get_token(emu), score_body())
    assert response.status_code == 422
    assert response.json() == {
        "errors": {"type": "unprocessable_entity", "message": "User not found in course or is not a student"}
    }
    assert emu.scores() == []


def test_dropped_user_is_refused_moodle_style(moodle: LmsEmulator, get_token: GetToken) -> None:
    moodle.drop(COURSE, STUDENT)
    response = post_score(item_url(moodle), get_token(moodle), score_body())
    assert response.status_code == 400
    assert response.text == "User is not in course"


def test_canvas_timestamps_older_refused_equal_accepted(emu: LmsEmulator, get_token: GetToken) -> None:
    token = get_token(emu)
    now = datetime.now(UTC)
    assert post_score(item_url(emu), token, score_body(timestamp=iso(now))).status_code == 200
    assert post_score(item_url(emu), token, score_body(given=8, timestamp=iso(now))).status_code == 200
    older = post_score(item_url(emu), token, score_body(given=9, timestamp=iso(now - timedelta(milliseconds=1))))
    assert older.status_code == 400
    assert older.json() == {"errors": {"message": "score timestamp must be greater than the existing score timestamp"}}
    assert emu.scores()[0]["score_given"] == 8


def test_moodle_timestamps_must_be_newer_by_whole_seconds(moodle: LmsEmulator, get_token: GetToken) -> None:
    token = get_token(moodle)
    base = datetime(2030, 1, 1, 12, 0, 0, 100_000, tzinfo=UTC)
    assert post_score(item_url(moodle), token, score_body(timestamp=iso(base))).status_code == 200
    same_second = post_score(item_url(moodle), token, score_body(timestamp=iso(base + timedelta(milliseconds=800))))
    assert same_second.status_code == 409
    assert same_second.text == "Score is not newer than the existing score"
    next_second = post_score(item_url(moodle), token, score_body(timestamp=iso(base + timedelta(seconds=1))))
    assert next_second.status_code == 200
    assert next_second.text == ""


def test_moodle_line_item_url_keeps_its_query_string(moodle: LmsEmulator, get_token: GetToken) -> None:
    url = item_url(moodle)
    assert url == f"{moodle.base_url}/mod/lti/services.php/{COURSE}/lineitems/1/lineitem?type_id=1"
    token = get_token(moodle)
    assert post_score(url, token, score_body()).status_code == 200
    # A tool that appends /scores after the query string (or drops it) fails, as on a real Moodle.
    dropped_query = requests.post(
        url.split("?")[0] + "/scores",
        json=score_body(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCORE_TYPE},
        timeout=5,
    )
    assert dropped_query.status_code == 400
    naive = requests.post(
        url + "/scores",
        json=score_body(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": SCORE_TYPE},
        timeout=5,
    )
    assert naive.status_code in (400, 404, 405)
    assert len(moodle.score_history()) == 1


def test_expired_tokens_get_401(any_emu: LmsEmulator, get_token: GetToken) -> None:
    token = get_token(any_emu)
    any_emu.faults.expire_tokens()
    response = post_score(item_url(any_emu), token, score_body())
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert post_score(item_url(any_emu), get_token(any_emu), score_body()).status_code == 200


def test_token_lifetime_is_enforced(fake_tool: Any) -> None:
    from emulator_testkit import request_token, seed

    with LmsEmulator(token_lifetime=1) as short:
        seed(short, fake_tool)
        token = request_token(short, fake_tool)
        import time

        time.sleep(1.1)
        response = post_score(item_url(short), token, score_body())
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"


def test_missing_or_wrong_scope_or_token(emu: LmsEmulator, get_token: GetToken) -> None:
    readonly = get_token(emu, [SCOPE_LINEITEM_READONLY])
    response = post_score(item_url(emu), readonly, score_body())
    assert response.status_code == 401
    assert response.json()["error"] == "insufficient_scope"
    assert post_score(item_url(emu), "made-up", score_body()).status_code == 401
    no_auth = requests.post(scores_url(item_url(emu)), json=score_body(), timeout=5)
    assert no_auth.status_code == 401


@pytest.mark.parametrize(
    "change",
    [
        {"userId": ""},
        {"activityProgress": "Done"},
        {"gradingProgress": "Graded"},
        {"timestamp": "2024-01-01T10:00:00"},
        {"timestamp": "yesterday"},
        {"scoreGiven": 11},
        {"scoreGiven": -1},
        {"scoreGiven": "7"},
        {"scoreMaximum": 0},
        {"scoreMaximum": None},
        {"comment": 5},
    ],
)
def test_bad_score_bodies_are_refused(emu: LmsEmulator, get_token: GetToken, change: dict[str, Any]) -> None:
    body = score_body()
    body.update(change)
    response = post_score(item_url(emu), get_token(emu), body)
    assert response.status_code == 400, response.text
    assert response.json()["errors"]["message"]


def test_wrong_content_type_is_refused(emu: LmsEmulator, get_token: GetToken) -> None:
    response = requests.post(
        scores_url(item_url(emu)),
        json=score_body(),
        headers={"Authorization": f"Bearer {get_token(emu)}"},
        timeout=5,
    )
    assert response.status_code == 415


def test_score_without_grade_is_accepted(emu: LmsEmulator, get_token: GetToken) -> None:
    body = score_body(activityProgress="Started", gradingProgress="NotReady")
    del body["scoreGiven"], body["scoreMaximum"]
    assert post_score(item_url(emu), get_token(emu), body).status_code == 200
    assert emu.scores()[0]["score_given"] is None
    assert emu.gradebook() == {}


def test_find_or_create_line_item_in_the_container(any_emu: LmsEmulator, get_token: GetToken) -> None:
    token = get_token(any_emu)
    auth = {"Authorization": f"Bearer {token}"}
    lineitems = any_emu.lms.urls.lineitems(COURSE, 1)
    # requests appends params to Moodle's ?type_id=, as a careful tool must.
    found = requests.get(lineitems, params={"resource_link_id": CONTAINER_LINK}, headers=auth, timeout=5)
    assert found.status_code == 200
    assert found.json() == []
    assert found.headers["Content-Type"] == "application/vnd.ims.lis.v2.lineitemcontainer+json"
    created = requests.post(
        lineitems,
        json={"label": "Essay", "scoreMaximum": 20, "resourceLinkId": CONTAINER_LINK, "tag": "final"},
        headers={**auth, "Content-Type": LINEITEM_TYPE},
        timeout=5,
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert (item["label"], item["scoreMaximum"], item["resourceLinkId"]) == ("Essay", 20, CONTAINER_LINK)
    again = requests.get(lineitems, params={"resource_link_id": CONTAINER_LINK}, headers=auth, timeout=5)
    assert [i["id"] for i in again.json()] == [item["id"]]
    fetched = requests.get(item["id"], headers=auth, timeout=5)
    assert fetched.json() == item
    assert post_score(item["id"], token, score_body(given=15, maximum=20)).status_code == 200
    results = requests.get(
        item["id"].replace("?", "/results?") if "?" in item["id"] else item["id"] + "/results",
        headers=auth,
        timeout=5,
    )
    assert results.status_code == 200
    (result,) = results.json()
    assert (result["userId"], result["resultScore"], result["resultMaximum"]) == (STUDENT, 15, 20)
    assert any_emu.gradebook() == {COURSE: {STUDENT: {CONTAINER_LINK: 75.0}}}
    assert any_emu.counters["lineitem_create"] == 1


def test_line_item_creation_validates(emu: LmsEmulator, get_token: GetToken) -> None:
    auth = {"Authorization": f"Bearer {get_token(emu)}", "Content-Type": LINEITEM_TYPE}
    url = emu.lms.urls.lineitems(COURSE, 1)
    for body in (
        {"scoreMaximum": 10},
        {"label": "x", "scoreMaximum": 0},
        {"label": "x", "scoreMaximum": 1, "resourceLinkId": "nope"},
    ):
        assert requests.post(url, json=body, headers=auth, timeout=5).status_code == 400
    readonly = get_token(emu, [SCOPE_LINEITEM_READONLY])
    refused = requests.post(
        url,
        json={"label": "x", "scoreMaximum": 1},
        headers={**auth, "Authorization": f"Bearer {readonly}"},
        timeout=5,
    )
    assert refused.status_code == 401


def test_line_item_container_pages_with_link_header(emu: LmsEmulator, get_token: GetToken) -> None:
    token = get_token(emu)
    auth = {"Authorization": f"Bearer {token}"}
    url = emu.lms.urls.lineitems(COURSE, 1)
    for n in range(3):
        requests.post(
            url,
            json={"label": f"extra {n}", "scoreMaximum": 5},
            headers={**auth, "Content-Type": LINEITEM_TYPE},
            timeout=5,
        )
    first = requests.get(url, params={"limit": 2}, headers=auth, timeout=5)
    assert len(first.json()) == 2
    next_url = first.links["next"]["url"]
    second = requests.get(next_url, headers=auth, timeout=5)
    assert len(second.json()) == 2
    assert "next" not in second.links


def test_results_need_result_scope(emu: LmsEmulator, get_token: GetToken) -> None:
    results = item_url(emu) + "/results"
    assert (
        requests.get(
            results, headers={"Authorization": f"Bearer {get_token(emu, [SCOPE_RESULT_READONLY])}"}, timeout=5
        ).status_code
        == 200
    )
    assert (
        requests.get(
            results,
            headers={"Authorization": f"Bearer {get_token(emu, [SCOPE_LINEITEM_READONLY])}"},
            timeout=5,
        ).status_code
        == 401
    )


def test_nrps_lists_the_course_members(any_emu: LmsEmulator, get_token: GetToken) -> None:
    url = any_emu.lms.urls.memberships(COURSE, 1)
    response = requests.get(url, headers={"Authorization": f"Bearer {get_token(any_emu, [SCOPE_NRPS])}"}, timeout=5)
    assert response.status_code == 200
    members = {m["user_id"]: m for m in response.json()["members"]}
    assert set(members) == {STUDENT, INSTRUCTOR}
    assert "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor" in members[INSTRUCTOR]["roles"]


@given(
    given_=st.floats(min_value=0, max_value=1000, allow_nan=False),
    maximum=st.floats(min_value=0.001, max_value=1000, allow_nan=False),
)
def test_parse_score_range_rule(given_: float, maximum: float) -> None:
    body = score_body(given=given_, maximum=maximum)
    if given_ <= maximum:
        assert parse_score(body).score_given == given_
    else:
        with pytest.raises(ScoreRejectedError):
            parse_score(body)


@given(
    first=st.datetimes(timezones=st.just(UTC)),
    delta_us=st.integers(min_value=-3_000_000, max_value=3_000_000),
)
def test_timestamp_rules_match_their_definitions(first: datetime, delta_us: int) -> None:
    try:
        second = first + timedelta(microseconds=delta_us)
    except OverflowError:
        return
    assert timestamp_conflict("canvas", first, second) == (second < first)
    truncated = [moment.astimezone(UTC).replace(microsecond=0) for moment in (first, second)]
    assert timestamp_conflict("moodle", first, second) == (truncated[1] <= truncated[0])
