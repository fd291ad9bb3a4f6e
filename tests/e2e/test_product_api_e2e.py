"""Issue 21's acceptance against a real `passback serve`: products, the HTTPS score API, statuses, scope,
revocation and rotation, with the client library and the LMS emulator."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from passback_client import PassbackClient, Refused

from conftest import Served, wait_for
from passback.emulator import LmsEmulator

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]


def add_product(served: Served, name: str, issuer: str, key_file: Path) -> PassbackClient:
    made = json.loads(served.cli("products", "add", name, "--issuer", issuer, "--key-out", str(key_file)).stdout)
    assert made["token_url"] == f"{served.base_url}/api/v1/token"
    return PassbackClient(served.base_url, made["product_id"], made["kid"], key_file.read_text())


def score(learner: dict[str, str], activity: str, answered: int, percent: float) -> dict[str, Any]:
    return {
        "type": "score",
        "message_id": uuid.uuid4().hex,
        "learner": learner,
        "activity_id": activity,
        "answered": answered,
        "score": percent,
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def raw_post(client: PassbackClient, messages: list[Any], token: str | None = None) -> requests.Response:
    return requests.post(
        f"{client.base_url}/api/v1/messages",
        json={"messages": messages},
        headers={"Authorization": f"Bearer {token or client.token()}"},
        timeout=60,
    )


def test_products_post_through_the_api_and_grades_reach_the_lms_with_scope_revocation_and_rotation(
    served: Served, tmp_path: Path
) -> None:
    activity, context = f"api-quiz-{RUN}", f"api-course-{RUN}"
    with LmsEmulator(mode="canvas") as lms:
        client_id = f"api-{RUN}"
        config = lms.register_tool(
            client_id,
            login_url=f"{served.base_url}/lti13/login",
            launch_url=f"{served.base_url}/lti13/launch",
            jwks_url=f"{served.base_url}/.well-known/jwks.json",
            deployment_ids=["deployment-1"],
        )
        served.cli(
            "platforms", "add", "--issuer", config["issuer"], "--client-id", client_id,
            "--deployment-id", "deployment-1", "--login-url", config["login_url"],
            "--token-url", config["token_url"], "--jwks-url", config["jwks_url"],
        )  # fmt: skip
        quiz = add_product(served, f"quiz-{RUN}", lms.issuer, tmp_path / "quiz.pem")
        reading = add_product(served, f"reading-{RUN}", lms.issuer, tmp_path / "reading.pem")
        quiz.send([quiz.activity(activity, "API quiz", min_questions=2, product_url="https://quiz.example.com/p")])

        lms.add_course(context, "Physics 101")
        lms.add_user("teacher", name="Tess Teacher", email=f"tess-{RUN}@example.edu", roles=["instructor"])
        lms.enroll(context, "teacher", "instructor")
        for user in ("ann", "bob"):
            lms.add_user(user, name=f"{user.title()} Student", email=f"{user}-{RUN}@example.edu")
            lms.enroll(context, user, "student")
        lms.add_link(context, "quiz-link", title="API quiz", custom={"activity_id": activity})
        wait_for(
            lambda: lms.lti13_launch(requests.Session(), client_id, "teacher", context, "quiz-link").status_code == 303,
            what="the activity in the catalog",
        )
        handoff = lms.lti13_launch(requests.Session(), client_id, "ann", context, "quiz-link")
        assert handoff.status_code == 302
        token = handoff.headers["Location"].split("passback_token=", 1)[1]
        import jwt

        ann = jwt.decode(token, options={"verify_signature": False})["sub"]

        # A batch of good and bad messages: 400 naming each bad one, nothing accepted; then the good ones: 202.
        good = [
            score({"learner_id": ann}, activity, 3, 88.0),
            score({"issuer": lms.issuer, "user_id": "bob"}, activity, 2, 64.0),
        ]
        bad = [
            score({"learner_id": ann}, activity, 3, 188.0),
            {**score({"learner_id": ann}, activity, 1, 5.0), "when": 1},
        ]
        refused = raw_post(quiz, good + bad)
        assert refused.status_code == 400, refused.text
        assert {(p["index"], p["field"]) for p in refused.json()["problems"]} == {(2, "score"), (3, "when")}
        assert quiz.status(good[0]["message_id"]) is None
        assert quiz.send(good) == [m["message_id"] for m in good]

        def statuses(client: PassbackClient, messages: list[dict[str, Any]]) -> set[str]:
            return {(client.status(m["message_id"]) or {}).get("status", "?") for m in messages}

        wait_for(lambda: statuses(quiz, good) == {"applied"}, what="both messages applied")
        bob_launch = lms.lti13_launch(requests.Session(), client_id, "bob", context, "quiz-link")
        assert bob_launch.status_code == 302
        wait_for(lambda: lms.gradebook().get(context, {}).get("ann", {}).get("quiz-link") == 88.0, what="ann's grade")
        wait_for(lambda: lms.gradebook().get(context, {}).get("bob", {}).get("quiz-link") == 64.0, what="bob's grade")

        # The second product: not the first one's activity (403), nor its statuses.
        with pytest.raises(Refused) as forbidden:
            reading.send([score({"issuer": lms.issuer, "user_id": "ann"}, activity, 5, 1.0)])
        assert forbidden.value.status == 403
        assert reading.status(good[0]["message_id"]) is None

        # Rotation: two live credentials, the product switches, the old one is retired; nothing is lost.
        rotated = json.loads(
            served.cli("products", "rotate", quiz.product_id, "--key-out", str(tmp_path / "quiz-2.pem")).stdout
        )
        quiz2 = PassbackClient(served.base_url, quiz.product_id, rotated["kid"], (tmp_path / "quiz-2.pem").read_text())
        old_token = quiz.token()
        during = [score({"learner_id": ann}, activity, 4, 90.0 + i) for i in range(4)]
        assert quiz.send(during[:2]) + quiz2.send(during[2:]) == [m["message_id"] for m in during]
        served.cli("products", "rotate", quiz.product_id, f"--retire={quiz.kid}")  # a kid may start with "-"
        # A revoked credential stops working at once, even with a token issued before.
        late = raw_post(quiz, [score({"learner_id": ann}, activity, 5, 99.0)], token=old_token)
        assert late.status_code == 401
        after = [score({"learner_id": ann}, activity, 6, 95.0)]
        assert quiz2.send(after) == [after[0]["message_id"]]
        wait_for(lambda: statuses(quiz2, during + after) <= {"applied", "unchanged"}, what="every message applied")
        assert "accepted" not in statuses(quiz2, during + after)
        wait_for(
            lambda: lms.gradebook().get(context, {}).get("ann", {}).get("quiz-link") == 95.0, what="the last grade"
        )
        listed = served.cli("products", "list").stdout
        assert rotated["kid"] in listed
        assert quiz.kid not in listed
