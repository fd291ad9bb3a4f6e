"""LTI 1.3: JWKS and key rotation, the OIDC authorization endpoint, and full launches."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import jwt
import pytest
import requests
from emulator_testkit import (
    CLIENT_ID,
    CONTAINER_LINK,
    COURSE,
    DEPLOYMENT_ID,
    INSTRUCTOR,
    LINK,
    NO_AGS_LINK,
    STUDENT,
    FakeTool,
)

from passback.emulator import LaunchError, LmsEmulator
from passback.emulator.claims import AGS_SCOPES, CLAIM_AGS, CLAIM_NRPS, LTI

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"


def verify_id_token(emu: LmsEmulator, token: str) -> dict[str, object]:
    jwks = requests.get(emu.jwks_url, timeout=5).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    return jwt.decode(token, key, algorithms=["RS256"], audience=CLIENT_ID, issuer=emu.issuer)


def test_jwks_serves_the_current_public_key_and_counts_fetches(emu: LmsEmulator) -> None:
    jwks = requests.get(emu.jwks_url, timeout=5).json()
    (key,) = jwks["keys"]
    assert {key["kty"], key["alg"], key["use"], key["kid"]} == {"RSA", "RS256", "sig", emu.current_kid}
    assert key["e"] == "AQAB"
    assert len(base64.urlsafe_b64decode(key["n"] + "==")) == 256
    requests.get(emu.jwks_url, timeout=5)
    assert emu.counters["jwks"] == 2


def test_rotate_key_drops_or_keeps_the_old_key(emu: LmsEmulator) -> None:
    first = emu.current_kid
    second = emu.rotate_key(keep_old=True)
    kids = [k["kid"] for k in requests.get(emu.jwks_url, timeout=5).json()["keys"]]
    assert kids == [first, second]
    third = emu.rotate_key()
    kids = [k["kid"] for k in requests.get(emu.jwks_url, timeout=5).json()["keys"]]
    assert kids == [third]
    assert len({first, second, third}) == 3


def test_platform_config_is_what_an_admin_types_in(emu: LmsEmulator) -> None:
    assert emu.platform_config(CLIENT_ID) == {
        "issuer": emu.base_url,
        "client_id": CLIENT_ID,
        "deployment_ids": [DEPLOYMENT_ID],
        "login_url": f"{emu.base_url}/auth",
        "token_url": f"{emu.base_url}/token",
        "jwks_url": f"{emu.base_url}/jwks",
    }


def test_login_params_point_at_the_registered_launch(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    params = emu.lti13_login_params(CLIENT_ID, STUDENT, COURSE, LINK)
    assert params["iss"] == emu.issuer
    assert params["login_hint"] == STUDENT
    assert params["target_link_uri"] == fake_tool.launch_url
    assert params["client_id"] == CLIENT_ID
    assert params["lti_deployment_id"] == DEPLOYMENT_ID
    assert params["lti_message_hint"]


def test_full_launch_gives_the_tool_a_verifiable_id_token(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    session = requests.Session()
    response = emu.lti13_launch(session, CLIENT_ID, STUDENT, COURSE, LINK)
    assert response.status_code == 200
    assert response.text == "launched"
    (launch,) = fake_tool.launches
    assert launch.state_cookie_matched, "the browser dance must carry the tool's cookie"
    claims = verify_id_token(emu, launch.id_token)
    assert claims["nonce"] == fake_tool.nonces[launch.state]
    assert claims["sub"] == STUDENT
    assert claims["azp"] == CLIENT_ID
    assert claims["exp"] == claims["iat"] + 300  # type: ignore[operator]
    assert claims["name"] == "Ada Lovelace"
    assert (claims["given_name"], claims["family_name"]) == ("Ada", "Lovelace")
    assert claims["email"] == "ada@example.edu"
    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == DEPLOYMENT_ID
    assert claims[LTI + "target_link_uri"] == fake_tool.launch_url
    assert claims[LTI + "resource_link"] == {"id": LINK, "title": "Quiz 1"}
    assert LEARNER in claims[LTI + "roles"]  # type: ignore[operator]
    context = claims[LTI + "context"]
    assert isinstance(context, dict)
    assert (context["id"], context["title"], context["label"]) == (COURSE, "Intro to Testing", COURSE)
    assert claims[LTI + "tool_platform"]["product_family_code"] == "canvas"  # type: ignore[index]
    assert claims[LTI + "custom"] == {"activity_id": "quiz-1"}
    ags = claims[CLAIM_AGS]
    assert isinstance(ags, dict)
    assert ags["scope"] == AGS_SCOPES
    assert ags["lineitems"] == f"{emu.base_url}/api/lti/courses/{COURSE}/line_items"
    assert ags["lineitem"].startswith(ags["lineitems"] + "/")
    assert claims[CLAIM_NRPS]["service_versions"] == ["2.0"]  # type: ignore[index]
    assert emu.counters["auth"] == 1


def test_instructor_launch_carries_instructor_role(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    emu.lti13_launch(requests.Session(), CLIENT_ID, INSTRUCTOR, COURSE, LINK)
    claims = verify_id_token(emu, fake_tool.launches[0].id_token)
    assert INSTRUCTOR_ROLE in claims[LTI + "roles"]  # type: ignore[operator]
    assert LEARNER not in claims[LTI + "roles"]  # type: ignore[operator]


def test_container_only_and_no_ags_links(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    emu.lti13_launch(requests.Session(), CLIENT_ID, STUDENT, COURSE, CONTAINER_LINK)
    emu.lti13_launch(requests.Session(), CLIENT_ID, STUDENT, COURSE, NO_AGS_LINK)
    container_claims = verify_id_token(emu, fake_tool.launches[0].id_token)
    ags = container_claims[CLAIM_AGS]
    assert isinstance(ags, dict)
    assert set(ags) == {"scope", "lineitems"}
    assert CLAIM_AGS not in verify_id_token(emu, fake_tool.launches[1].id_token)


def test_moodle_launch_uses_moodle_urls(moodle: LmsEmulator, fake_tool: FakeTool) -> None:
    moodle.lti13_launch(requests.Session(), CLIENT_ID, STUDENT, COURSE, LINK)
    claims = verify_id_token(moodle, fake_tool.launches[0].id_token)
    ags = claims[CLAIM_AGS]
    assert isinstance(ags, dict)
    assert ags["lineitems"] == f"{moodle.base_url}/mod/lti/services.php/{COURSE}/lineitems?type_id=1"
    assert ags["lineitem"].endswith("/lineitem?type_id=1")
    assert claims[LTI + "tool_platform"]["product_family_code"] == "moodle"  # type: ignore[index]


@pytest.mark.parametrize("style", ["meta", "js", "form", "cookie-check"])
@pytest.mark.parametrize("login_method", ["GET", "POST"])
def test_launch_follows_html_login_pages(emu: LmsEmulator, fake_tool: FakeTool, style: str, login_method: str) -> None:
    fake_tool.login_style = style
    response = emu.lti13_launch(requests.Session(), CLIENT_ID, STUDENT, COURSE, LINK, login_method=login_method)
    assert response.status_code == 200
    assert len(fake_tool.launches) == 1
    assert verify_id_token(emu, fake_tool.launches[0].id_token)["sub"] == STUDENT


def test_message_hint_extra_overrides_claims(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    emu.lti13_launch(
        requests.Session(), CLIENT_ID, STUDENT, COURSE, LINK, message_hint_extra={LTI + "custom": {"x": "y"}}
    )
    assert verify_id_token(emu, fake_tool.launches[0].id_token)[LTI + "custom"] == {"x": "y"}


def test_auth_rejects_a_wrong_redirect_uri(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    fake_tool.redirect_uri_override = "http://127.0.0.1:9/evil"
    with pytest.raises(LaunchError, match="redirect_uri") as caught:
        emu.lti13_launch(requests.Session(), CLIENT_ID, STUDENT, COURSE, LINK)
    assert caught.value.response is not None
    assert caught.value.response.status_code == 400
    assert fake_tool.launches == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scope": "profile"}, "scope"),
        ({"response_type": "code"}, "response_type"),
        ({"response_mode": "query"}, "response_mode"),
        ({"prompt": "login"}, "prompt"),
        ({"nonce": ""}, "nonce"),
        ({"state": ""}, "state"),
        ({"client_id": "someone-else"}, "client_id"),
        ({"login_hint": "another-user"}, "login_hint"),
        ({"lti_message_hint": "forged"}, "lti_message_hint"),
    ],
)
def test_auth_rejects_bad_requests(emu: LmsEmulator, change: dict[str, str], message: str) -> None:
    hint = emu.lti13_login_params(CLIENT_ID, STUDENT, COURSE, LINK)["lti_message_hint"]
    params = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": CLIENT_ID,
        "redirect_uri": emu.tool_registration(CLIENT_ID)["launch_url"],
        "login_hint": STUDENT,
        "lti_message_hint": hint,
        "state": "s",
        "nonce": "n",
    }
    good = requests.get(f"{emu.auth_url}?{urlencode(params)}", timeout=5)
    assert good.status_code == 200
    params.update(change)
    bad = requests.post(emu.auth_url, data=params, timeout=5)
    assert bad.status_code == 400
    assert message in bad.text


def test_start_login_hands_back_state_and_nonce_for_a_crafted_token(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    session = requests.Session()
    state, nonce, redirect_uri = emu.start_login(session, CLIENT_ID, STUDENT, COURSE, LINK)
    assert fake_tool.nonces[state] == nonce
    assert redirect_uri == fake_tool.launch_url
    claims = emu.base_claims(CLIENT_ID, STUDENT, COURSE, LINK, nonce=nonce)
    claims["sub"] = "someone-else"
    token = emu.sign_id_token(claims)
    session.post(redirect_uri, data={"id_token": token, "state": state}, timeout=5)
    assert fake_tool.launches[0].state_cookie_matched
    assert verify_id_token(emu, fake_tool.launches[0].id_token)["sub"] == "someone-else"
    assert emu.counters["auth"] == 0


def _segments(token: str) -> tuple[dict[str, str], dict[str, object], str]:
    header, payload, signature = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header + "==")),
        json.loads(base64.urlsafe_b64decode(payload + "==")),
        signature,
    )


def test_hostile_tokens_alg_none_and_hs256_key_confusion(emu: LmsEmulator) -> None:
    claims = emu.base_claims(CLIENT_ID, STUDENT, COURSE, LINK, nonce="n")
    unsigned = emu.sign_id_token(claims, alg="none")
    header, payload, signature = _segments(unsigned)
    assert header["alg"] == "none"
    assert payload["sub"] == STUDENT
    assert signature == ""
    assert unsigned.endswith(".")

    pem = emu.public_key_pem()
    confused = emu.sign_id_token(claims, alg="HS256", key=pem)
    assert _segments(confused)[0] == {"alg": "HS256", "typ": "JWT", "kid": emu.current_kid}
    # A verifier that trusts the header's alg and uses the PEM as an HMAC secret would accept it:
    signing_input = confused.rsplit(".", 1)[0].encode()
    import hashlib
    import hmac

    expected = base64.urlsafe_b64encode(hmac.new(pem, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    assert confused.rsplit(".", 1)[1] == expected.decode()

    no_kid = emu.sign_id_token(claims, headers={"kid": None, "jku": "http://127.0.0.1:9/jwks"})
    assert _segments(no_kid)[0] == {"alg": "RS256", "typ": "JWT", "jku": "http://127.0.0.1:9/jwks"}
