"""Rule 12 against a real `passback serve`: work by email, a launch with that email, the mail, the link."""

from __future__ import annotations

import email
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
import requests

from conftest import Served, wait_for
from passback.emulator import LmsEmulator

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]


def register(served: Served, lms: LmsEmulator) -> str:
    client_id = f"merge-{RUN}"
    base = served.base_url
    config = lms.register_tool(
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
        "--name", "Merge LMS",
    )  # fmt: skip
    return client_id


def mails_to(mail_dir: Path, address: str) -> list[EmailMessage]:
    found = []
    for path in sorted(mail_dir.glob("*.eml")) if mail_dir.exists() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=default)
        if address in str(message["To"]):
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found


def has_progress(served: Served, address: str, activity: str) -> bool:
    table, db = served.info["tables"]["GradebookTable"], served.client("dynamodb")
    owner = db.get_item(TableName=table, Key={"pk": {"S": f"M#{address}"}, "sk": {"S": "#"}}).get("Item")
    if owner is None:
        return False
    key = {"pk": {"S": f"U#{owner['learner_id']['S']}"}, "sk": {"S": f"P#{activity}"}}
    return "Item" in db.get_item(TableName=table, Key=key)


def cell_statuses(served: Served, course: str) -> list[str]:
    found = served.client("dynamodb").query(
        TableName=served.info["tables"]["GradebookTable"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :x)",
        ExpressionAttributeValues={":pk": {"S": f"C#{course}"}, ":x": {"S": "X#"}},
        ConsistentRead=True,
    )
    return [item.get("status", {}).get("S", "") for item in found["Items"]]


def test_rule12_work_by_email_then_a_launch_with_that_email_merges_once_confirmed_and_grades_reach_the_lms(
    served: Served,
) -> None:
    address = f"mia-{RUN}@example.edu"
    activity = f"merge-quiz-{RUN}"
    context = f"merge-course-{RUN}"
    with LmsEmulator(mode="canvas") as lms:
        client_id = register(served, lms)
        lms.add_course(context, "Chemistry 201")
        lms.add_user("teacher", name="Tess Teacher", email=f"tess-{RUN}@example.edu", roles=["instructor"])
        lms.add_user("mia", name="Mia Student", email=address)
        lms.enroll(context, "teacher", "instructor")
        lms.enroll(context, "mia", "student")
        lms.add_link(context, "quiz-link", title="Quiz", custom={"activity_id": activity})
        earlier = (datetime.now(UTC) - timedelta(days=2)).isoformat()
        lines = [
            {
                "type": "activity",
                "message_id": f"a-{RUN}",
                "activity_id": activity,
                "title": "Quiz",
                "min_questions": 2,
            },
            {
                "type": "score",
                "message_id": f"s-{RUN}",
                "learner": {"email": address},
                "activity_id": activity,
                "answered": 3,
                "score": 85.0,
                "occurred_at": earlier,
            },
        ]
        served.cli("scores", "send", "-", stdin="\n".join(json.dumps(line) for line in lines) + "\n")
        teacher = lms.lti13_launch(requests.Session(), client_id, "teacher", context, "quiz-link")
        found = re.search(r"/gradebook/([^?]+)\?t=([^&]+)", teacher.headers["Location"])
        assert found
        course = found.group(1)
        browser = requests.Session()  # the one-time URL sets the session cookie, reloads use it
        assert browser.get(teacher.headers["Location"], timeout=60).status_code == 200

        def gradebook() -> str:
            return browser.get(f"{served.base_url}/gradebook/{course}", timeout=60).text

        # The product work must be applied before the launch, or there is nothing to merge.
        wait_for(lambda: has_progress(served, address, activity), what="the product work")
        mail_dir = Path(served.info["mail_dir"])
        wait_for(
            lambda: (
                lms.lti13_launch(requests.Session(), client_id, "mia", context, "quiz-link").status_code < 400
                and mails_to(mail_dir, address)
            ),
            what="the merge mail",
        )
        mails = mails_to(mail_dir, address)
        assert len(mails) == 1
        assert mails[0]["Subject"] == "Confirm your request to merge accounts"
        body = mails[0].get_body(preferencelist=("plain",))
        assert body is not None
        link = re.search(r"(http://\S+/merge/confirm\?token=\S+)", body.get_content())
        assert link, body.get_content()
        wait_for(lambda: cell_statuses(served, course) == ["merge pending"], what="the merge pending mark")
        assert "merge pending" in gradebook()
        assert lms.gradebook().get(context, {}).get("mia", {}).get("quiz-link") is None

        page = requests.get(link.group(1), timeout=60)
        assert page.status_code == 200
        token = link.group(1).split("token=", 1)[1]
        confirmed = requests.post(f"{served.base_url}/merge/confirm", data={"token": token}, timeout=60)
        assert confirmed.status_code == 200, confirmed.text[:500]

        wait_for(lambda: lms.gradebook().get(context, {}).get("mia", {}).get("quiz-link") == 85.0, what="the grade")
        assert cell_statuses(served, course) == ["synced"]
        replay = requests.post(f"{served.base_url}/merge/confirm", data={"token": token}, timeout=60)
        assert replay.status_code == 409
        listed = served.cli("merges", "list").stdout
        assert "confirmed" in listed
        assert address not in listed
