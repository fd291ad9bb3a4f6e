"""Building messages and checking them against Passback's published JSON Schemas (shipped here)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

SCHEMAS = {"score": "score-message.schema.json", "activity": "activity-message.schema.json"}


@cache
def _validator(kind: str) -> Any:
    from jsonschema import Draft202012Validator, FormatChecker

    text = resources.files("passback_client").joinpath("schemas", SCHEMAS[kind]).read_text(encoding="utf-8")
    return Draft202012Validator(json.loads(text), format_checker=FormatChecker())


def check(message: Any) -> list[str]:
    """Every problem of a message, as 'field: what' lines; empty when it is valid."""
    if not isinstance(message, dict):
        return ["message: must be a JSON object"]
    kind = message.get("type")
    if kind not in SCHEMAS:
        return ['type: must be "score" or "activity"']
    problems = []
    for error in sorted(_validator(kind).iter_errors(message), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in error.absolute_path) or "message"
        problems.append(f"{where}: {error.message}")
    return problems


def score(
    learner: dict[str, str],
    activity_id: str,
    answered: int,
    percent: float,
    occurred_at: datetime | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """A score message: this learner, on this activity, so far (progress, not a delta)."""
    return {
        "type": "score",
        "version": 1,
        "message_id": message_id or uuid.uuid4().hex,
        "learner": learner,
        "activity_id": activity_id,
        "answered": answered,
        "score": percent,
        "occurred_at": (occurred_at or datetime.now(UTC)).isoformat(),
    }


def activity(
    activity_id: str, title: str, min_questions: int = 1, product_url: str | None = None, message_id: str | None = None
) -> dict[str, Any]:
    """An activity (catalog) message: publishing it makes the activity this product's."""
    message: dict[str, Any] = {
        "type": "activity",
        "version": 1,
        "message_id": message_id or uuid.uuid4().hex,
        "activity_id": activity_id,
        "title": title,
        "min_questions": min_questions,
    }
    if product_url:
        message["product_url"] = product_url
    return message
