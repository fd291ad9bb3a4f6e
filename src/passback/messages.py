"""The messages products publish to the score queue, and the jobs on the release queue.

Versioned JSON, parsed with powertools' parser (pydantic). docs/messages.md documents them and
docs/schemas/ holds their JSON Schemas, generated from these models (a test keeps them equal).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, model_validator

Id = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s#]+$")]


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LearnerRef(_Message):
    """Who the score is for: the learner id the launch handed the product, an LMS identity, or an email.

    Give exactly one of: `learner_id`; `issuer` + `user_id` (LTI 1.3 `sub`);
    `consumer_key` + `user_id` (LTI 1.1 `user_id`); `email` (a product account used outside any LMS:
    a later launch with that email asks its owner to merge, rule 12).
    """

    learner_id: Id | None = None
    issuer: Annotated[str, Field(min_length=1, max_length=512)] | None = None
    consumer_key: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    user_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    email: Annotated[str, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None

    @model_validator(mode="after")
    def _exactly_one_identity(self) -> LearnerRef:
        by_id = self.learner_id is not None
        by_13 = self.issuer is not None
        by_11 = self.consumer_key is not None
        by_email = self.email is not None
        if by_id + by_13 + by_11 + by_email != 1:
            raise ValueError("give exactly one of learner_id, issuer + user_id, consumer_key + user_id, email")
        if (by_13 or by_11) and not self.user_id:
            raise ValueError("an LMS identity needs user_id")
        if (by_id or by_email) and self.user_id is not None:
            raise ValueError("user_id goes with issuer or consumer_key, not learner_id or email")
        return self


class ScoreMessage(_Message):
    """Progress of one learner on one activity, so far."""

    type: Literal["score"]
    version: Literal[1] = 1
    message_id: Id
    learner: LearnerRef
    activity_id: Id
    answered: Annotated[int, Field(ge=0, le=100_000)]
    score: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    occurred_at: AwareDatetime


class ActivityMessage(_Message):
    """A product's catalog entry."""

    type: Literal["activity"]
    version: Literal[1] = 1
    message_id: Id
    activity_id: Id
    title: Annotated[str, Field(min_length=1, max_length=500)]
    min_questions: Annotated[int, Field(ge=1, le=10_000)] = 1
    product_url: HttpUrl | None = None


ProductMessage = Annotated[ScoreMessage | ActivityMessage, Field(discriminator="type")]


class ProductEnvelope(BaseModel):
    """What one SQS message body holds."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    message: ProductMessage


class CourseJob(_Message):
    """Work on many cells of one course, done by the release function in resumable chunks.

    `kind`: release (mark released, then sync), resync (clear backoff, try now), regrade
    (recompute enrollments' grades from progress, e.g. a newly assigned activity or a new
    link), sync (sync cells), roster (read the course's members from the LMS, NRPS, and sync
    what changed), relabel (an activity's new title on its LMS columns, services/column_labels.py).
    `cursor` continues a Query where the previous chunk stopped.
    """

    type: Literal["course_job"] = "course_job"
    version: Literal[1] = 1
    job_id: Id
    kind: Literal["release", "resync", "regrade", "sync", "roster", "relabel"]
    course_id: Id
    activity_id: Id | None = None
    learner_id: Id | None = None
    link_id: Id | None = None
    requested_by: Annotated[str, Field(max_length=256)] | None = None
    requested_at: datetime
    cursor: dict[str, Any] | None = None
    chunk: Annotated[int, Field(ge=0)] = 0


def parse_product_message(body: str) -> ScoreMessage | ActivityMessage:
    """Parse one score-queue body with powertools' parser; raises ValidationError when malformed."""
    from aws_lambda_powertools.utilities.parser import parse

    return parse(event={"message": _loads(body)}, model=ProductEnvelope).message


def describe_invalid(error: Exception, *, limit: int = 5) -> str:
    """What is wrong with a message, in its own field names: no model names, no library links.

    `score.learner: ...` becomes `learner: ...`; a URL error says what a URL must look like.
    """
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return str(error)
    parts = []
    for item in error.errors(include_url=False)[:limit]:
        loc = [str(p) for p in item.get("loc", ()) if not str(p).startswith("function-")]
        if loc[:1] == ["message"]:
            loc = loc[2:] if loc[1:2] and loc[1] in ("score", "activity") else loc[1:]
        kind, text = item.get("type", ""), str(item.get("msg", ""))
        if kind.startswith("url"):
            text = "must be an absolute http(s) URL, e.g. https://product.example.com/quiz-1"
        elif kind == "union_tag_invalid":
            loc, text = ["type"], "must be 'score' or 'activity'"
        elif kind == "union_tag_not_found":
            loc, text = ["type"], "is missing: give 'score' or 'activity'"
        elif kind == "model_attributes_type" and not loc:
            text = "must be a JSON object"
        elif kind == "extra_forbidden":
            text = "is not a field of this message (docs/messages.md lists them)"
        text = text.removeprefix("Value error, ")
        parts.append(f"{'.'.join(loc) or 'message'}: {text}")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _loads(body: str) -> Any:
    import json

    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise ValueError(f"the message body is not JSON: {error.msg} at position {error.pos}") from error
    except RecursionError as error:
        # Left uncaught this failed the record, so SQS redelivered it and then dead-lettered it with no reason.
        raise ValueError("the message body is not a message: its JSON nests too deeply") from error


class ReleaseRequest(_Message):
    """POST /api/v1/releases: release an activity's grades in a course (operators, automation)."""

    course_id: Id
    activity_id: Id
    requested_by: Annotated[str, Field(max_length=256)] | None = None


SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "score-message": ScoreMessage,
    "activity-message": ActivityMessage,
    "course-job": CourseJob,
    "release-request": ReleaseRequest,
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each message, as published in docs/schemas/<name>.schema.json."""
    schemas: dict[str, dict[str, Any]] = {}
    for name, model in SCHEMA_MODELS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"{name}.schema.json"
        schemas[name] = schema
    return schemas


def schema_text(schema: dict[str, Any]) -> str:
    import json

    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
