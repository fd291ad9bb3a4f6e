"""With every logger at DEBUG, a whole scenario leaves no secret in any log line.

The scenario: LTI 1.3 and 1.1 launches (instructor and students), score messages, a release, AGS
token fetches (client assertions signed with the tool key), Basic Outcomes calls (OAuth 1.0a
signatures), a tool key rotation and a forced token refresh. Every secret is known by value: the
tool's private keys (from Secrets Manager), the LTI 1.1 shared secret, and everything that crossed
the wire (id_tokens, client assertions, access tokens, bearer headers, oauth_signature values,
handoff and session tokens), recorded by a pass-through spy on requests.Session.send. Then every
log record (powertools' JSON on the passback logger, and the root logger with botocore, urllib3,
oauthlib and pylti1p3 at DEBUG, formatted with all their attributes) is searched for each value.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest
import requests
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from course_setup import lti13_course
from passback import container
from passback.observability import logger as passback_logger
from stack_harness import CONSUMER_KEY, Stack, activity, score

JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
SECRET_FORM_FIELDS = ("id_token", "client_assertion", "oauth_signature", "access_token")
LIBRARY_LOGGERS = ("botocore", "boto3", "urllib3", "oauthlib", "pylti1p3", "jwt", "requests", "passback")
# moto intercepts every HTTP call in the test process through `responses`, which logs the URL of
# each call it lets through, the test's own browser requests included. Neither runs in production.
TEST_HARNESS_LOGGERS = {"responses"}
SHARED_SECRET = "lti11-shared-secret-9f8e7d6c5b4a"


class Wire:
    """Secrets seen on the wire, collected by wrapping requests.Session.send (nothing is faked)."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self.kinds: set[str] = set()  # which kinds were seen, so the test knows it searched for each

    def saw_request(self, request: requests.PreparedRequest) -> None:
        headers = request.headers
        authorization = headers.get("Authorization", "")
        if authorization.lower().startswith("bearer "):
            self.secrets.add(authorization[7:])
            self.kinds.add("bearer token")
        for value in re.findall(r'oauth_signature="([^"]+)"', authorization):
            self.secrets.update({value, unquote(value)})
            self.kinds.add("oauth_signature (Basic Outcomes)")
        body = request.body
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        if "=" in text and not text.lstrip().startswith(("<", "{")):
            for key, value in parse_qsl(text):
                if key in SECRET_FORM_FIELDS:
                    self.secrets.add(value)
                    self.kinds.add(key)
        self.secrets.update(JWT.findall(text))
        self.secrets.update(JWT.findall(request.url or ""))

    def saw_response(self, response: requests.Response) -> None:
        self.secrets.update(JWT.findall(response.text))
        self.secrets.update(JWT.findall(response.headers.get("Location", "")))
        for session in re.findall(r"[?&]s=([^&\"'#\s]+)", response.headers.get("Location", "") + response.text):
            self.secrets.add(unquote(session))
        if response.headers.get("Content-Type", "").startswith("application/json"):
            try:
                document = response.json()
            except ValueError:
                return
            if isinstance(document, dict) and isinstance(document.get("access_token"), str):
                self.secrets.add(document["access_token"])
                self.kinds.add("access_token")


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Wire:
    seen = Wire()
    real_send = requests.Session.send

    def send(self: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        seen.saw_request(request)
        response = real_send(self, request, **kwargs)
        seen.saw_response(response)
        return response

    monkeypatch.setattr(requests.Session, "send", send)
    return seen


class Capture(logging.Handler):
    """Keeps every formatted record with the name of the logger that wrote it."""

    def __init__(self, formatter: logging.Formatter, lines: list[tuple[str, str]]) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, self.format(record)))


class EverythingFormatter(logging.Formatter):
    """The message and every attribute of the record: what any handler could choose to write."""

    def format(self, record: logging.LogRecord) -> str:
        attributes = {k: v for k, v in record.__dict__.items() if k not in {"msg", "args", "exc_info"}}
        trace = self.formatException(record.exc_info) if record.exc_info else ""
        return f"{record.name} {record.getMessage()} {attributes!r} {trace}"


@pytest.fixture
def logs() -> Iterator[list[tuple[str, str]]]:
    """Root logger, library loggers and the powertools logger at DEBUG, all into one list."""
    lines: list[tuple[str, str]] = []
    everything = Capture(EverythingFormatter(), lines)
    powertools_json = Capture(passback_logger.registered_formatter, lines)
    root = logging.getLogger()
    # pytest's own capture would format every record a second time: this test captures them itself.
    others = list(root.handlers)
    for handler in others:
        root.removeHandler(handler)
    saved = {name: logging.getLogger(name).level for name in ("", *LIBRARY_LOGGERS)}
    root.addHandler(everything)
    root.setLevel(logging.DEBUG)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    passback_logger.setLevel("DEBUG")
    passback_logger.addHandler(powertools_json)
    passback_logger.addHandler(everything)  # powertools' logger does not propagate to the root
    try:
        yield lines
    finally:
        passback_logger.removeHandler(powertools_json)
        passback_logger.removeHandler(everything)
        root.removeHandler(everything)
        for handler in others:
            root.addHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def private_key_material(pem: str) -> set[str]:
    """The PEM body lines and the JWK private members ("d", "p", "q", ...) of one RSA key."""
    found = {line for line in pem.splitlines() if line and not line.startswith("-----")}
    key = load_pem_private_key(pem.encode("ascii"), password=None)
    numbers = key.private_numbers()  # type: ignore[union-attr]

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode("ascii")

    found.update(b64(n) for n in (numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp))
    return found


def test_a_full_scenario_logged_at_debug_leaks_no_key_token_secret_or_signature(
    stack: Stack, lms: Any, clock: Any, wire: Wire, logs: list[tuple[str, str]]
) -> None:
    # LTI 1.3: an instructor and two students launch; scores pass back by AGS (token fetch).
    course = lti13_course(stack, lms)
    stack.send_messages(
        [score(course.ref(user), "quiz-1", 2, 70.0 + i, clock.now) for i, user in enumerate(["sam", "ria"])]
    )
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 70.0
    # The tool rotates its key; the LMS expires its tokens: the next score fetches a token with the new key.
    container.tool_keys().rotate(clock.now)
    lms.faults.expire_tokens()
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 91.0, clock.now + timedelta(seconds=5))])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 91.0

    # LTI 1.1: a consumer with its shared secret, an instructor and a student launch, Basic Outcomes.
    stack.register_lti11(lms, key=CONSUMER_KEY, secret=SHARED_SECRET)
    lms.add_course("hist-1", "History 1")
    lms.add_user("lee", name="Lee Learner", email="lee@example.edu")
    lms.enroll("hist-1", "teacher", "instructor")
    lms.enroll("hist-1", "lee", "student")
    lms.add_link("hist-1", "essay-link", title="Essay", custom={"activity_id": "essay"})
    stack.send_messages([activity("essay", "Essay")])
    stack.drain()
    instructor = stack.launch11(lms, "teacher", "hist-1", "essay-link", roles="Instructor")
    assert instructor.status_code == 303
    assert stack.launch11(lms, "lee", "hist-1", "essay-link").status_code == 200
    stack.send_messages([score({"consumer_key": CONSUMER_KEY, "user_id": "lee"}, "essay", 1, 64.0, clock.now)])
    stack.drain()
    # A release from the gradebook (its session token and CSRF value are secrets too).
    location = instructor.headers["Location"]
    gradebook = requests.get(location if location.startswith("http") else stack.base_url + location, timeout=30)
    assert gradebook.status_code == 200
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', gradebook.text))
    released = requests.post(
        f"{gradebook.url.split('?')[0]}/release",
        data={**fields, "activity": "essay", "confirm": "yes"},
        allow_redirects=False,
        timeout=30,
    )
    assert released.status_code in (303, 400), released.text[:300]  # 400 when already released by policy
    stack.drain()
    assert any(o["user_id"] == "lee" and o["score"] == 0.64 for o in lms.outcomes())
    stack.sweep()

    ticket = location.split("?t=", 1)[1].split("&", 1)[0]  # the gradebook URL's one-time ticket
    secrets: set[str] = set(wire.secrets) | {SHARED_SECRET, ticket, *fields.values()} - {""}
    key_document = container.tool_keys()._secret.read(fresh=True)  # the value of the secret itself
    pems = [k["private_pem"] for k in key_document["keys"]]
    assert len(pems) == 2, "the rotation must have happened"
    for pem in pems:
        secrets |= private_key_material(pem)
    secrets |= {v for k, v in lms._state.access_tokens.items() if isinstance(v, str)} | set(lms._state.access_tokens)
    assert wire.kinds >= {
        "id_token",
        "client_assertion",
        "access_token",
        "bearer token",
        "oauth_signature",  # the LMS's signature on the 1.1 launch form
        "oauth_signature (Basic Outcomes)",
    }, wire.kinds
    logged = "\n".join(line for _, line in logs)
    # The capture really saw the libraries' debug output, or this test would prove nothing.
    assert "botocore" in logged
    assert "urllib3.connectionpool" in logged
    assert "passback sent" in logged
    assert len(logged) > 100_000

    by_logger: dict[str, list[str]] = {}
    for name, line in logs:
        by_logger.setdefault(name, []).append(line)
    leaks = sorted(
        f"{name}: {secret[:12]}..."
        for name, lines in by_logger.items()
        if name not in TEST_HARNESS_LOGGERS
        for secret in [*secrets, "PRIVATE KEY"]
        if len(secret) >= 11 and _appears(secret, "\n".join(lines))
    )
    assert leaks == [], f"{len(leaks)} secret values appear in the logs (logger: value): {leaks}"


def _appears(secret: str, logged: str) -> bool:
    if secret in logged or json.dumps(secret)[1:-1] in logged:
        return True
    # A JWT counts as leaked if its payload or its signature appears on its own.
    parts = secret.split(".")
    return len(parts) == 3 and any(len(part) >= 16 and part in logged for part in parts[1:])
