"""Release and deadlines against a real `passback serve`, driven with the `passback` verbs an operator uses.

The LMS emulator runs in this process; every accepted AGS score POST is in its log, so "arrives
once" is counted, not inferred. `serve` runs here without its schedule: sweeps happen only when
a test runs `passback sweep`. Every id carries a random suffix (the served stack is shared).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from conftest import Served, clean_env, wait_for
from passback.emulator import LmsEmulator
from passback.ids import course_id, platform_key_lti13

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]


@dataclass
class Lms:
    served: Served
    lms: LmsEmulator
    client_id: str

    def launch(self, context: str, user: str, link: str) -> requests.Response:
        return self.lms.lti13_launch(requests.Session(), self.client_id, user, context, link)

    def course_id(self, context: str) -> str:
        return course_id(platform_key_lti13(self.lms.issuer), context)

    def posts(self, context: str) -> Counter[tuple[str, str | None, float | None]]:
        return Counter(
            (s["user_id"], s["resource_link_id"], s["score_given"])
            for s in self.lms.score_history()
            if s["context_id"] == context
        )


@pytest.fixture(scope="module")
def lms(served: Served) -> Iterator[Lms]:
    with LmsEmulator(mode="canvas") as emulator:
        client_id = f"passback-{RUN}"
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
            "--name", "Release LMS",
        )  # fmt: skip
        yield Lms(served, emulator, client_id)


def course(lms: Lms, context: str, students: tuple[str, ...], links: dict[str, str]) -> str:
    """An LMS course with its links (resource link id -> activity id), opened once by its instructor."""
    emulator = lms.lms
    emulator.add_course(context, f"Course {context}")
    emulator.add_user(f"teacher-{context}", name="Tess Teacher", email=f"t-{context}@example.edu", roles=["instructor"])
    emulator.enroll(context, f"teacher-{context}", "instructor")
    for user in students:
        emulator.add_user(user, name=f"{user.title()} Student", email=f"{user}-{context}@example.edu")
        emulator.enroll(context, user, "student")
    for link, activity in links.items():
        emulator.add_link(context, link, title=f"Activity {activity}", custom={"activity_id": activity})
        response = lms.launch(context, f"teacher-{context}", link)
        assert response.status_code == 303, response.text[:500]
    return lms.course_id(context)


def put_activity(served: Served, activity: str) -> None:
    served.cli("activities", "put", "--id", activity, "--title", f"Quiz {activity}", "--min-questions", "1")


def send_scores(served: Served, lms: Lms, scores: dict[str, float], activity: str) -> None:
    messages = [
        {
            "type": "score",
            "message_id": uuid.uuid4().hex,
            "learner": {"issuer": lms.lms.issuer, "user_id": user},
            "activity_id": activity,
            "answered": 2,
            "score": value,
            "occurred_at": datetime.now(UTC).isoformat(),
        }
        for user, value in scores.items()
    ]
    served.cli("scores", "send", "-", stdin="".join(json.dumps(m) + "\n" for m in messages))


def cells(served: Served, cid: str) -> list[dict[str, Any]]:
    found = served.client("dynamodb").query(
        TableName=served.info["tables"]["GradebookTable"],
        KeyConditionExpression="pk = :pk AND begins_with(sk, :x)",
        ExpressionAttributeValues={":pk": {"S": f"C#{cid}"}, ":x": {"S": "X#"}},
        ConsistentRead=True,
    )
    return list(found["Items"])


def queues_idle(served: Served) -> bool:
    """Nothing waiting and nothing being worked on, in both work queues."""
    sqs = served.client("sqs")
    for name in ("ScoreQueue", "ReleaseQueue"):
        attributes = sqs.get_queue_attributes(
            QueueUrl=served.info["queues"][name],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if (
            attributes["ApproximateNumberOfMessages"] != "0"
            or attributes["ApproximateNumberOfMessagesNotVisible"] != "0"
        ):
            return False
    return True


def jobs_done(served: Served) -> int:
    """Course-job chunks the release function has completed (its idempotency records)."""
    found = served.client("dynamodb").query(
        TableName=served.info["tables"]["StateTable"],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "IDEMPOTENCY#course-jobs"}},
        ConsistentRead=True,
    )
    return sum(1 for item in found["Items"] if item.get("status", {}).get("S") == "COMPLETED")


def test_rule8_manual_policy_nothing_before_release_then_each_grade_once_and_a_second_release_sends_nothing(
    served: Served, lms: Lms
) -> None:
    context, activity, students = f"rel-{RUN}", f"quiz-rel-{RUN}", ("ana", "ben", "cy")
    put_activity(served, activity)
    cid = course(lms, context, students, {"quiz-link": activity})
    served.cli("policy", "set", "--course", cid, "--policy", "manual")
    for user in students:
        assert lms.launch(context, user, "quiz-link").status_code == 200
    send_scores(served, lms, {"ana": 71.0, "ben": 82.0, "cy": 93.0}, activity)
    wait_for(
        lambda: [c["status"]["S"] for c in cells(served, cid)] == ["not released"] * 3,
        what="three 'not released' cells",
    )
    wait_for(lambda: queues_idle(served), what="the queues to settle")
    assert lms.posts(context) == Counter()

    printed = served.cli("release", "--course", cid, "--activity", activity).stdout
    assert "release queued" in printed
    owed = {("ana", "quiz-link", 71.0): 1, ("ben", "quiz-link", 82.0): 1, ("cy", "quiz-link", 93.0): 1}
    wait_for(lambda: set(lms.posts(context)) == set(owed), what="every released grade in the LMS")
    wait_for(lambda: queues_idle(served), what="the release to finish")
    assert lms.posts(context) == Counter(owed)

    done = jobs_done(served)
    served.cli("release", "--course", cid, "--activity", activity)
    wait_for(lambda: jobs_done(served) > done and queues_idle(served), what="the second release to finish")
    assert lms.posts(context) == Counter(owed)


def test_rule7_a_past_deadline_gives_one_zero_to_each_learner_without_a_grade_even_with_two_sweeps_at_once(
    served: Served, lms: Lms
) -> None:
    context, quiz, other = f"gau-{RUN}", f"quiz-gau-{RUN}", f"reading-gau-{RUN}"
    put_activity(served, quiz)
    put_activity(served, other)
    cid = course(lms, context, ("dee", "eve", "fay"), {"quiz-link": quiz, "reading-link": other})
    assert lms.launch(context, "dee", "quiz-link").status_code == 200
    assert lms.launch(context, "eve", "quiz-link").status_code == 200
    # Fay never opens the quiz's link; in LTI 1.3 its line item takes her zero all the same (rule 13).
    assert lms.launch(context, "fay", "reading-link").status_code == 200
    send_scores(served, lms, {"dee": 80.0}, quiz)  # immediate policy, the default: it goes now
    wait_for(lambda: lms.posts(context), what="Dee's grade in the LMS")

    # Just past, and after Dee's work: a deadline before it would cut her 80 too (issue 18, case 2).
    past = datetime.now(UTC).isoformat()
    served.cli("gau", "set", "--course", cid, "--activity", quiz, "--at", past, "--yes")
    command = [sys.executable, "-m", "passback.cli", "--state-file", str(served.state_file), "sweep"]
    sweeps = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
        for _ in range(2)
    ]
    reports = [json.loads(s.communicate(timeout=120)[0].strip().splitlines()[-1]) for s in sweeps]
    assert all(s.returncode == 0 for s in sweeps)
    assert sum(r["deadlines"] for r in reports) >= 1

    owed = {("dee", "quiz-link", 80.0): 1, ("eve", "quiz-link", 0.0): 1, ("fay", "quiz-link", 0.0): 1}
    wait_for(lambda: set(lms.posts(context)) == set(owed), timeout=40, what="the zeros in the LMS")
    wait_for(lambda: queues_idle(served), what="the deadline jobs to finish")
    assert lms.posts(context) == Counter(owed)

    # Work after the deadline changes nothing; moving the passed deadline is refused in words.
    send_scores(served, lms, {"eve": 95.0, "dee": 99.0}, quiz)
    wait_for(lambda: queues_idle(served), what="the late scores to be applied")
    assert lms.posts(context) == Counter(owed)
    refused = served.cli("gau", "set", "--course", cid, "--activity", quiz, "--clear", check=False)
    assert refused.returncode != 0
    assert re.search(r"cannot be moved or removed", refused.stderr + refused.stdout)
