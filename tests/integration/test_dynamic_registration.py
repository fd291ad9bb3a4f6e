"""LTI Dynamic Registration against the LMS emulator acting as a platform with a registration endpoint.

The emulator plays the LMS's side: it opens Passback's registration URL with `openid_configuration`
and a `registration_token`, serves its OpenID configuration, and takes the client registration at its
registration endpoint. Nothing is registered by hand: a launch right after must simply work.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from passback import container
from passback.cli import main as cli_main
from passback.emulator.browser import parse_page
from passback.lti.descriptions import SCOPES, TOOL_CONFIGURATION_CLAIM
from stack_harness import Stack


def invite(clock: Any, hours: float = 24) -> str:
    return container.registrations().invite(clock.now, name="test LMS", valid_for=timedelta(hours=hours))


def open_registration(stack: Stack, lms: Any, token: str | None, update_client_id: str | None = None) -> Any:
    """What the LMS does with the pasted URL: open it in its registration window."""
    url = f"{stack.base_url}/lti13/register" + (f"?invite={token}" if token else "")
    return requests.get(lms.registration_url(url, update_client_id=update_client_id), timeout=60)


def confirm(page: requests.Response) -> requests.Response:
    """The admin presses "Register Passback" on the page the tool showed."""
    assert page.status_code == 200, page.text[:800]
    form = parse_page(page.text).forms[0]
    assert form.method == "POST"
    return requests.post(form.action, data=dict(form.fields), timeout=60)


def registrations_of(issuer: str) -> list[Any]:
    return container.platforms().for_issuer(issuer)


def setup_course(lms: Any) -> None:
    lms.add_course("bio-101", "Biology 101")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll("bio-101", "teacher", "instructor")
    lms.enroll("bio-101", "sam", "student")
    lms.add_link("bio-101", "quiz-link", title="Quiz 1", custom={"activity_id": "quiz-1"})


def test_one_url_registers_passback_and_a_launch_then_works_with_no_other_step(
    stack: Stack, lms: Any, clock: Any
) -> None:
    done = confirm(open_registration(stack, lms, invite(clock)))
    assert done.status_code == 200, done.text[:800]
    assert "org.imsglobal.lti.close" in done.text  # the spec's postMessage: the LMS closes its window
    [platform] = registrations_of(lms.issuer)
    assert platform.registered_by == "dynamic"
    assert (platform.login_url, platform.token_url, platform.jwks_url) == (lms.auth_url, lms.token_url, lms.jwks_url)
    deployments = container.platforms().deployments(lms.issuer, platform.client_id)
    assert deployments == [f"dep-{platform.client_id}"]

    [sent] = lms.registration_requests()
    assert sent["initiate_login_uri"] == f"{stack.base_url}/lti13/login"
    assert sent["redirect_uris"] == [f"{stack.base_url}/lti13/launch"]
    assert sent["jwks_uri"] == f"{stack.base_url}/.well-known/jwks.json"
    assert sent["scope"].split() == list(SCOPES)
    messages = {m["type"]: m for m in sent[TOOL_CONFIGURATION_CLAIM]["messages"]}
    assert messages["LtiResourceLinkRequest"]["placements"] == ["course_navigation"]
    assert "ContentArea" in messages["LtiDeepLinkingRequest"]["placements"]  # Moodle's picker placement
    assert sent["client_name"] == "Passback"
    assert sent["logo_uri"] == f"{stack.base_url}/lti13/config/logo.svg"

    setup_course(lms)
    teacher = lms.lti13_launch(requests.Session(), platform.client_id, "teacher", "bio-101", "quiz-link", timeout=60)
    assert teacher.status_code == 303, teacher.text[:800]
    assert "/gradebook/" in teacher.headers["Location"]
    student = lms.lti13_launch(requests.Session(), platform.client_id, "sam", "bio-101", "quiz-link", timeout=60)
    assert student.status_code == 200, student.text[:800]


def test_an_unknown_invite_is_refused_and_nothing_is_registered(stack: Stack, lms: Any, clock: Any) -> None:
    page = open_registration(stack, lms, "not-an-invite-anyone-issued")
    assert page.status_code == 403
    assert "invite" in page.text
    assert "passback platforms invite" in page.text
    assert lms.registration_requests() == []
    assert registrations_of(lms.issuer) == []


def test_an_expired_invite_is_refused(stack: Stack, lms: Any, clock: Any) -> None:
    token = invite(clock, hours=24)
    clock.advance(hours=24, seconds=1)
    page = open_registration(stack, lms, token)
    assert page.status_code == 403
    assert "expired" in page.text
    assert registrations_of(lms.issuer) == []


def test_an_invite_works_once(stack: Stack, lms: Any, clock: Any) -> None:
    token = invite(clock)
    first = open_registration(stack, lms, token)
    assert confirm(first).status_code == 200
    again = open_registration(stack, lms, token)
    assert again.status_code == 403
    assert "already used" in again.text
    # Replaying the confirmation form of the first window registers nothing either.
    form = parse_page(first.text).forms[0]
    replay = requests.post(form.action, data=dict(form.fields), timeout=60)
    assert replay.status_code == 403
    assert len(lms.registration_requests()) == 1


def test_no_invite_is_refused_unless_the_deployment_opens_registration(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert open_registration(stack, lms, None).status_code == 403
    monkeypatch.setenv("PASSBACK_OPEN_REGISTRATION", "true")
    container.reset()
    done = confirm(open_registration(stack, lms, None))
    assert done.status_code == 200, done.text[:800]
    assert len(registrations_of(lms.issuer)) == 1


def test_an_openid_configuration_whose_issuer_does_not_match_its_url_is_refused(
    stack: Stack, lms: Any, clock: Any
) -> None:
    token = invite(clock)
    lms.registration_knobs(issuer_override="https://lms.attacker.example")
    page = open_registration(stack, lms, token)
    assert page.status_code == 403
    assert "issuer" in page.text
    assert "lms.attacker.example" in page.text
    assert lms.registration_requests() == []
    assert registrations_of("https://lms.attacker.example") == []
    # The refusal happened before the invite was claimed: the admin fixes the LMS and uses it again.
    lms.registration_knobs()
    assert confirm(open_registration(stack, lms, token)).status_code == 200


def test_a_registration_endpoint_off_the_issuers_host_is_refused(stack: Stack, lms: Any, clock: Any) -> None:
    lms.registration_knobs(registration_host="http://localhost:9")
    page = open_registration(stack, lms, invite(clock))
    assert page.status_code == 403
    assert "registration endpoint" in page.text
    assert registrations_of(lms.issuer) == []


def test_a_second_registration_of_the_same_issuer_updates_it_and_never_duplicates(
    stack: Stack, lms: Any, clock: Any
) -> None:
    assert confirm(open_registration(stack, lms, invite(clock))).status_code == 200
    [first] = registrations_of(lms.issuer)
    clock.advance(minutes=5)
    again = confirm(open_registration(stack, lms, invite(clock), update_client_id=first.client_id))
    assert again.status_code == 200, again.text[:800]
    assert "is updated" in again.text
    [updated] = registrations_of(lms.issuer)
    assert updated.client_id == first.client_id
    assert updated.platform_id == first.platform_id
    assert updated.created_at == first.created_at
    assert updated.updated_at is not None
    assert updated.updated_at > first.created_at
    assert container.platforms().deployments(lms.issuer, first.client_id) == [f"dep-{first.client_id}"]
    setup_course(lms)
    launched = lms.lti13_launch(requests.Session(), first.client_id, "teacher", "bio-101", "quiz-link", timeout=60)
    assert launched.status_code == 303


def test_a_platform_error_gives_the_invite_back(stack: Stack, lms: Any, clock: Any) -> None:
    token = invite(clock)
    page = open_registration(stack, lms, token)
    form = parse_page(page.text).forms[0]
    fields = dict(form.fields)
    fields["registration_token"] = "a-token-the-lms-never-issued"
    refused = requests.post(form.action, data=fields, timeout=60)
    assert refused.status_code == 502
    assert "HTTP 401" in refused.text
    assert registrations_of(lms.issuer) == []
    assert confirm(open_registration(stack, lms, token)).status_code == 200


def test_a_deployment_made_after_registration_is_added_by_the_operator(
    stack: Stack, lms: Any, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Brightspace creates deployments after registration: `platforms add-deployment` adds one."""
    assert confirm(open_registration(stack, lms, invite(clock))).status_code == 200
    [platform] = registrations_of(lms.issuer)
    setup_course(lms)
    refused = lms.lti13_launch(
        requests.Session(),
        platform.client_id,
        "teacher",
        "bio-101",
        "quiz-link",
        deployment_id="org-unit-7",
        timeout=60,
    )
    assert refused.status_code == 403
    assert "deployment" in refused.text
    args = ["platforms", "add-deployment", "--issuer", lms.issuer, "--client-id", platform.client_id]
    assert cli_main([*args, "--deployment-id", "org-unit-7"]) == 0
    assert "Deployment org-unit-7 added" in capsys.readouterr().out
    launched = lms.lti13_launch(
        requests.Session(),
        platform.client_id,
        "teacher",
        "bio-101",
        "quiz-link",
        deployment_id="org-unit-7",
        timeout=60,
    )
    assert launched.status_code == 303, launched.text[:800]
    assert cli_main(["platforms", "add-deployment", "--issuer", lms.issuer, "--client-id", "nobody",
                     "--deployment-id", "x"]) == 2  # fmt: skip
    assert "no registration" in capsys.readouterr().err
