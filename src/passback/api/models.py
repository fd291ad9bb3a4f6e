"""The product API's request and response bodies (the OpenAPI document is generated from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from passback.domain.products import MAX_MESSAGES
from passback.messages import ProductMessage


class MessagesRequest(BaseModel):
    """One to ten score or activity messages (the score queue's batch limit); all are accepted or none."""

    model_config = ConfigDict(extra="forbid")
    messages: Annotated[list[ProductMessage], Field(min_length=1, max_length=MAX_MESSAGES)]


class Accepted(BaseModel):
    """Every message of the request is queued; read each one's fate at /api/v1/messages/{message_id}."""

    accepted: list[str]


class ProblemItem(BaseModel):
    index: Annotated[int, Field(description="the message's position in `messages` (-1: the request itself)")]
    message_id: str | None
    field: Annotated[str, Field(description="the field's path inside the message, e.g. learner.email")]
    problem: str


class ApiError(BaseModel):
    """Why a request was refused. 400 and 403 list every problem of every refused message."""

    error: str
    error_description: str
    problems: list[ProblemItem] | None = None


class MessageStatusBody(BaseModel):
    """What became of a message: accepted (queued), applied, unchanged (older or a duplicate), dead-lettered."""

    message_id: str
    status: Literal["accepted", "applied", "unchanged", "dead-lettered"]
    reason: str | None = None
    detail: str | None = None
    accepted_at: datetime
    updated_at: datetime


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


class TokenError(BaseModel):
    """RFC 6749 section 5.2."""

    error: str
    error_description: str
