"""Handing the learner to the product: a redirect carrying a short-lived token signed with the tool's key.

The product verifies the token against /.well-known/jwks.json (RS256, audience
`passback-product`, at most five minutes old) and learns who the learner is, in which course,
for which activity, with which roles. It publishes scores with the learner id it received.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from passback.tool_keys import ToolKeys

PRODUCT_AUDIENCE = "passback-product"
HANDOFF_LIFETIME = timedelta(minutes=5)
TOKEN_PARAMETER = "passback_token"


def handoff_token(
    keys: ToolKeys,
    *,
    base_url: str,
    learner_id: str,
    course_id: str,
    activity_id: str | None,
    roles: tuple[str, ...],
    role: str,
    now: datetime,
) -> str:
    claims: dict[str, Any] = {
        "iss": base_url,
        "aud": PRODUCT_AUDIENCE,
        "sub": learner_id,
        "course": course_id,
        "activity": activity_id,
        "role": role,
        "roles": list(roles),
        "iat": int(now.timestamp()),
        "exp": int((now + HANDOFF_LIFETIME).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return keys.sign(claims)


def with_token(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&" if parts.query else ""
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path, query + urlencode({TOKEN_PARAMETER: token}), parts.fragment)
    )
