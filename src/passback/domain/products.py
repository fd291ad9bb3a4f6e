"""What a product may report on (issue 21), and how a refused message is explained. No I/O.

A product reports only on its own activities and through learner references it may use:
- `learner_id`: an id a launch handed to this product (the handoff token's `sub`);
- `issuer`/`consumer_key` + `user_id`: an LMS identity on a platform the product is deployed on;
- `email`: an account this product vouches for (the address is its own account's); an address
  another sender vouched for is not this product's to use.
The facts (who owns the activity, whose the email is, ...) are looked up by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_MESSAGES = 10  # the SQS batch limit: one request is one SendMessageBatch
MAX_BODY_BYTES = 256 * 1024  # the SQS batch payload limit

SCOPE_WRITE = "scores:write"
SCOPE_READ = "scores:read"
SCOPES = (SCOPE_WRITE, SCOPE_READ)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one message: where (a field path) and what, in plain words."""

    index: int
    message_id: str | None
    field: str
    problem: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "message_id": self.message_id, "field": self.field, "problem": self.problem}


@dataclass(frozen=True)
class LearnerFacts:
    """What the caller found about a message's learner reference."""

    granted: bool = False  # learner_id: handed to this product at a launch
    platform_id: str | None = None  # LMS identity: the platform it names
    email_vouched_by: str | None = None  # email: the product that vouched for it ("" : the score queue)
    email_known: bool = False


def activity_problem(
    activity_id: str, owner: str | None, product_id: str, *, publishing: bool, in_catalog: bool = False
) -> str | None:
    """Why this product may not use this activity, or None.

    `in_catalog`: an activity without an owner is already in the catalog (published through the
    score queue by a same-account product): it is not the first API publisher's to take.
    """
    if owner == product_id:
        return None
    if owner is None:
        if in_catalog:
            return (
                f"activity {activity_id!r} was published through the score queue, not by this product: "
                f"an operator can give it to this product (passback products assign PRODUCT_ID {activity_id})"
            )
        if publishing:
            return None  # the first product to publish an activity owns it
        return (
            f"activity {activity_id!r} belongs to no product: publish it with an activity message from this "
            "product first"
        )
    return f"activity {activity_id!r} belongs to another product"


def learner_problem(
    learner: Mapping[str, Any], facts: LearnerFacts, product_id: str, platforms: Sequence[str]
) -> str | None:
    """Why this product may not report on this learner reference, or None."""
    if learner.get("learner_id") is not None:
        if facts.granted:
            return None
        return "this learner id was never handed to this product by a launch"
    if learner.get("email") is not None:
        if not facts.email_known or facts.email_vouched_by == product_id:
            return None
        return "this email belongs to an account another product vouched for"
    if facts.platform_id is not None and facts.platform_id in platforms:
        return None
    return "this product is not deployed on that LMS platform (passback products add --platform)"


# pydantic's error types, said for people. Anything not listed keeps pydantic's own sentence.
_PLAIN: dict[str, str] = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this message (check the spelling)",
    "union_tag_invalid": 'type must be "score" or "activity"',
    "union_tag_not_found": 'needs a type: "score" or "activity"',
    "model_attributes_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "timezone_aware": "needs a time zone (for example 2026-11-23T14:05:09Z)",
    "datetime_from_date_parsing": "must be an ISO 8601 date and time with a time zone",
    "datetime_parsing": "must be an ISO 8601 date and time with a time zone",
    "string_pattern_mismatch": "must not be empty or contain spaces or '#'",
    "finite_number": "must be a finite number",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "string_type": "must be a string",
    "url_parsing": "must be an http(s) URL",
    "url_scheme": "must be an http(s) URL",
    "literal_error": "has a value this version does not know",
    "json_invalid": "is not valid JSON",
}


def _path(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def explain(errors: Sequence[Mapping[str, Any]], bodies: Sequence[Any]) -> list[Problem]:
    """pydantic errors on `{"messages": [...]}` (locations from `messages`) as one Problem each."""
    found: list[Problem] = []
    for error in errors:
        loc = [p for p in error.get("loc", ()) if p not in ("body",)]
        index = -1
        if len(loc) >= 2 and loc[0] == "messages" and isinstance(loc[1], int):
            index = int(loc[1])
            loc = loc[2:]
            if loc and loc[0] in ("score", "activity"):
                loc = loc[1:]  # the discriminated union's tag is not a field
        elif loc and loc[0] == "messages":
            loc = loc[1:]
        body = bodies[index] if 0 <= index < len(bodies) else None
        message_id = body.get("message_id") if isinstance(body, dict) else None
        kind = str(error.get("type", ""))
        words = _PLAIN.get(kind) or str(error.get("msg", "is not valid")).removeprefix("Value error, ")
        field = _path(loc) or ("messages" if index < 0 else "message")
        if kind == "json_invalid":  # the location is a character position, not a field
            field, why = "body", (error.get("ctx") or {}).get("error")
            words += f" ({why})" if why else ""
        found.append(Problem(index, message_id if isinstance(message_id, str) else None, field, words))
    return found
