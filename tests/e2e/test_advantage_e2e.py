"""LTI Advantage against a real `passback serve`: a course set up by deep linking, its roster, its columns.

One course, in the order an instructor lives it: deep-link two activities and the homepage, students
launch and get graded into the right columns, a learner who never launched gets a deadline zero, an
inactive member costs no POST, and a column deleted in the LMS is recreated from the gradebook.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import requests

from conftest import Served, wait_for
from passback.emulator import LmsEmulator
from passback.ids import course_id, platform_key_lti13

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]
CONTEXT = f"advantage-{RUN}"
QUIZ_A, QUIZ_B = f"cells-{RUN}", f"genes-{RUN}"


@pytest.fixture(scope="module")
def lms(served: Served) -> Iterator[tuple[LmsEmulator, str]]:
    with LmsEmulator(mode="canvas") as emulator:
        client_id = f"passback-adv-{RUN}"
        base = served.base_url
        config = emulator.register_tool(
            client_id,
            login_url=f"{base}/lti13/login",
            launch_url=f"{base}/lti13/launch",
            jwks_url=f"{base}/.well-known/jwks.json",
            deployment_ids=["deployment-1"],
        )
        served.cli(
            "platforms", "add",
            "--issuer", config["issuer"],
            "--client-id", client_id,
            "--deployment-id", "deployment-1",
            "--login-url", config["login_url"],
            "--token-url", config["token_url"],
            "--jwks-url", config["jwks_url"],
            "--name", "Advantage LMS",
        )  # fmt: skip
        yield emulator, client_id


def send_scores(served: Served, issuer: str, activity: str, scores: dict[str, float]) -> None:
    messages = [
        {
            "type": "score",
            "message_id": uuid.uuid4().hex,
            "learner": {"issuer": issuer, "user_id": user},
            "activity_id": activity,
            "answered": 3,
            "score": value,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        for user, value in scores.items()
    ]
    served.cli("scores", "send", "-", stdin="".join(json.dumps(m) + "\n" for m in messages))


def hidden_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def test_a_course_set_up_by_deep_linking_grades_its_roster_through_lti_advantage(
    served: Served, lms: tuple[LmsEmulator, str]
) -> None:
    emulator, client_id = lms
    served.cli("activities", "put", "--id", QUIZ_A, "--title", "Cell biology quiz", "--min-questions", "2")
    served.cli("activities", "put", "--id", QUIZ_B, "--title", "Genetics quiz", "--min-questions", "2")
    emulator.add_course(CONTEXT, "Biology 101")
    emulator.add_user("teacher", name="Tess Teacher", email=f"tess-{RUN}@example.edu", roles=["instructor"])
    emulator.enroll(CONTEXT, "teacher", "instructor")
    for user in ("sam", "ria", "nev", "ina"):
        emulator.add_user(user, name=f"{user.title()} Student", email=f"{user}-{RUN}@example.edu")
        emulator.enroll(CONTEXT, user, "student")

    # Deep linking: two activities and the homepage; the LMS makes three links and two columns.
    done = emulator.deep_link(requests.Session(), client_id, "teacher", CONTEXT, [QUIZ_A, QUIZ_B], homepage=True)
    assert done.status_code == 200, done.text[:300]
    links = {link["custom"].get("activity_id", "home"): link["resource_link_id"] for link in emulator.links(CONTEXT)}
    assert set(links) == {QUIZ_A, QUIZ_B, "home"}
    items = emulator.line_items(CONTEXT)
    assert sorted((i["resourceId"], i["scoreMaximum"]) for i in items) == [(QUIZ_A, 100.0), (QUIZ_B, 100.0)]

    def launch(user: str, link: str) -> requests.Response:
        return emulator.lti13_launch(requests.Session(), client_id, user, CONTEXT, links[link])

    for link in (QUIZ_A, QUIZ_B, "home"):
        assert launch("teacher", link).status_code == 303
    for user, link in (("sam", QUIZ_A), ("sam", QUIZ_B), ("ria", QUIZ_A), ("ina", QUIZ_A)):
        assert launch(user, link).status_code in (200, 302)
    # The homepage link's column is Passback's to make (the launch offered only the container).
    wait_for(lambda: len(emulator.line_items(CONTEXT)) == 3, what="the homepage column")

    # Grades reach the right columns (and the homepage its average).
    send_scores(served, emulator.issuer, QUIZ_A, {"sam": 80.0, "ria": 70.0})
    send_scores(served, emulator.issuer, QUIZ_B, {"sam": 90.0})
    book = lambda: emulator.gradebook().get(CONTEXT, {})  # noqa: E731
    wait_for(
        lambda: book().get("sam", {}).get(links[QUIZ_B]) == 90.0 and book().get("ria", {}).get(links[QUIZ_A]) == 70.0,
        what="the grades in their columns",
    )
    assert book()["sam"][links[QUIZ_A]] == 80.0
    wait_for(lambda: book().get("sam", {}).get(links["home"]) == 85.0, what="the homepage average")

    # Ina becomes inactive in the LMS; the roster read on demand marks her not in course.
    cid = course_id(platform_key_lti13(emulator.issuer), CONTEXT)
    emulator.set_member_status(CONTEXT, "ina", active=False)
    printed = served.cli("roster", "sync", "--course", cid).stdout
    assert "1 changed status" in printed, printed
    before = len(emulator.score_history())
    send_scores(served, emulator.issuer, QUIZ_A, {"ina": 50.0})

    # Nev never launched: the roster enrolled him, and a past deadline gives him a zero through AGS.
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    served.cli("gau", "set", "--course", cid, "--activity", QUIZ_B, "--at", past, "--yes")
    served.cli("sweep")
    wait_for(lambda: book().get("nev", {}).get(links[QUIZ_B]) == 0.0, timeout=40, what="Nev's deadline zero")
    assert not [s for s in emulator.score_history()[before:] if s["user_id"] == "ina"]

    # The gradebook says so, and a column deleted in the LMS is recreated from it.
    emulator.delete_line_item(CONTEXT, links[QUIZ_A])
    send_scores(served, emulator.issuer, QUIZ_A, {"sam": 95.0})
    location = launch("teacher", QUIZ_A).headers["Location"]
    url = location if location.startswith("http") else served.base_url + location
    browser = requests.Session()
    assert browser.get(url, timeout=30).status_code == 200  # the one-time ticket; the cookie after it
    base = url.split("?", 1)[0]

    def page() -> str:
        return browser.get(base, timeout=30).text

    wait_for(lambda: "Recreate column" in page(), what="the deleted column in the gradebook")
    html = page()
    assert "never opened Passback" in html  # Nev
    assert "user not in course" in html  # Ina: her score was decided by now
    # ... before any POST: the history holds only accepted scores, and the LMS would have answered a POST for
    # an inactive member 422 ("not in course"); the request log shows none was even tried.
    tried = [r for r in emulator.requests if r.method == "POST" and r.path.endswith("/scores") and r.status == 422]
    assert tried == [], tried
    link_id = unescape(re.search(r'formaction="[^"]*/recreate-column" name="link" value="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    answer = browser.post(
        f"{base}/recreate-column", data={**hidden_fields(html), "link": link_id}, allow_redirects=False, timeout=30
    )
    assert answer.status_code == 303, answer.text[:300]
    wait_for(lambda: book().get("sam", {}).get(links[QUIZ_A]) == 95.0, timeout=40, what="the grade in the new column")
    assert book()["ria"][links[QUIZ_A]] == 70.0
    assert sum(1 for i in emulator.line_items(CONTEXT) if i["resourceId"] == QUIZ_A) == 1
