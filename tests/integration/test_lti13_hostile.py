"""LTI 1.3 launches that must be refused: each gets its exact 4xx and a page naming the check.

Every test runs the real login (through the real gateway and launch function), then answers it
with an id_token of its own making, signed by the LMS emulator as the platform would sign it,
or not. `test_the_hostile_helpers_make_an_acceptable_launch` proves the helpers themselves
produce a launch that is accepted, so each refusal below is caused by the one thing changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import escape
from typing import Any

import pytest
import requests

from passback.emulator import LmsEmulator
from passback.emulator.keys import generate_rsa_key
from stack_harness import CLIENT_ID, Stack, running_stack

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
OTHER_CLIENT = "passback-other-developer-key"


@dataclass
class Login:
    """A login the tool started in one browser: its state, its nonce, and the claims to answer with."""

    session: requests.Session
    state: str
    nonce: str
    launch_url: str
    claims: dict[str, Any] = field(default_factory=dict)

    def post(
        self, token: str, *, state: str | None = None, session: requests.Session | None = None
    ) -> requests.Response:
        form = {"id_token": token, "state": self.state if state is None else state}
        return (session or self.session).post(self.launch_url, data=form, allow_redirects=False, timeout=60)


@dataclass
class Platform:
    stack: Stack
    lms: Any

    def login(self, user: str = "sam", session: requests.Session | None = None) -> Login:
        browser = session or requests.Session()
        state, nonce, launch_url = self.lms.start_login(browser, CLIENT_ID, user, "bio-101", "quiz-link")
        claims = self.lms.base_claims(CLIENT_ID, user, "bio-101", "quiz-link", nonce=nonce)
        return Login(browser, state, nonce, launch_url, claims)

    def sign(self, claims: dict[str, Any], **kwargs: Any) -> str:
        return str(self.lms.sign_id_token(claims, **kwargs))


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    """One stack and one LMS for the module (like the `stack` and `lms` fixtures, made once: every
    test starts its own login, so the tests share nothing but the registration)."""
    with pytest.MonkeyPatch.context() as env, LmsEmulator(mode="canvas") as lms, running_stack(env) as stack:
        yield _platform(stack, lms)


def _platform(stack: Stack, lms: Any) -> Platform:
    stack.register_lti13(lms)
    lms.add_course("bio-101", "Biology 101")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll("bio-101", "teacher", "instructor")
    lms.enroll("bio-101", "sam", "student")
    lms.add_link("bio-101", "quiz-link", title="Quiz 1")
    stack.register_lti13(lms, client_id=OTHER_CLIENT)  # a second developer key of the same LMS
    return Platform(stack, lms)


def assert_refused(response: requests.Response, status: int, check: str) -> None:
    assert response.status_code == status, f"HTTP {response.status_code}: {response.text[:600]}"
    assert "This launch was refused" in response.text
    assert f"<strong>{escape(check)}</strong>" in response.text, response.text[:600]
    assert response.headers["Cache-Control"] == "no-store"


def accepted(response: requests.Response) -> bool:
    # A learner with no product URL configured gets the "You're in" page.
    return response.status_code == 200 and "You&#x27;re in" in response.text


def test_the_hostile_helpers_make_an_acceptable_launch(platform: Platform) -> None:
    login = platform.login()
    response = login.post(platform.sign(login.claims))
    assert accepted(response), response.text[:600]


# ---------------------------------------------------------------- signature and keys


def test_a_token_signed_with_another_key_is_refused_as_a_bad_signature(platform: Platform) -> None:
    login = platform.login()
    forged = platform.sign(login.claims, key=generate_rsa_key())  # the platform's kid, someone else's key
    assert_refused(login.post(forged), 401, "signature")


def test_a_token_naming_a_key_the_platform_does_not_publish_is_refused(platform: Platform) -> None:
    login = platform.login()
    assert_refused(login.post(platform.sign(login.claims, kid="no-such-key")), 401, "signing key")


def test_alg_none_is_refused_before_any_key_lookup(platform: Platform) -> None:
    login = platform.login()
    platform.lms.reset_counters()
    assert_refused(login.post(platform.sign(login.claims, alg="none")), 401, "signature algorithm")
    assert platform.lms.counters.get("jwks", 0) == 0


def test_hs256_keyed_with_the_platform_public_key_is_refused(platform: Platform) -> None:
    login = platform.login()
    confused = platform.sign(login.claims, alg="HS256", key=platform.lms.public_key_pem())
    platform.lms.reset_counters()
    assert_refused(login.post(confused), 401, "signature algorithm")
    assert platform.lms.counters.get("jwks", 0) == 0


def test_an_oversized_token_is_refused_unread(platform: Platform) -> None:
    login = platform.login()
    bloated = platform.sign({**login.claims, "padding": "x" * 80_000})
    assert_refused(login.post(bloated), 413, "token size")


def test_a_token_that_is_not_a_jwt_is_refused(platform: Platform) -> None:
    login = platform.login()
    assert_refused(login.post("not-a-jwt"), 400, "token format")


def test_a_token_whose_payload_is_not_a_json_object_is_refused(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign(login.claims)
    header, _, signature = token.split(".")
    assert_refused(login.post(f"{header}.WzEsMl0.{signature}"), 400, "token format")  # [1,2]


# ---------------------------------------------------------------- who issued it, for whom


def test_a_token_from_an_unregistered_issuer_is_refused(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign({**login.claims, "iss": "https://lms.attacker.example"})
    assert_refused(login.post(token), 403, "issuer")


def test_a_token_for_an_unregistered_client_id_is_refused(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign({**login.claims, "aud": "no-such-client", "azp": "no-such-client"})
    assert_refused(login.post(token), 403, "client id")


def test_a_token_for_another_registered_client_is_refused_in_this_login(platform: Platform) -> None:
    # The same LMS issues tokens to two tools it knows here; one made for the other tool cannot
    # finish a login started for this one, even with the right nonce and a registered deployment.
    login = platform.login()
    token = platform.sign({**login.claims, "aud": OTHER_CLIENT, "azp": OTHER_CLIENT})
    assert_refused(login.post(token), 403, "audience")


def test_an_azp_that_is_not_among_the_audiences_is_refused(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign({**login.claims, "aud": CLIENT_ID, "azp": "someone-else"})
    assert_refused(login.post(token), 403, "authorized party")


def test_an_audience_list_with_an_untrusted_extra_entry_and_no_azp_is_refused(platform: Platform) -> None:
    login = platform.login()
    claims = {**login.claims, "aud": [CLIENT_ID, "untrusted-client"]}
    del claims["azp"]
    assert_refused(login.post(platform.sign(claims)), 403, "authorized party")


def test_an_azp_naming_another_client_is_refused(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign({**login.claims, "aud": [CLIENT_ID, "untrusted-client"], "azp": "untrusted-client"})
    assert_refused(login.post(token), 403, "authorized party")


def test_several_audiences_with_azp_naming_this_tool_are_accepted(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign({**login.claims, "aud": ["untrusted-client", CLIENT_ID], "azp": CLIENT_ID})
    assert accepted(login.post(token))


def test_an_unknown_deployment_id_is_refused(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign({**login.claims, CLAIM + "deployment_id": "deployment-nobody-registered"})
    assert_refused(login.post(token), 403, "deployment")


# ---------------------------------------------------------------- time


def test_an_expired_token_is_refused(platform: Platform) -> None:
    login = platform.login()
    now = int(time.time())
    token = platform.sign({**login.claims, "iat": now - 420, "exp": now - 120})
    assert_refused(login.post(token), 401, "expiry")


def test_a_token_issued_in_the_future_is_refused(platform: Platform) -> None:
    login = platform.login()
    now = int(time.time())
    token = platform.sign({**login.claims, "iat": now + 600, "exp": now + 900})
    assert_refused(login.post(token), 401, "issued at")


def test_a_token_issued_two_days_ago_is_refused_even_with_a_valid_exp(platform: Platform) -> None:
    login = platform.login()
    now = int(time.time())
    token = platform.sign({**login.claims, "iat": now - 2 * 86400, "exp": now + 300})
    assert_refused(login.post(token), 401, "token age")


# ---------------------------------------------------------------- state and nonce


def test_a_launch_without_state_is_refused(platform: Platform) -> None:
    login = platform.login()
    response = login.session.post(
        login.launch_url, data={"id_token": platform.sign(login.claims)}, allow_redirects=False, timeout=60
    )
    assert_refused(response, 400, "state")


def test_a_state_from_another_browser_login_is_refused(platform: Platform) -> None:
    mine = platform.login()
    theirs = platform.login()  # another browser, another login: its state cookie is not in mine
    response = theirs.post(platform.sign(theirs.claims), session=mine.session)
    assert_refused(response, 403, "state")


def test_a_state_the_tool_never_issued_is_refused(platform: Platform) -> None:
    login = platform.login()
    response = login.post(platform.sign(login.claims), state="made-up-state", session=requests.Session())
    assert_refused(response, 403, "state")


def test_an_overlong_state_is_refused_without_a_lookup(platform: Platform) -> None:
    login = platform.login()
    response = login.post(platform.sign(login.claims), state="s" * 5000, session=requests.Session())
    assert_refused(response, 403, "state")


def test_the_same_id_token_and_state_posted_again_from_the_same_browser_is_refused(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign(login.claims)
    assert accepted(login.post(token))
    assert_refused(login.post(token), 403, "state")


def test_the_same_id_token_and_state_posted_again_without_the_state_cookie_is_refused(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign(login.claims)
    assert accepted(login.post(token))
    assert_refused(login.post(token, session=requests.Session()), 403, "state")


def test_a_replayed_nonce_is_refused_under_a_fresh_state(platform: Platform) -> None:
    first = platform.login()
    token = platform.sign(first.claims)
    assert accepted(first.post(token))
    second = platform.login(session=first.session)  # a new login: a new state bound to a new nonce
    assert_refused(second.post(token), 403, "nonce")


def test_a_launch_without_the_state_cookie_is_accepted_once(platform: Platform) -> None:
    # LMS iframes often drop third-party cookies: the server-side state alone must carry the launch.
    login = platform.login()
    assert accepted(login.post(platform.sign(login.claims), session=requests.Session()))


def test_on_https_the_state_cookie_is_cross_site_and_partitioned(platform: Platform) -> None:
    params = platform.lms.lti13_login_params(CLIENT_ID, "sam", "bio-101", "quiz-link")
    response = requests.get(
        f"{platform.stack.base_url}/lti13/login",
        params=params,
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
        timeout=60,
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lti1p3-state=")
    for attribute in ("SameSite=None", "Secure", "Partitioned", "HttpOnly", "Max-Age=600"):
        assert attribute in cookie.split("; ")


# ---------------------------------------------------------------- the message itself


def test_a_submission_review_request_is_refused_as_the_wrong_message_type(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign({**login.claims, CLAIM + "message_type": "LtiSubmissionReviewRequest"})
    assert_refused(login.post(token), 400, "message type")


def test_a_deep_linking_request_without_its_settings_is_refused(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign({**login.claims, CLAIM + "message_type": "LtiDeepLinkingRequest"})
    assert_refused(login.post(token), 400, "message")


def test_a_version_other_than_1_3_0_is_refused(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign({**login.claims, CLAIM + "version": "1.1.0"})
    assert_refused(login.post(token), 400, "version")


@pytest.mark.parametrize(
    ("claim", "named"),
    [
        ("sub", "sub"),
        (CLAIM + "context", "context"),
        (CLAIM + "resource_link", "resource_link"),
        (CLAIM + "roles", "roles"),
        (CLAIM + "deployment_id", "deployment_id"),
    ],
    ids=["sub", "context", "resource-link", "roles", "deployment-id"],
)
def test_a_launch_missing_a_required_claim_is_refused_naming_it(platform: Platform, claim: str, named: str) -> None:
    login = platform.login()
    claims = dict(login.claims)
    del claims[claim]
    response = login.post(platform.sign(claims))
    assert_refused(response, 400, "required claims")
    assert named in response.text


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("iat", "yesterday"),
        ("exp", None),
        ("aud", 42),
        ("nonce", ["a", "b"]),
        (CLAIM + "context", "bio-101"),
        (CLAIM + "resource_link", ["quiz-link"]),
        (CLAIM + "roles", "Learner"),
        (CLAIM + "custom", "activity_id=quiz-1"),
        (CLAIM + "launch_presentation", 7),
        ("iss", "https://" + "x" * 3000),
        ("sub", "s" * 300),
        (CLAIM + "deployment_id", "d" * 300),
        (CLAIM + "context", {"id": "c" * 300}),
    ],
    ids=["iat-string", "exp-null", "aud-number", "nonce-list", "context-string", "link-list", "roles-string",
         "custom-string", "presentation-number", "iss-3k", "sub-300", "deployment-300", "context-id-300"],
)  # fmt: skip
def test_a_claim_of_the_wrong_type_is_refused_never_a_500(platform: Platform, claim: str, value: Any) -> None:
    login = platform.login()
    response = login.post(platform.sign({**login.claims, claim: value}))
    assert 400 <= response.status_code < 500, f"HTTP {response.status_code}: {response.text[:600]}"
    assert "This launch was refused" in response.text


def test_an_overlong_activity_id_is_refused_never_a_500(platform: Platform) -> None:
    login = platform.login()
    token = platform.sign({**login.claims, CLAIM + "custom": {"activity_id": "a" * 3000}})
    assert_refused(login.post(token), 400, "activity id")


def test_an_email_that_cannot_be_one_is_ignored_not_a_500(platform: Platform) -> None:
    login = platform.login()
    assert accepted(login.post(platform.sign({**login.claims, "email": "e" * 3000 + "@example.edu"})))


# ---------------------------------------------------------------- the login request


def test_a_login_for_an_unregistered_issuer_is_refused(platform: Platform) -> None:
    response = requests.get(
        f"{platform.stack.base_url}/lti13/login",
        params={"iss": "https://lms.attacker.example", "login_hint": "sam", "client_id": CLIENT_ID},
        allow_redirects=False,
        timeout=60,
    )
    assert_refused(response, 403, "issuer")


def test_a_login_for_an_unregistered_client_id_is_refused(platform: Platform) -> None:
    response = requests.post(
        f"{platform.stack.base_url}/lti13/login",
        data={"iss": platform.lms.issuer, "login_hint": "sam", "client_id": "no-such-client"},
        allow_redirects=False,
        timeout=60,
    )
    assert_refused(response, 403, "client id")


def test_a_login_with_an_overlong_issuer_is_refused(platform: Platform) -> None:
    response = requests.post(
        f"{platform.stack.base_url}/lti13/login",
        data={"iss": "https://" + "x" * 5000, "login_hint": "sam", "client_id": "c" * 5000},
        allow_redirects=False,
        timeout=60,
    )
    assert_refused(response, 403, "issuer")


def test_a_login_without_login_hint_is_refused(platform: Platform) -> None:
    response = requests.get(
        f"{platform.stack.base_url}/lti13/login", params={"iss": platform.lms.issuer}, allow_redirects=False, timeout=60
    )
    assert_refused(response, 400, "login request")


@pytest.mark.parametrize("where", ["login", "launch"])
@pytest.mark.parametrize("unknown", ["issuer", "client id"])
def test_an_unknown_issuer_or_client_id_never_gives_a_500(platform: Platform, where: str, unknown: str) -> None:
    iss = "https://unknown.example" if unknown == "issuer" else platform.lms.issuer
    client = "unknown-client" if unknown == "client id" else CLIENT_ID
    if where == "login":
        response = requests.get(
            f"{platform.stack.base_url}/lti13/login",
            params={"iss": iss, "login_hint": "sam", "client_id": client},
            allow_redirects=False,
            timeout=60,
        )
    else:
        login = platform.login()
        response = login.post(platform.sign({**login.claims, "iss": iss, "aud": client, "azp": client}))
    assert_refused(response, 403, unknown)


# ---------------------------------------------------------------- logs


def _refusals(platform: Platform) -> list[tuple[Login, str]]:
    """(login, token) pairs, each refused for a different reason."""
    made: list[tuple[Login, str]] = []
    now = int(time.time())
    for change in (
        {"iat": now - 420, "exp": now - 120},
        {"iss": "https://lms.attacker.example"},
        {"aud": [CLIENT_ID, "untrusted"], "azp": None},
        {CLAIM + "deployment_id": "nobody"},
        {CLAIM + "version": "1.1.0"},
        {CLAIM + "context": "bio-101"},
    ):
        login = platform.login()
        claims = {k: v for k, v in {**login.claims, **change}.items() if v is not None}
        made.append((login, platform.sign(claims)))
    login = platform.login()
    made.append((login, platform.sign(login.claims, key=generate_rsa_key())))
    login = platform.login()
    made.append((login, platform.sign(login.claims, alg="none")))
    login = platform.login()
    made.append((login, platform.sign(login.claims, kid="unknown-kid")))
    return made


def test_no_refusal_ever_logs_the_id_token(
    platform: Platform, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    refusals = _refusals(platform)
    capsys.readouterr()
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        statuses = [login.post(token).status_code for login, token in refusals]
        # and a replay of a token that was accepted once
        login = platform.login()
        replayed = platform.sign(login.claims)
        assert accepted(login.post(replayed))
        statuses.append(login.post(replayed).status_code)
    assert all(400 <= s < 500 for s in statuses), statuses
    captured = capsys.readouterr()
    logged = captured.out + captured.err + caplog.text
    assert "launch refused" in logged, "the refusals must be logged (or this test proves nothing)"
    for token in [t for _, t in refusals] + [replayed]:
        _header, payload, signature = [*token.split("."), "", ""][:3]
        assert token not in logged
        assert payload not in logged
        if signature:
            assert signature not in logged
