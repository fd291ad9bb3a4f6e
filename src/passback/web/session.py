"""The instructor's session: short-lived, signed with the tool's key, bound to one course, never in a URL.

A launch does not put the session in the gradebook's URL (a URL gets pasted into support tickets
and chats). It redirects to the page with a **ticket**: a signed token that is good once, for a
few minutes (its `jti` is consumed by a conditional write). The page's first load exchanges the
ticket for the session, which the browser then holds in two ways:

- a partitioned `SameSite=None; Secure; HttpOnly` cookie, where the browser keeps it (LMS
  iframes often block third-party cookies; partitioned cookies (CHIPS) survive that in Chromium);
- the page itself: every form carries the session in a hidden field (POST bodies, never URLs),
  and the live-status script sends it the same way.

A copied URL therefore carries at most a spent ticket: another browser gets "open the gradebook
from your LMS". Every action also needs the `csrf` value, which is inside the signed session and
printed only into the page: a cross-site form can ride the cookie but cannot know it. The threat
model is in docs/security.md.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from passback.tool_keys import ToolKeys

SESSION_COOKIE = "pb_session"
SESSION_LIFETIME = timedelta(hours=2)
AUDIENCE = "passback-gradebook"
TICKET_AUDIENCE = "passback-gradebook-ticket"
# Long enough for a redirect on a slow network and clock skew; a ticket is good once anyway.
TICKET_LIFETIME = timedelta(minutes=5)
TICKET_PARAMETER = "t"


@dataclass(frozen=True)
class Session:
    token: str
    course_id: str
    learner_id: str
    role: str
    platform_id: str
    csrf: str
    lms_origin: str | None
    expires: datetime | None = None
    # The time zone a launch carried (an IANA name), if any: the page's default before the browser's.
    time_zone: str | None = None

    @property
    def is_instructor(self) -> bool:
        return self.role == "instructor"


class SessionError(Exception):
    """No valid session: expired, tampered, spent, or for another course."""


def _claims(
    *,
    base_url: str,
    course_id: str,
    learner_id: str,
    role: str,
    platform_id: str,
    csrf: str,
    lms_origin: str | None,
    time_zone: str | None,
) -> dict[str, Any]:
    return {
        "iss": base_url,
        "sub": learner_id,
        "course": course_id,
        "role": role,
        "platform": platform_id,
        "csrf": csrf,
        "origin": lms_origin,
        "tz": time_zone,
    }


def _session(keys: ToolKeys, claims: dict[str, Any], *, issued: datetime, expires: datetime) -> Session:
    body = {**claims, "aud": AUDIENCE, "iat": int(issued.timestamp()), "exp": int(expires.timestamp())}
    body.pop("jti", None)
    body.pop("sexp", None)
    token = keys.sign(body)
    return Session(
        token,
        str(claims["course"]),
        str(claims["sub"]),
        str(claims["role"]),
        str(claims.get("platform") or ""),
        str(claims["csrf"]),
        claims.get("origin"),
        datetime.fromtimestamp(int(expires.timestamp()), UTC),
        claims.get("tz"),
    )


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
    time_zone: str | None = None,
) -> Session:
    claims = _claims(
        base_url=base_url,
        course_id=course_id,
        learner_id=learner_id,
        role=role,
        platform_id=platform_id,
        csrf=secrets.token_urlsafe(24),
        lms_origin=lms_origin,
        time_zone=time_zone,
    )
    return _session(keys, claims, issued=now, expires=now + SESSION_LIFETIME)


# A ticket carries no `csrf`: it is signed, not encrypted, and sits in a URL people paste; its
# redemption draws a fresh form token (redeem()).
_REQUIRED = {AUDIENCE: ["exp", "course", "sub", "role", "csrf"], TICKET_AUDIENCE: ["exp", "course", "sub", "role"]}


def _decode(keys: ToolKeys, token: str | None, audience: str) -> dict[str, Any]:
    if not token:
        raise SessionError("no session: open the gradebook from the LMS")
    try:
        header = jwt.get_unverified_header(token)
        jwk = next((k for k in keys.jwks()["keys"] if k.get("kid") == header.get("kid")), None)
        if jwk is None:
            raise SessionError("the session was signed with a key that is no longer in use")
        claims: dict[str, Any] = jwt.decode(
            token,
            jwt.PyJWK(jwk).key,
            algorithms=["RS256"],
            audience=audience,
            options={"verify_exp": False, "require": _REQUIRED[audience]},
        )
    except jwt.InvalidTokenError as error:
        raise SessionError("the session is not valid") from error
    return claims


def verify(keys: ToolKeys, token: str | None, *, now: datetime) -> Session:
    claims = _decode(keys, token, AUDIENCE)
    if int(claims["exp"]) <= now.timestamp():
        raise SessionError("the session has expired: open the gradebook from the LMS again")
    assert token is not None
    return Session(
        token,
        str(claims["course"]),
        str(claims["sub"]),
        str(claims["role"]),
        str(claims.get("platform", "")),
        str(claims["csrf"]),
        claims.get("origin"),
        datetime.fromtimestamp(int(claims["exp"]), UTC),
        claims.get("tz"),
    )


def ticket(keys: ToolKeys, current: Session, *, now: datetime, lifetime: timedelta = TICKET_LIFETIME) -> str:
    """A one-time token for the page's URL that the page's first load exchanges for `current`."""
    claims = jwt.decode(current.token, options={"verify_signature": False, "verify_aud": False})
    expires = current.expires or now + SESSION_LIFETIME
    body = {
        **{k: v for k, v in claims.items() if k not in ("aud", "iat", "exp", "csrf")},
        "aud": TICKET_AUDIENCE,
        "jti": uuid.uuid4().hex,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
        # The session keeps its own end: a ticket made after an action does not lengthen it.
        "sexp": int(expires.timestamp()),
    }
    return keys.sign(body)


def reticket(keys: ToolKeys, token: str, *, now: datetime, lifetime: timedelta) -> str:
    """The same unspent ticket with another lifetime (`passback demo` prints a URL good for two hours)."""
    claims = _decode(keys, token, TICKET_AUDIENCE)
    claims.update(jti=uuid.uuid4().hex, iat=int(now.timestamp()), exp=int((now + lifetime).timestamp()))
    claims["sexp"] = max(int(claims.get("sexp") or 0), int((now + lifetime).timestamp()))
    return keys.sign(claims)


def redeem(keys: ToolKeys, token: str | None, *, now: datetime, consume: Callable[[str, datetime], bool]) -> Session:
    """The session a ticket stands for, once: `consume(jti, keep_until)` records it as spent."""
    claims = _decode(keys, token, TICKET_AUDIENCE)
    if int(claims["exp"]) <= now.timestamp():
        raise SessionError(
            "this gradebook link has expired (a link from the LMS works once, for a few minutes): open the "
            "gradebook from your LMS again"
        )
    jti = str(claims.get("jti") or "")
    keep_until = datetime.fromtimestamp(int(claims["exp"]), UTC)
    if not jti or not consume(jti, keep_until):
        raise SessionError(
            "this gradebook link was already used (a link from the LMS works once, so a copied link shows "
            "nothing): open the gradebook from your LMS"
        )
    expires = datetime.fromtimestamp(int(claims.get("sexp") or claims["exp"]), UTC)
    if expires <= now:
        raise SessionError("the session has expired: open the gradebook from the LMS again")
    # The ticket was public (a URL): the session gets a form token nobody has seen.
    return _session(keys, {**claims, "csrf": secrets.token_urlsafe(24)}, issued=now, expires=expires)


def csrf_matches(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf, str(submitted))


def session_cookie(session: Session, *, secure: bool, now: datetime | None = None) -> str:
    lifetime = SESSION_LIFETIME
    if session.expires is not None and now is not None:
        lifetime = max(timedelta(0), session.expires - now)
    attributes = [
        f"{SESSION_COOKIE}={session.token}",
        "Path=/gradebook",
        "HttpOnly",
        f"Max-Age={int(lifetime.total_seconds())}",
    ]
    attributes += ["SameSite=None", "Secure", "Partitioned"] if secure else ["SameSite=Lax"]
    return "; ".join(attributes)
