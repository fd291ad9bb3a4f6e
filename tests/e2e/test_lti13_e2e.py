"""LTI 1.3 against a real `passback serve`: platforms registered with the CLI, launches from emulated LMSs.

The LMS emulators run in this process; `passback serve` is a subprocess with its own moto. Every
id carries a random suffix, because the served stack is shared by the whole e2e session.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from conftest import Served
from passback.emulator import LmsEmulator
from passback.ids import course_id, platform_key_lti13

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]
CONTEXT = f"shared-context-{RUN}"  # both LMSs use the same context id on purpose


@dataclass
class Registered:
    lms: LmsEmulator
    client_id: str
    platform_id: str

    def course_id(self) -> str:
        return course_id(platform_key_lti13(self.lms.issuer), CONTEXT)

    def launch(self, user: str, link: str = "quiz-link") -> requests.Response:
        return self.lms.lti13_launch(requests.Session(), self.client_id, user, CONTEXT, link)


def register(served: Served, lms: LmsEmulator, course_title: str) -> Registered:
    client_id = f"passback-{uuid.uuid4().hex[:8]}"
    base = served.base_url
    config = lms.register_tool(
        client_id,
        login_url=f"{base}/lti13/login",
        launch_url=f"{base}/lti13/launch",
        jwks_url=f"{base}/.well-known/jwks.json",
        deployment_ids=["deployment-1"],
    )
    printed = served.cli(
        "platforms", "add",
        "--issuer", config["issuer"],
        "--client-id", client_id,
        "--deployment-id", "deployment-1",
        "--login-url", config["login_url"],
        "--token-url", config["token_url"],
        "--jwks-url", config["jwks_url"],
        "--name", course_title + " LMS",
    ).stdout  # fmt: skip
    found = re.search(r"platform id (p[0-9a-z]+)", printed)
    assert found, printed
    lms.add_course(CONTEXT, course_title)
    lms.add_user("teacher", name="Tess Teacher", email=f"tess-{RUN}@example.edu", roles=["instructor"])
    lms.add_user("sam", name="Sam Student", email=f"sam-{RUN}-{client_id}@example.edu")
    lms.enroll(CONTEXT, "teacher", "instructor")
    lms.enroll(CONTEXT, "sam", "student")
    lms.add_link(CONTEXT, "quiz-link", title="Quiz 1", custom={"activity_id": f"quiz-{RUN}"})
    return Registered(lms, client_id, found.group(1))


@pytest.fixture(scope="module")
def platforms(served: Served) -> Iterator[tuple[Registered, Registered]]:
    with LmsEmulator(mode="canvas") as a, LmsEmulator(mode="moodle") as b:
        assert a.issuer != b.issuer
        yield register(served, a, "Biology 101 (A)"), register(served, b, "Biology 101 (B)")


def course_items(served: Served, cid: str) -> list[dict[str, Any]]:
    table = served.info["tables"]["GradebookTable"]
    found = served.client("dynamodb").query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"C#{cid}"}},
        ConsistentRead=True,
    )
    return list(found["Items"])


def session_of(response: requests.Response) -> tuple[str, str]:
    """The course and the session the launch's one-time gradebook URL is exchanged for (its cookie)."""
    location = response.headers["Location"]
    found = re.search(r"/gradebook/([^?]+)\?t=([^&]+)", location)
    assert found, location
    browser = requests.Session()
    assert browser.get(location, timeout=60).status_code == 200
    return found.group(1), str(browser.cookies["pb_session"])


def test_an_instructor_launch_creates_the_course_named_after_the_lms_course(
    served: Served, platforms: tuple[Registered, Registered]
) -> None:
    a, _ = platforms
    response = a.launch("teacher")
    assert response.status_code == 303, response.text[:500]
    cid, _session = session_of(response)
    assert cid == a.course_id()
    listed = served.cli("courses", "list", "--platform-id", a.platform_id).stdout
    assert f"{cid}  Biology 101 (A)  context={CONTEXT}" in listed


def test_a_student_launch_enrolls_the_student_and_records_the_target(
    served: Served, platforms: tuple[Registered, Registered]
) -> None:
    a, _ = platforms
    response = a.launch("sam")
    assert response.status_code == 200, response.text[:500]
    items = course_items(served, a.course_id())
    enrollments = [i for i in items if i["sk"]["S"].startswith("E#") and i.get("lms_user_id", {}).get("S") == "sam"]
    assert len(enrollments) == 1
    assert enrollments[0]["role"]["S"] == "learner"
    links = [i for i in items if i["sk"]["S"].startswith("CL#") and i["resource_link_id"]["S"] == "quiz-link"]
    assert len(links) == 1
    # LTI 1.3's target: the link's line item (the LMS's column for it) and the learner's sub.
    line_item = a.lms.line_item_url(CONTEXT, "quiz-link", a.client_id)
    assert line_item
    assert links[0]["line_item_url"]["S"] == line_item
    assert links[0]["activity_id"]["S"] == f"quiz-{RUN}"


def test_a_second_platform_with_the_same_context_id_gets_its_own_course(
    served: Served, platforms: tuple[Registered, Registered]
) -> None:
    a, b = platforms
    assert a.launch("teacher").status_code == 303
    response = b.launch("teacher")
    assert response.status_code == 303, response.text[:500]
    cid_b, _ = session_of(response)
    assert cid_b == b.course_id() != a.course_id()
    assert served.cli("courses", "list", "--platform-id", b.platform_id).stdout.count(CONTEXT) == 1
    listed_a = served.cli("courses", "list", "--platform-id", a.platform_id).stdout
    assert "Biology 101 (A)" in listed_a
    assert "(B)" not in listed_a


def test_an_instructor_session_of_one_platform_cannot_open_the_other_platforms_gradebook(
    served: Served, platforms: tuple[Registered, Registered]
) -> None:
    a, b = platforms
    cid_a, session_a = session_of(a.launch("teacher"))
    cid_b, _ = session_of(b.launch("teacher"))
    own = requests.get(f"{served.base_url}/gradebook/{cid_a}", cookies={"pb_session": session_a}, timeout=60)
    assert own.status_code == 200
    other = requests.get(f"{served.base_url}/gradebook/{cid_b}", cookies={"pb_session": session_a}, timeout=60)
    assert other.status_code == 403
    assert "Biology 101 (B)" not in other.text
