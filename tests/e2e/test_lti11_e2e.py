"""LTI 1.1 against a real `passback serve`: a grade goes back by Basic Outcomes once there is a target.

The consumer is added with the CLI, the LMS emulator (in this process) signs the launches with
oauthlib's client, the product's messages go through `passback scores send`, and the grade is
read back from the emulator's outcomes endpoint with a signed readResult, as a tool would.
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_TYPE_AUTH_HEADER, Client

from conftest import Served, wait_for
from passback.emulator import LmsEmulator
from passback.ids import course_id, link_id, platform_key_lti11

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]
KEY = f"consumer-{RUN}"
SECRET = f"secret-{uuid.uuid4().hex}"
CONTEXT = f"hist-{RUN}"
ACTIVITY = f"quiz-{RUN}"
NS = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"


@dataclass
class Consumer:
    served: Served
    lms: LmsEmulator

    @property
    def launch_url(self) -> str:
        return f"{self.served.base_url}/lti11/launch"

    def launch(self, user: str, link: str, roles: str = "Learner") -> tuple[requests.Response, dict[str, str]]:
        params = self.lms.lti11_launch_params(KEY, self.launch_url, user, CONTEXT, link, roles=roles)
        response = requests.post(self.launch_url, data=params, allow_redirects=False, timeout=60)
        return response, params


@pytest.fixture(scope="module")
def consumer(served: Served) -> Iterator[Consumer]:
    with LmsEmulator(mode="canvas") as lms:
        base = served.base_url
        lms.register_tool(
            f"lti11-{KEY}",
            login_url=f"{base}/lti13/login",
            launch_url=f"{base}/lti13/launch",
            jwks_url=f"{base}/.well-known/jwks.json",
            deployment_ids=["unused"],
            lti11_consumer_key=KEY,
            lti11_secret=SECRET,
        )
        served.cli("consumers", "add", "--key", KEY, "--secret", SECRET, "--name", "Emulated LMS (1.1)")
        lms.add_course(CONTEXT, "History 1")
        lms.add_user("teacher", name="Tom Teacher", email=f"tom-{RUN}@example.edu", roles=["instructor"])
        lms.add_user("lee", name="Lee Learner", email=f"lee-{RUN}@example.edu")
        lms.enroll(CONTEXT, "teacher", "instructor")
        lms.enroll(CONTEXT, "lee", "student")
        lms.add_link(CONTEXT, "quiz-link", title="Quiz 1", custom={"activity_id": ACTIVITY})
        lms.add_link(CONTEXT, "home-link", title="History home")
        yield Consumer(served, lms)


def send(served: Served, *messages: dict[str, Any]) -> None:
    served.cli("scores", "send", "-", stdin="".join(json.dumps(m) + "\n" for m in messages))


def read_result(lms: LmsEmulator, sourcedid: str) -> str | None:
    """The LMS's current grade for a sourcedid, by a signed Basic Outcomes readResult."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><imsx_POXEnvelopeRequest xmlns="{NS}">'
        "<imsx_POXHeader><imsx_POXRequestHeaderInfo><imsx_version>V1.0</imsx_version>"
        f"<imsx_messageIdentifier>{uuid.uuid4().hex}</imsx_messageIdentifier></imsx_POXRequestHeaderInfo>"
        f"</imsx_POXHeader><imsx_POXBody><readResultRequest><resultRecord><sourcedGUID><sourcedId>{sourcedid}"
        "</sourcedId></sourcedGUID></resultRecord></readResultRequest></imsx_POXBody></imsx_POXEnvelopeRequest>"
    )
    client = Client(KEY, client_secret=SECRET, signature_type=SIGNATURE_TYPE_AUTH_HEADER)
    url, headers, _ = client.sign(
        lms.outcomes_url, http_method="POST", body=body, headers={"Content-Type": "application/xml"}
    )
    response = requests.post(url, data=body.encode(), headers=headers, timeout=60)
    assert response.status_code == 200, response.text[:500]
    root = ET.fromstring(response.content)  # noqa: S314 - the emulator's own answer
    status = root.find(f".//{{{NS}}}imsx_codeMajor")
    assert status is not None
    assert status.text == "success", response.text[:500]
    score = root.find(f".//{{{NS}}}resultScore/{{{NS}}}textString")
    return score.text if score is not None and score.text else None


def cell_status(served: Served, learner: str, link: str) -> str | None:
    cid = course_id(platform_key_lti11(KEY), CONTEXT)
    item = (
        served.client("dynamodb")
        .get_item(
            TableName=served.info["tables"]["GradebookTable"],
            Key={"pk": {"S": f"C#{cid}"}, "sk": {"S": f"X#{learner}#{link_id(platform_key_lti11(KEY), link)}"}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return item["status"]["S"] if item and "status" in item else None


def learner_id(served: Served, user: str) -> str | None:
    cid = course_id(platform_key_lti11(KEY), CONTEXT)
    items = (
        served.client("dynamodb")
        .query(
            TableName=served.info["tables"]["GradebookTable"],
            KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
            ExpressionAttributeValues={":pk": {"S": f"C#{cid}"}, ":e": {"S": "E#"}},
            ConsistentRead=True,
        )
        .get("Items", [])
    )
    return next((i["learner_id"]["S"] for i in items if i.get("lms_user_id", {}).get("S") == user), None)


def test_instructor_and_student_launches_are_accepted(consumer: Consumer) -> None:
    response, _ = consumer.launch("teacher", "quiz-link", roles="Instructor")
    assert response.status_code == 303, response.text[:500]
    assert f"/gradebook/{course_id(platform_key_lti11(KEY), CONTEXT)}?t=" in response.headers["Location"]


def test_a_grade_goes_back_by_basic_outcomes_once_the_student_launches_the_activity_link(
    served: Served, consumer: Consumer
) -> None:
    lms = consumer.lms
    send(served, {"type": "activity", "message_id": uuid.uuid4().hex, "activity_id": ACTIVITY,
                  "title": "Quiz 1", "min_questions": 1})  # fmt: skip
    wait_for(lambda: ACTIVITY in served.cli("activities", "list").stdout, what="the activity in the catalog")
    assert consumer.launch("teacher", "quiz-link", roles="Instructor")[0].status_code == 303  # the activity link

    # The student opens only the homepage link: no custom_activity_id, so no target for the quiz.
    response, home = consumer.launch("lee", "home-link")
    assert response.status_code == 200, response.text[:500]
    assert "custom_activity_id" not in home
    learner = wait_for(lambda: learner_id(served, "lee"), what="the student's enrollment")
    send(served, {"type": "score", "message_id": uuid.uuid4().hex, "learner": {"consumer_key": KEY, "user_id": "lee"},
                  "activity_id": ACTIVITY, "answered": 1, "score": 64.0,
                  "occurred_at": datetime.now(UTC).isoformat()})  # fmt: skip
    wait_for(lambda: cell_status(served, learner, "quiz-link") == "no target", what="'no target' on the quiz cell")
    # The homepage link's composite (the one assigned activity) went back by replaceResult, 0.0 to 1.0.
    assert float(wait_for(lambda: read_result(lms, home["lis_result_sourcedid"]), what="the composite")) == 0.64

    response, quiz = consumer.launch("lee", "quiz-link")  # opening it once is enough
    assert response.status_code == 200, response.text[:500]
    assert float(wait_for(lambda: read_result(lms, quiz["lis_result_sourcedid"]), what="the quiz grade")) == 0.64
    wait_for(lambda: cell_status(served, learner, "quiz-link") == "synced", what="the quiz cell synced")
