"""LTI Assignment and Grade Services: line items, scores and results, Canvas- or Moodle-flavoured.

The two flavours differ where real tools trip: how an unenrolled user is refused, and how a
score's timestamp is compared with the previous one (Canvas: older is refused, equal accepted;
Moodle: must be later at whole-second granularity).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard
from urllib.parse import quote, urlencode

from .claims import (
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
)
from .lms import Lms
from .state import AccessToken, LineItem, ScoreRecord
from .tokens import authenticate
from .urls import AgsRoute
from .wire import HttpError, Request, Response, json_response, oauth_error, text_response

LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEM_CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
RESULT_CONTAINER_TYPE = "application/vnd.ims.lis.v2.resultcontainer+json"

ACTIVITY_PROGRESS = frozenset({"Initialized", "Started", "InProgress", "Submitted", "Completed"})
GRADING_PROGRESS = frozenset({"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"})
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_READ_LINEITEMS = frozenset({SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY})
_WRITE_LINEITEMS = frozenset({SCOPE_LINEITEM})


@dataclass(frozen=True)
class ScoreInput:
    user_id: str
    score_given: float | None
    score_maximum: float | None
    activity_progress: str
    grading_progress: str
    timestamp: str
    parsed_timestamp: datetime
    comment: str | None


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 date-time with an explicit offset (fractional seconds allowed), else None."""
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class ScoreRejectedError(ValueError):
    """The score body is not acceptable; the message says why."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ScoreRejectedError(message)


def parse_score(body: Any) -> ScoreInput:
    """Validate a score body, raising ScoreRejectedError with a message saying what is wrong."""
    _check(isinstance(body, dict), "the score must be a JSON object")
    user_id = body.get("userId")
    _check(isinstance(user_id, str) and bool(user_id), "userId is required and must be a non-empty string")
    _check(
        body.get("activityProgress") in ACTIVITY_PROGRESS,
        f"activityProgress must be one of {sorted(ACTIVITY_PROGRESS)}",
    )
    _check(
        body.get("gradingProgress") in GRADING_PROGRESS,
        f"gradingProgress must be one of {sorted(GRADING_PROGRESS)}",
    )
    parsed = parse_timestamp(body.get("timestamp"))
    if parsed is None:
        raise ScoreRejectedError("timestamp is required and must be an ISO 8601 date-time with a UTC offset")
    given, maximum = body.get("scoreGiven"), body.get("scoreMaximum")
    _check(given is None or _is_number(given), "scoreGiven must be a number")
    _check(
        maximum is None or (_is_number(maximum) and maximum > 0),
        "scoreMaximum must be a number greater than 0",
    )
    _check(given is None or maximum is not None, "scoreMaximum is required when scoreGiven is present")
    _check(given is None or 0 <= given <= maximum, "scoreGiven must be between 0 and scoreMaximum")
    comment = body.get("comment")
    _check(comment is None or isinstance(comment, str), "comment must be a string")
    return ScoreInput(
        user_id=str(user_id),
        score_given=None if given is None else float(given),
        score_maximum=None if maximum is None else float(maximum),
        activity_progress=str(body["activityProgress"]),
        grading_progress=str(body["gradingProgress"]),
        timestamp=str(body["timestamp"]),
        parsed_timestamp=parsed,
        comment=comment,
    )


def timestamp_conflict(mode: str, previous: datetime, new: datetime) -> bool:
    """Whether `new` may not replace a score stamped `previous`."""
    if mode == "moodle":
        # Moodle stores whole seconds, so two scores within one second look like a replay.
        return _whole_seconds(new) <= _whole_seconds(previous)
    return new < previous


def _whole_seconds(moment: datetime) -> int:
    # Integer arithmetic: float timestamps lose microseconds far from 1970.
    return (moment - _EPOCH) // timedelta(seconds=1)


def _error(lms: Lms, status: int, message: str, error_type: str | None = None) -> HttpError:
    """An error in the platform's own style: Canvas answers JSON, Moodle plain text."""
    if lms.mode == "moodle":
        return HttpError(text_response(status, message))
    errors: dict[str, str] = {"message": message}
    if error_type:
        errors = {"type": error_type, "message": message}
    return HttpError(json_response(status, {"errors": errors}))


class Ags:
    def __init__(self, lms: Lms) -> None:
        self._lms = lms

    def handle(self, request: Request, route: AgsRoute) -> Response:
        handlers = {
            ("lineitems", "GET"): self._list_line_items,
            ("lineitems", "POST"): self._create_line_item,
            ("lineitem", "GET"): self._get_line_item,
            ("lineitem", "PUT"): self._put_line_item,
            ("scores", "POST"): self._post_score,
            ("results", "GET"): self._get_results,
        }
        handler = handlers.get((route.kind, request.method))
        if handler is None:
            return text_response(405, f"{request.method} is not allowed here")
        return handler(request, route)

    # -- shared checks ------------------------------------------------------------------------

    def _authorize(self, request: Request, scopes: frozenset[str]) -> tuple[AccessToken, int]:
        """The caller's token and its tool's Moodle type id; raises HttpError when not allowed."""
        grant = authenticate(self._lms, request, scopes)
        if isinstance(grant, Response):
            raise HttpError(grant)
        with self._lms.state.lock:
            tool = self._lms.state.tools.get(grant.client_id)
        if tool is None:
            raise HttpError(oauth_error(401, "invalid_token", "the tool of this token is not registered"))
        if self._lms.mode == "moodle" and request.query_params().get("type_id") != str(tool.type_id):
            raise HttpError(text_response(400, "No type_id or a type_id that is not this tool's"))
        return grant, tool.type_id

    def _line_item(self, route: AgsRoute) -> LineItem:
        with self._lms.state.lock:
            item = self._lms.state.line_items.get(route.line_item_id or 0)
        if item is None or item.context_id != route.context_id:
            raise _error(self._lms, 404, "line item not found", "not_found")
        return item

    def _require_course(self, context_id: str) -> None:
        with self._lms.state.lock:
            if context_id not in self._lms.state.courses:
                raise _error(self._lms, 404, "course not found", "not_found")

    def _json_body(self, request: Request, content_type: str) -> Any:
        if request.content_type != content_type:
            raise _error(self._lms, 415, f"Content-Type must be {content_type}")
        try:
            return request.json()
        except ValueError as exc:
            raise _error(self._lms, 400, "the body is not JSON") from exc

    def line_item_json(self, item: LineItem, type_id: int) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self._lms.urls.lineitem(item.context_id, item.id, type_id),
            "label": item.label,
            "scoreMaximum": item.score_maximum,
        }
        optional = {"resourceLinkId": item.resource_link_id, "resourceId": item.resource_id, "tag": item.tag}
        data.update({name: value for name, value in optional.items() if value is not None})
        return data

    # -- line items ---------------------------------------------------------------------------

    def _list_line_items(self, request: Request, route: AgsRoute) -> Response:
        _, type_id = self._authorize(request, _READ_LINEITEMS)
        self._require_course(route.context_id)
        query = request.query_params()
        with self._lms.state.lock:
            filters = self._lms.state.line_item_filters
        wanted = {
            "resource_link_id": query.get("resource_link_id") if filters else None,
            "resource_id": query.get("resource_id") if filters else None,
            "tag": query.get("tag") if filters else None,
        }
        with self._lms.state.lock:
            items = [
                item
                for item in self._lms.state.line_items.values()
                if item.context_id == route.context_id
                and wanted["resource_link_id"] in (None, item.resource_link_id)
                and wanted["resource_id"] in (None, item.resource_id)
                and wanted["tag"] in (None, item.tag)
            ]
        try:
            limit = int(query["limit"]) if "limit" in query else 0
            page = int(query.get("page", "1"))
        except ValueError as exc:
            raise _error(self._lms, 400, "limit and page must be integers") from exc
        headers: dict[str, str] = {}
        if limit > 0 and page > 0:
            start = (page - 1) * limit
            if start + limit < len(items):
                next_query = urlencode({**query, "page": str(page + 1)})
                headers["Link"] = f'<{self._lms.urls.base}{request.path}?{next_query}>; rel="next"'
            items = items[start : start + limit]
        response = json_response(200, [self.line_item_json(item, type_id) for item in items], LINEITEM_CONTAINER_TYPE)
        response.headers.update(headers)
        return response

    def _create_line_item(self, request: Request, route: AgsRoute) -> Response:
        _, type_id = self._authorize(request, _WRITE_LINEITEMS)
        self._require_course(route.context_id)
        body = self._json_body(request, LINEITEM_TYPE)
        if not isinstance(body, dict):
            raise _error(self._lms, 400, "the line item must be a JSON object")
        label, maximum = body.get("label"), body.get("scoreMaximum")
        if not isinstance(label, str) or not label.strip():
            raise _error(self._lms, 400, "label is required")
        if not _is_number(maximum) or maximum <= 0:
            raise _error(self._lms, 400, "scoreMaximum must be a number greater than 0")
        optional: dict[str, str | None] = {}
        for name in ("resourceLinkId", "resourceId", "tag"):
            value = body.get(name)
            if value is not None and not isinstance(value, str):
                raise _error(self._lms, 400, f"{name} must be a string")
            optional[name] = value
        link_id = optional["resourceLinkId"]
        with self._lms.state.lock:
            if link_id is not None and (route.context_id, link_id) not in self._lms.state.links:
                raise _error(self._lms, 400, f"resourceLinkId {link_id!r} is not a link in this course")
            item = self._lms.state.create_line_item(
                route.context_id,
                label=label,
                score_maximum=float(maximum),
                resource_link_id=link_id,
                resource_id=optional["resourceId"],
                tag=optional["tag"],
            )
        return json_response(201, self.line_item_json(item, type_id), LINEITEM_TYPE)

    def _get_line_item(self, request: Request, route: AgsRoute) -> Response:
        _, type_id = self._authorize(request, _READ_LINEITEMS)
        item = self._line_item(route)
        return json_response(200, self.line_item_json(item, type_id), LINEITEM_TYPE)

    def _put_line_item(self, request: Request, route: AgsRoute) -> Response:
        _, type_id = self._authorize(request, _WRITE_LINEITEMS)
        item = self._line_item(route)
        refusal = self._lms.state.line_item_put_refusal
        if refusal is not None:
            self._lms.stats.count("lineitem_update_refused")
            raise _error(self._lms, refusal, "Changing a line item is not supported")
        body = self._json_body(request, LINEITEM_TYPE)
        label = body.get("label") if isinstance(body, dict) else None
        if not isinstance(label, str) or not label.strip():
            raise _error(self._lms, 400, "label is required")
        with self._lms.state.lock:
            item.label = label
        self._lms.stats.count("lineitem_update")
        return json_response(200, self.line_item_json(item, type_id), LINEITEM_TYPE)

    # -- scores and results -------------------------------------------------------------------

    def _post_score(self, request: Request, route: AgsRoute) -> Response:
        lms = self._lms
        grant, type_id = self._authorize(request, frozenset({SCOPE_SCORE}))
        item = self._line_item(route)
        try:
            score = parse_score(self._json_body(request, SCORE_TYPE))
        except ScoreRejectedError as exc:
            raise _error(lms, 400, str(exc), "bad_request") from exc
        with lms.state.lock:
            inactive = score.user_id in lms.state.inactive.get(item.context_id, set())
            if lms.state.course_role(item.context_id, score.user_id) is None or inactive:
                if lms.mode == "moodle":
                    raise HttpError(text_response(400, "User is not in course"))
                raise _error(lms, 422, "User not found in course or is not a student", "unprocessable_entity")
            key = (item.id, score.user_id)
            previous = lms.state.latest_scores.get(key)
            if previous is not None and timestamp_conflict(lms.mode, previous.parsed_timestamp, score.parsed_timestamp):
                if lms.mode == "moodle":
                    raise HttpError(text_response(409, "Score is not newer than the existing score"))
                raise _error(lms, 400, "score timestamp must be greater than the existing score timestamp")
            record = ScoreRecord(
                context_id=item.context_id,
                resource_link_id=item.resource_link_id,
                line_item_id=item.id,
                line_item_url=lms.urls.lineitem(item.context_id, item.id, type_id),
                user_id=score.user_id,
                score_given=score.score_given,
                score_maximum=score.score_maximum,
                timestamp=score.timestamp,
                parsed_timestamp=score.parsed_timestamp,
                activity_progress=score.activity_progress,
                grading_progress=score.grading_progress,
                comment=score.comment,
                client_id=grant.client_id,
                received_at=time.time(),
            )
            lms.state.latest_scores[key] = record
            lms.state.score_history.append(record)
        lms.stats.count("score_accepted")
        if lms.mode == "moodle":
            return Response(200)
        return json_response(200, {"resultUrl": self._result_url(item, type_id, score.user_id)})

    def _result_url(self, item: LineItem, type_id: int, user_id: str) -> str:
        results = self._lms.urls.results(item.context_id, item.id, type_id)
        path, sep, query = results.partition("?")
        return f"{path}/{quote(user_id, safe='')}{sep}{query}"

    def _get_results(self, request: Request, route: AgsRoute) -> Response:
        _, type_id = self._authorize(request, frozenset({SCOPE_RESULT_READONLY}))
        item = self._line_item(route)
        wanted_user = request.query_params().get("user_id")
        with self._lms.state.lock:
            records = [
                record
                for (item_id, user_id), record in self._lms.state.latest_scores.items()
                if item_id == item.id and wanted_user in (None, user_id)
            ]
        results: list[dict[str, Any]] = []
        for record in records:
            result: dict[str, Any] = {
                "id": self._result_url(item, type_id, record.user_id),
                "scoreOf": self._lms.urls.lineitem(item.context_id, item.id, type_id),
                "userId": record.user_id,
                "resultMaximum": item.score_maximum,
            }
            if record.score_given is not None and record.score_maximum:
                # Results are on the line item's scale, whatever scale the score was posted on.
                result["resultScore"] = record.score_given / record.score_maximum * item.score_maximum
            if record.comment is not None:
                result["comment"] = record.comment
            results.append(result)
        return json_response(200, results, RESULT_CONTAINER_TYPE)
