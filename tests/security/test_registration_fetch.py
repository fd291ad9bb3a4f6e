"""LTI Dynamic Registration's outbound fetches, attacked: the URL the LMS window hands Passback is
attacker-chosen (any holder of an invite, anyone at all under OpenRegistration), so Passback must not
become a proxy into its own network, nor be held by a platform that answers slowly.

Real sockets on 127.0.0.1 where a server is needed; a recording session where the rule is that no
request leaves at all.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from passback.lti.platform_registration import RegistrationClient, RegistrationRefused, parse_configuration


class RecordingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.urls.append(str(url))
        raise requests.ConnectionError("no network in this test")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://lms.example.edu/.well-known/openid-configuration",
        "http://localhost.attacker.example/openid",
        "http://127.0.0.1.nip.io/openid",
    ],
)
def test_a_plain_http_openid_configuration_off_the_loopback_host_is_refused_before_any_request(url: str) -> None:
    session = RecordingSession()
    with pytest.raises(RegistrationRefused) as refused:
        RegistrationClient(session).openid_configuration(url, "registration-token")
    assert refused.value.check == "openid_configuration"
    assert "https" in refused.value.detail
    assert session.urls == []


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/openid", "http://localhost:9/openid", "http://[::1]:9/openid", "https://lms.example.edu/o"],
)
def test_https_and_loopback_http_openid_configurations_are_fetched(url: str) -> None:
    session = RecordingSession()
    with pytest.raises(RegistrationRefused) as refused:
        RegistrationClient(session).openid_configuration(url, None)
    assert "could not be reached" in refused.value.detail
    assert session.urls == [url]


def configuration(issuer: str, registration_endpoint: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "registration_endpoint": registration_endpoint,
    }


def test_a_plain_http_registration_endpoint_on_the_issuers_host_is_refused() -> None:
    issuer = "https://lms.example.edu"
    with pytest.raises(RegistrationRefused) as refused:
        parse_configuration(configuration(issuer, "http://lms.example.edu/register"), f"{issuer}/openid")
    assert refused.value.check == "registration endpoint"
    assert "https" in refused.value.detail
    assert parse_configuration(configuration(issuer, f"{issuer}/register"), f"{issuer}/openid").issuer == issuer


@pytest.mark.parametrize(
    "url",
    [
        "https://lms.example.edu@attacker.example/openid",
        "https://attacker.example\\@lms.example.edu/openid",
        "https://lms.example.edu:8443/openid",
        "https://lms.example.edu./openid",
        "https://LMS.example.edu.attacker.example/openid",
    ],
)
def test_an_issuer_check_is_not_bypassed_by_userinfo_ports_dots_or_case(url: str) -> None:
    issuer = "https://lms.example.edu"
    with pytest.raises(RegistrationRefused) as refused:
        parse_configuration(configuration(issuer, f"{issuer}/register"), url)
    assert refused.value.check == "issuer"


@pytest.fixture
def trickling_server() -> Iterator[str]:
    """An HTTP server that promises a JSON body and then sends one byte every 50 ms."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                body = b'{"issuer": "' + b"x" * 400 + b'"}'
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                )
                for byte in body:
                    if stop.is_set():
                        return
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break
                    time.sleep(0.05)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/openid"
    stop.set()
    thread.join(5)
    listener.close()


def test_a_platform_trickling_its_answer_is_cut_off_at_the_deadline_for_the_whole_answer(
    trickling_server: str,
) -> None:
    # Each read arrives well within the timeout; only a deadline over the whole answer stops it.
    with pytest.raises(RegistrationRefused) as refused:
        RegistrationClient(timeout=1.0).openid_configuration(trickling_server, None)
    assert "took over" in refused.value.detail
    assert refused.value.status == 502


def test_control_characters_from_the_platform_never_reach_the_operators_terminal() -> None:
    issuer = "https://lms.example.edu"
    document = configuration(issuer, f"{issuer}/register")
    document["https://purl.imsglobal.org/spec/lti-platform-configuration"] = {
        "product_family_code": "moodle\x1b]0;pwned\x07\x1b[2J\r\n",
        "version": "5.1\x1b[31m",
    }
    parsed = parse_configuration(document, f"{issuer}/openid")
    assert parsed.product_family_code == "moodle]0;pwned[2J"
    assert parsed.version == "5.1[31m"
    with pytest.raises(RegistrationRefused) as refused:
        parse_configuration(configuration(f"{issuer}/\x1b[2J", f"{issuer}/register"), f"{issuer}/\x1b[2J/openid")
    assert refused.value.check == "issuer"
