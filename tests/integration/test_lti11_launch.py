"""LTI 1.1 launches, signed by the LMS emulator with oauthlib's own client: accepted and refused.

A refused launch gets its exact 4xx and a page naming the check. Launches changed on purpose are
signed again with oauthlib's client, exactly as the emulator signs, so each refusal below is
caused by the one thing changed (`test_a_launch_signed_again_by_the_helper_is_accepted`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY, Client

from passback import container
from passback.emulator import LmsEmulator
from passback.ids import course_id, platform_key_lti11
from stack_harness import CONSUMER_KEY, CONSUMER_SECRET, Stack, activity, running_stack, score

LMS_ONLY_KEY = "key-the-lms-has-but-passback-does-not"
MISMATCHED_KEY = "key-with-two-secrets"


@dataclass
class Lti11Platform:
    stack: Stack
    lms: Any

    @property
    def launch_url(self) -> str:
        return f"{self.stack.base_url}/lti11/launch"

    def params(self, user: str = "sam", link: str = "quiz-link", key: str = CONSUMER_KEY, **kw: Any) -> dict[str, str]:
        return dict(self.lms.lti11_launch_params(key, kw.pop("url", self.launch_url), user, "hist-1", link, **kw))

    def post(self, params: dict[str, str], url: str | None = None) -> requests.Response:
        return requests.post(url or self.launch_url, data=params, allow_redirects=False, timeout=60)


def signed_again(params: dict[str, str], url: str, secret: str = CONSUMER_SECRET) -> dict[str, str]:
    """The form without its OAuth signature, signed again by oauthlib's client as the LMS would."""
    plain = {k: v for k, v in params.items() if not k.startswith("oauth_")}
    client = Client(
        params.get("oauth_consumer_key", CONSUMER_KEY),
        client_secret=secret,
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_BODY,
    )
    _, _, body = client.sign(
        url, http_method="POST", body=plain, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    return dict(parse_qsl(str(body), keep_blank_values=True))


@pytest.fixture(scope="module")
def platform() -> Iterator[Lti11Platform]:
    """One stack and one LMS for the module (the `stack` and `lms` fixtures, made once; every test
    signs its own launch with a fresh nonce, so they share nothing but the registrations)."""
    with pytest.MonkeyPatch.context() as env, LmsEmulator(mode="canvas") as lms, running_stack(env) as stack:
        yield _registered(stack, lms)


def _registered(stack: Stack, lms: Any) -> Lti11Platform:
    stack.register_lti11(lms)
    tool = {
        "login_url": "http://127.0.0.1:9/x",
        "launch_url": "http://127.0.0.1:9/x",
        "jwks_url": "http://127.0.0.1:9/x",
    }
    lms.register_tool("lms-only", **tool, deployment_ids=["x"], lti11_consumer_key=LMS_ONLY_KEY, lti11_secret="s1")
    lms.register_tool(
        "mismatch", **tool, deployment_ids=["x"], lti11_consumer_key=MISMATCHED_KEY, lti11_secret="the-lms-secret"
    )
    container.consumers().add(consumer_key=MISMATCHED_KEY, secret="passbacks-secret", name=None, now=datetime.now(UTC))
    lms.add_course("hist-1", "History 1")
    lms.add_user("teacher", name="Tom Teacher", email="tom@example.edu", roles=["instructor"])
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll("hist-1", "teacher", "instructor")
    lms.enroll("hist-1", "sam", "student")
    lms.add_user("nia", name="Nia New", email="nia@example.edu")
    lms.enroll("hist-1", "nia", "student")
    lms.add_link("hist-1", "quiz-link", title="Quiz 1", custom={"activity_id": "quiz-1"})
    lms.add_link("hist-1", "home-link", title="History home")
    return Lti11Platform(stack, lms)


def assert_refused(response: requests.Response, status: int, check: str) -> None:
    assert response.status_code == status, f"HTTP {response.status_code}: {response.text[:600]}"
    assert "This launch was refused" in response.text
    assert f"<strong>{escape(check)}</strong>" in response.text, response.text[:600]


def entered(response: requests.Response) -> bool:
    return response.status_code == 200 and "You&#x27;re in" in response.text


# ---------------------------------------------------------------- accepted


def test_an_instructor_launch_creates_the_course_and_opens_its_gradebook(platform: Lti11Platform) -> None:
    response = platform.post(platform.params("teacher", roles="Instructor"))
    assert response.status_code == 303
    cid = course_id(platform_key_lti11(CONSUMER_KEY), "hist-1")
    assert f"/gradebook/{cid}?t=" in response.headers["Location"]
    course = container.courses().get(cid)
    assert course is not None
    assert course.title == "History 1"
    assert course.lti_version == "1.1"


def test_a_student_launch_enrolls_the_student_and_records_their_sourcedid(platform: Lti11Platform) -> None:
    params = platform.params("sam")
    assert entered(platform.post(params))
    cid = course_id(platform_key_lti11(CONSUMER_KEY), "hist-1")
    learner = container.learners().by_identity(platform_id_of(CONSUMER_KEY), "sam")
    assert learner is not None
    enrollment = container.enrollments().get(cid, learner)
    assert enrollment is not None
    assert enrollment.role == "learner"
    course = container.courses().get(cid)
    assert course is not None
    link = next(link for link in course.links.values() if link.resource_link_id == "quiz-link")
    cell = container.cells().get(cid, learner, link.link_id)
    assert cell is not None
    assert cell.sourcedid == params["lis_result_sourcedid"]
    assert cell.outcome_service_url == platform.lms.outcomes_url


def platform_id_of(key: str) -> str:
    from passback.ids import platform_id

    return platform_id(platform_key_lti11(key))


def test_a_launch_signed_again_by_the_helper_is_accepted(platform: Lti11Platform) -> None:
    assert entered(platform.post(signed_again(platform.params(), platform.launch_url)))


def test_a_launch_url_with_a_query_verifies_and_names_the_activity(platform: Lti11Platform) -> None:
    # Some LMSs (Canvas) configure a per-link URL; its query is part of what the LMS signed.
    url = f"{platform.launch_url}?activity_id=essay-7"
    response = platform.post(platform.params("sam", link="home-link", url=url), url=url)
    assert entered(response), response.text[:600]
    course = container.courses().get(course_id(platform_key_lti11(CONSUMER_KEY), "hist-1"))
    assert course is not None
    assert "essay-7" in course.activities


# ---------------------------------------------------------------- refused


def test_a_launch_changed_after_signing_is_refused_as_a_bad_signature(platform: Lti11Platform) -> None:
    params = platform.params("sam")
    params["roles"] = "Instructor"  # a student promoting themselves
    assert_refused(platform.post(params), 401, "signature")


def test_a_launch_signed_with_another_secret_is_refused(platform: Lti11Platform) -> None:
    assert_refused(platform.post(platform.params(key=MISMATCHED_KEY)), 401, "signature")


def test_an_unknown_consumer_key_is_refused(platform: Lti11Platform) -> None:
    assert_refused(platform.post(platform.params(key=LMS_ONLY_KEY)), 403, "consumer key")


def test_an_overlong_consumer_key_is_refused_never_a_500(platform: Lti11Platform) -> None:
    params = platform.params()
    params["oauth_consumer_key"] = "k" * 5000
    assert_refused(platform.post(params), 403, "consumer key")


@pytest.mark.parametrize("name", ["user_id", "context_id", "resource_link_id"])
def test_an_overlong_id_is_refused_never_a_500(platform: Lti11Platform, name: str) -> None:
    params = signed_again({**platform.params(), name: "x" * 3000}, platform.launch_url)
    assert_refused(platform.post(params), 400, "parameter format")


def test_an_overlong_activity_id_is_refused_never_a_500(platform: Lti11Platform) -> None:
    params = signed_again({**platform.params(), "custom_activity_id": "a" * 3000}, platform.launch_url)
    assert_refused(platform.post(params), 400, "activity id")


def test_an_email_that_cannot_be_one_is_ignored_not_a_500(platform: Lti11Platform) -> None:
    email = "e" * 3000 + "@example.edu"
    params = signed_again({**platform.params("nia"), "lis_person_contact_email_primary": email}, platform.launch_url)
    assert entered(platform.post(params))


def test_a_launch_signed_more_than_five_minutes_ago_is_refused(platform: Lti11Platform, clock: Any) -> None:
    params = platform.params()
    clock.advance(minutes=6)
    assert_refused(platform.post(params), 401, "timestamp")


def test_a_replayed_launch_is_refused_by_its_nonce(platform: Lti11Platform) -> None:
    params = platform.params()
    assert entered(platform.post(params))
    assert_refused(platform.post(params), 403, "nonce")


def test_a_forged_launch_does_not_burn_the_nonce_of_the_real_one(platform: Lti11Platform) -> None:
    real = platform.params()
    forged = {**real, "user_id": "teacher"}
    assert_refused(platform.post(forged), 401, "signature")
    assert entered(platform.post(real))


@pytest.mark.parametrize(
    "missing", ["resource_link_id", "user_id", "context_id", "lti_version", "oauth_nonce", "oauth_signature"]
)
def test_a_launch_missing_a_required_parameter_is_refused_naming_it(platform: Lti11Platform, missing: str) -> None:
    params = platform.params()
    if missing.startswith("oauth_"):
        del params[missing]
    else:
        params = signed_again({k: v for k, v in params.items() if k != missing}, platform.launch_url)
    response = platform.post(params)
    assert_refused(response, 400, "required parameters")
    assert missing in response.text


def test_a_launch_that_is_not_a_basic_launch_request_is_refused(platform: Lti11Platform) -> None:
    params = signed_again({**platform.params(), "lti_message_type": "ContentItemSelectionRequest"}, platform.launch_url)
    assert_refused(platform.post(params), 400, "message type")


def test_a_launch_of_another_lti_version_is_refused(platform: Lti11Platform) -> None:
    params = signed_again({**platform.params(), "lti_version": "LTI-2p0"}, platform.launch_url)
    assert_refused(platform.post(params), 400, "version")


def test_a_launch_signed_with_plaintext_is_refused(platform: Lti11Platform) -> None:
    params = platform.params()
    params["oauth_signature_method"] = "PLAINTEXT"
    params["oauth_signature"] = f"{CONSUMER_SECRET}&"
    params["oauth_nonce"] = uuid.uuid4().hex
    assert_refused(platform.post(params), 401, "signature method")


# ---------------------------------------------------------------- the grade, once there is a target


def outcome_scores(lms: Any, context_id: str, user: str) -> dict[str, float]:
    return {
        o["resource_link_id"]: o["score"]
        for o in lms.outcomes()
        if (o["context_id"], o["user_id"]) == (context_id, user)
    }


def test_a_homepage_only_student_gets_no_target_on_the_activity_cell_until_they_launch_it(
    platform: Lti11Platform, clock: Any
) -> None:
    lms, stack = platform.lms, platform.stack
    lms.add_course("hist-2", "History 2")
    lms.add_user("lee", name="Lee Learner", email="lee@example.edu")
    lms.enroll("hist-2", "teacher", "instructor")
    lms.enroll("hist-2", "lee", "student")
    lms.add_link("hist-2", "quiz-2-link", title="Quiz 2", custom={"activity_id": "quiz-2"})
    lms.add_link("hist-2", "home-2-link", title="History 2 home")
    stack.send_messages([activity("quiz-2", "Quiz 2", min_questions=1)])
    stack.drain()
    assert stack.launch11(lms, "teacher", "hist-2", "quiz-2-link", roles="Instructor").status_code == 303
    assert entered(stack.launch11(lms, "lee", "hist-2", "home-2-link"))
    stack.drain()

    stack.send_messages([score({"consumer_key": CONSUMER_KEY, "user_id": "lee"}, "quiz-2", 1, 72.0, clock.now)])
    stack.drain()
    cid = course_id(platform_key_lti11(CONSUMER_KEY), "hist-2")
    learner = container.learners().by_identity(platform_id_of(CONSUMER_KEY), "lee")
    assert learner is not None
    course = container.courses().get(cid)
    assert course is not None
    quiz_link = next(link.link_id for link in course.links.values() if link.resource_link_id == "quiz-2-link")
    cell = container.cells().get(cid, learner, quiz_link)
    assert cell is not None
    assert cell.status == "no target"
    assert outcome_scores(lms, "hist-2", "lee") == {"home-2-link": 0.72}  # the homepage composite went

    assert entered(stack.launch11(lms, "lee", "hist-2", "quiz-2-link"))  # just opening it is enough
    stack.drain()
    assert outcome_scores(lms, "hist-2", "lee") == {"home-2-link": 0.72, "quiz-2-link": 0.72}
    cell = container.cells().get(cid, learner, quiz_link)
    assert cell is not None
    assert cell.status == "synced"
