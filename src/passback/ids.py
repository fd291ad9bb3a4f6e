"""Identifiers.

Courses, links and platforms get deterministic ids derived from what the LMS sends, so
that "create on first launch" is a conditional put that two racing launches agree on.
Learners get random ids: a person is not derived from any one LMS identity.
"""

from __future__ import annotations

import base64
import hashlib
import secrets


def _digest(*parts: str, length: int = 20) -> str:
    joined = "\x1f".join(parts).encode("utf-8")
    raw = hashlib.sha256(joined).digest()
    return base64.b32encode(raw).decode("ascii").lower().rstrip("=")[:length]


def platform_key_lti13(issuer: str) -> str:
    return "lti13:" + issuer


def platform_key_lti11(consumer_key: str) -> str:
    return "lti11:" + consumer_key


def platform_id(platform_key: str) -> str:
    return "p" + _digest("platform", platform_key, length=12)


def course_id(platform_key: str, context_id: str) -> str:
    return "c" + _digest("course", platform_key, context_id)


def link_id(platform_key: str, resource_link_id: str) -> str:
    return "l" + _digest("link", platform_key, resource_link_id)


def new_learner_id() -> str:
    return "u" + base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()


def new_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def short_hash(value: str, length: int = 16) -> str:
    return _digest("hash", value, length=length)
