"""The instructor's session: a short-lived token signed with the tool's key, bound to one course.

LMS iframes often block third-party cookies, so the session travels two ways: a partitioned
`SameSite=None; Secure` cookie where the browser keeps it, and the `s` parameter of the page's
links and forms where it does not. Every action also needs the `csrf` value, which is inside the
signed session and printed only into the page: a cross-site form can ride the cookie but cannot
know it.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from passback.tool_keys import ToolKeys

SESSION_COOKIE = "pb_session"
SESSION_LIFETIME = timedelta(hours=2)
AUDIENCE = "passback-gradebook"


@dataclass(frozen=True)
class Session:
    token: str
    course_id: str
    learner_id: str
    role: str
    platform_id: str
    csrf: str
    lms_origin: str | None

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"


class SessionError(Exception):
    """No valid session: expired, tampered, or for another course."""


def issue(
    keys: ToolKeys,
    *,
    base_url: str,
    course_id: str,
    learner_id: str,
    role: str,
    platform_id: str,
    lms_origin: str | None,
    now: datetime,
) -> Session:
    csrf = secrets.token_urlsafe(24)
    claims: dict[str, Any] = {
        "iss": base_url,
        "aud": AUDIENCE,
        "sub": learner_id,
        "course": course_id,
        "role": role,
        "platform": platform_id,
        "csrf": csrf,
        "origin": lms_origin,
        "iat": int(now.timestamp()),
        "exp": int((now + SESSION_LIFETIME).timestamp()),
    }
    token = keys.sign(claims)
    return Session(token, course_id, learner_id, role, platform_id, csrf, lms_origin)


def verify(keys: ToolKeys, token: str | None, *, now: datetime) -> Session:
    if not token:
        raise SessionError("no session: open the gradebook from the LMS")
    try:
        header = jwt.get_unverified_header(token)
        jwk = next((k for k in keys.jwks()["keys"] if k.get("kid") == header.get("kid")), None)
        if jwk is None:
            raise SessionError("the session was signed with a key that is no longer in use")
        claims = jwt.decode(
            token,
            jwt.PyJWK(jwk).key,
            algorithms=["RS256"],
            audience=AUDIENCE,
            options={"verify_exp": False, "require": ["exp", "course", "sub", "role", "csrf"]},
        )
    except jwt.InvalidTokenError as error:
        raise SessionError("the session is not valid") from error
    if int(claims["exp"]) <= now.timestamp():
        raise SessionError("the session has expired: open the gradebook from the LMS again")
    return Session(
        token,
        str(claims["course"]),
        str(claims["sub"]),
        str(claims["role"]),
        str(claims.get("platform", "")),
        str(claims["csrf"]),
        claims.get("origin"),
    )


def csrf_matches(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf, str(submitted))


def session_cookie(session: Session, *, secure: bool) -> str:
    attributes = [
        f"{SESSION_COOKIE}={session.token}",
        "Path=/gradebook",
        "HttpOnly",
        f"Max-Age={int(SESSION_LIFETIME.total_seconds())}",
    ]
    attributes += ["SameSite=None", "Secure", "Partitioned"] if secure else ["SameSite=Lax"]
    return "; ".join(attributes)
