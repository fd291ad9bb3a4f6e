"""LTI 1.3 Assignment and Grade Services: scores and line items."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from passback.domain.delivery import FailureKind
from passback.domain.grading import grades_are_percentages_ags
from passback.lms.errors import LmsError, lms_message
from passback.lms.http import Http, PlatformGate, retry_after_seconds
from passback.lms.tokens import TokenCache, TokenEndpoint

SCORE_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINEITEM_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
LINEITEM_READ_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
RESULT_READ_SCOPE = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
CONTAINER_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"


def scores_url(line_item_url: str) -> str:
    """The line item URL with `/scores` added to its path, keeping its query (Moodle's carry one)."""
    parts = urlsplit(line_item_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + "/scores", parts.query, parts.fragment))


def score_body(user_id: str, percent: float, timestamp: int, *, answered: int | None = None) -> dict[str, Any]:
    """An AGS score (rule 5: scoreGiven out of scoreMaximum 100).

    gradingProgress is FullyGraded: the value is the product's grade as of now, and the LMS
    records it only when fully graded. activityProgress says what the learner did: no answer
    at all (a deadline zero) is Initialized, some answers are Submitted.
    """
    given, maximum = grades_are_percentages_ags(percent)
    return {
        "userId": user_id,
        "scoreGiven": given,
        "scoreMaximum": maximum,
        "activityProgress": "Initialized" if answered == 0 else "Submitted",
        "gradingProgress": "FullyGraded",
        "timestamp": datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
    }


class AgsClient:
    def __init__(self, http: Http, gate: PlatformGate, tokens: TokenCache) -> None:
        self._http = http
        self._gate = gate
        self._tokens = tokens
        self.score_posts = 0

    def post_score(
        self,
        endpoint: TokenEndpoint,
        line_item_url: str,
        user_id: str,
        percent: float,
        timestamp: int,
        *,
        answered: int | None = None,
    ) -> None:
        body = score_body(user_id, percent, timestamp, answered=answered)
        url = scores_url(line_item_url)

        def send(token: str) -> requests.Response:
            self.score_posts += 1
            return self._http.request(
                "POST", url, json=body, headers={"Authorization": f"Bearer {token}", "Content-Type": SCORE_TYPE}
            )

        response = self._authorised(endpoint, (SCORE_SCOPE,), send)
        if response.status_code in (200, 201, 202, 204):
            return
        raise self._error(endpoint, response, score=True)

    def find_or_create_line_item(
        self,
        endpoint: TokenEndpoint,
        line_items_url: str,
        *,
        resource_link_id: str,
        resource_id: str | None,
        label: str,
        can_create: bool,
    ) -> str | None:
        """The link's line item: found by resourceLinkId in the container, or created (scoreMaximum 100)."""
        scopes = (LINEITEM_SCOPE,) if can_create else (LINEITEM_READ_SCOPE,)

        def find(token: str) -> requests.Response:
            return self._http.request(
                "GET",
                line_items_url,
                params={"resource_link_id": resource_link_id},
                headers={"Authorization": f"Bearer {token}", "Accept": CONTAINER_TYPE},
            )

        response = self._authorised(endpoint, scopes, find)
        if response.status_code != 200:
            raise self._error(endpoint, response)
        for item in _json_list(response):
            if str(item.get("resourceLinkId", "")) == resource_link_id and item.get("id"):
                return str(item["id"])
        if not can_create:
            return None
        new = {"label": label, "scoreMaximum": 100, "resourceLinkId": resource_link_id}
        if resource_id:
            new["resourceId"] = resource_id

        def create(token: str) -> requests.Response:
            return self._http.request(
                "POST",
                line_items_url,
                json=new,
                headers={"Authorization": f"Bearer {token}", "Content-Type": LINEITEM_TYPE, "Accept": LINEITEM_TYPE},
            )

        response = self._authorised(endpoint, scopes, create)
        if response.status_code not in (200, 201):
            raise self._error(endpoint, response)
        created = response.json()
        return str(created["id"]) if isinstance(created, dict) and created.get("id") else None

    def _authorised(
        self, endpoint: TokenEndpoint, scopes: tuple[str, ...], call: Callable[[str], requests.Response]
    ) -> requests.Response:
        """Call with a cached token; on 401 forget it and try once more with a fresh one.

        The token is fetched outside the call's platform slot: fetching takes a slot of its own,
        and nesting the two would deadlock once every slot is held by a caller waiting for a token.
        """
        token = self._tokens.token(endpoint, scopes)
        with self._gate.slot(endpoint.platform_id):
            response = call(token)
        if response.status_code == 401:
            self._tokens.refused(endpoint, scopes, token)
            token = self._tokens.token(endpoint, scopes)
            with self._gate.slot(endpoint.platform_id):
                response = call(token)
        return response

    def _error(self, endpoint: TokenEndpoint, response: requests.Response, *, score: bool = False) -> LmsError:
        retry_after = retry_after_seconds(response)
        if response.status_code == 429:
            self._gate.back_off(endpoint.platform_id, retry_after or 60.0)
        message = lms_message(response.status_code, response.text, response.headers.get("Content-Type", ""))
        # Canvas answers 400 to an older timestamp and Moodle 409 to one not later at whole seconds.
        conflict = score and (response.status_code == 409 or (response.status_code == 400 and "timestamp" in message))
        if score and response.status_code in (404, 410):
            # The scores endpoint of a line item that no longer exists: the LMS column was deleted.
            return LmsError(message, status=response.status_code, kind=FailureKind.COLUMN_DELETED)
        return LmsError(message, status=response.status_code, retry_after=retry_after, timestamp_conflict=conflict)

    # For the other AGS clients (line items): the same token handling, gate and error mapping.
    def authorised(
        self, endpoint: TokenEndpoint, scopes: tuple[str, ...], call: Callable[[str], requests.Response]
    ) -> requests.Response:
        return self._authorised(endpoint, scopes, call)

    def error(self, endpoint: TokenEndpoint, response: requests.Response) -> LmsError:
        return self._error(endpoint, response)

    @property
    def http(self) -> Http:
        return self._http


def _json_list(response: requests.Response) -> list[dict[str, Any]]:
    try:
        data = response.json()
    except ValueError:
        return []
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
