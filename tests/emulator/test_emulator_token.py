"""The OAuth2 token endpoint: JWT client assertions verified against the tool's JWKS."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from emulator_testkit import FakeTool

from passback.emulator import LmsEmulator
from passback.emulator.claims import SCOPE_LINEITEM, SCOPE_SCORE

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def token_request(emu: LmsEmulator, assertion: str, scope: str = SCOPE_SCORE, **extra: str) -> requests.Response:
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
        "scope": scope,
        **extra,
    }
    return requests.post(emu.token_url, data=data, timeout=5)


def test_a_correctly_signed_assertion_gets_a_token(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    response = token_request(emu, fake_tool.client_assertion(emu.token_url), f"{SCOPE_SCORE} {SCOPE_LINEITEM}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"].split() == [SCOPE_SCORE, SCOPE_LINEITEM]
    assert body["access_token"]
    assert emu.counters["token"] == 1


def test_the_issuer_is_accepted_as_audience_and_aud_may_be_a_list(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    assert token_request(emu, fake_tool.client_assertion(emu.issuer)).status_code == 200
    assertion = fake_tool.client_assertion(["https://other.example", emu.token_url])
    assert token_request(emu, assertion).status_code == 200


def test_tool_jwks_is_cached_between_token_requests(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    for _ in range(3):
        assert token_request(emu, fake_tool.client_assertion(emu.token_url)).status_code == 200
    assert fake_tool.jwks_fetches == 1


def test_unsupported_scopes_are_dropped_and_none_left_is_an_error(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    mixed = token_request(emu, fake_tool.client_assertion(emu.token_url), f"openid {SCOPE_SCORE}")
    assert mixed.json()["scope"] == SCOPE_SCORE
    none_left = token_request(emu, fake_tool.client_assertion(emu.token_url), "openid email")
    assert none_left.status_code == 400
    assert none_left.json()["error"] == "invalid_scope"


def test_a_replayed_jti_is_refused(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    assertion = fake_tool.client_assertion(emu.token_url)
    assert token_request(emu, assertion).status_code == 200
    replay = token_request(emu, assertion)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"
    assert "jti" in replay.json()["error_description"]


def test_an_assertion_signed_with_another_key_is_refused(
    emu: LmsEmulator, fake_tool: FakeTool, tool_key: rsa.RSAPrivateKey
) -> None:
    impostor = FakeTool(key=rsa.generate_private_key(public_exponent=65537, key_size=2048), kid=fake_tool.kid)
    response = token_request(emu, impostor.client_assertion(emu.token_url))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "https://somewhere.else/token"}, "audience"),
        ({"exp": int(time.time()) - 10}, "expired"),
        ({"iat": int(time.time()) + 600}, "future"),
        ({"iss": "unknown-client", "sub": "unknown-client"}, "unknown client_id"),
        ({"sub": "someone-else"}, "iss and sub"),
        ({"jti": None}, "jti"),
    ],
)
def test_bad_assertions_are_refused(
    emu: LmsEmulator, fake_tool: FakeTool, overrides: dict[str, Any], reason: str
) -> None:
    assertion = fake_tool.client_assertion(emu.token_url, **overrides)
    response = token_request(emu, assertion)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert reason in response.json()["error_description"].lower()


def test_an_unknown_kid_triggers_one_refetch(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    assert token_request(emu, fake_tool.client_assertion(emu.token_url)).status_code == 200
    fake_tool.kid = "rotated-kid"
    assert token_request(emu, fake_tool.client_assertion(emu.token_url)).status_code == 200
    assert fake_tool.jwks_fetches == 2


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"client_assertion_type": "basic"}, "invalid_request"),
        ({"client_assertion": ""}, "invalid_request"),
        ({"client_assertion": "not-a-jwt"}, "invalid_client"),
    ],
)
def test_malformed_token_requests(emu: LmsEmulator, data: dict[str, str], error: str) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": JWT_BEARER,
        "client_assertion": "x.y.z",
    }
    form.update(data)
    response = requests.post(emu.token_url, data=form, timeout=5)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == error


def test_json_token_request_is_refused(emu: LmsEmulator) -> None:
    response = requests.post(emu.token_url, json={"grant_type": "client_credentials"}, timeout=5)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
