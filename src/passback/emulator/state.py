"""Everything the emulated LMS knows, in memory, guarded by one re-entrant lock.

Endpoint modules read and write these records only while holding `EmulatorState.lock`; the lock
is re-entrant so a helper that locks can be called from code that already does.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

LineItemMode = bool | Literal["container_only"]

LIS_MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
LIS_INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"

# Course roles the emulator knows, with their LTI 1.3 membership role and LTI 1.1 role name.
COURSE_ROLES = {
    "student": (LIS_MEMBERSHIP + "Learner", LIS_INSTITUTION + "Student", "Learner"),
    "instructor": (LIS_MEMBERSHIP + "Instructor", LIS_INSTITUTION + "Faculty", "Instructor"),
}


def check_role(role: str) -> str:
    if role not in COURSE_ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {sorted(COURSE_ROLES)}")
    return role


@dataclass
class Tool:
    client_id: str
    login_url: str
    launch_url: str
    jwks_url: str
    deployment_ids: list[str]
    lti11_consumer_key: str | None
    lti11_secret: str | None
    # Moodle's "tool type id"; it appears as ?type_id= on every Moodle AGS URL.
    type_id: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "login_url": self.login_url,
            "launch_url": self.launch_url,
            "jwks_url": self.jwks_url,
            "deployment_ids": list(self.deployment_ids),
            "lti11_consumer_key": self.lti11_consumer_key,
            "type_id": self.type_id,
        }


@dataclass
class Course:
    context_id: str
    title: str
    label: str


@dataclass
class User:
    user_id: str
    name: str
    email: str
    roles: list[str]

    @property
    def given_name(self) -> str:
        return self.name.split(" ", 1)[0]

    @property
    def family_name(self) -> str:
        parts = self.name.split(" ", 1)
        return parts[1] if len(parts) > 1 else ""


@dataclass
class Link:
    context_id: str
    resource_link_id: str
    title: str
    custom: dict[str, str]
    line_item_mode: LineItemMode
    score_maximum: float
    line_item_id: int | None


@dataclass
class LineItem:
    id: int
    context_id: str
    label: str
    score_maximum: float
    resource_link_id: str | None
    resource_id: str | None
    tag: str | None


@dataclass
class ScoreRecord:
    context_id: str
    resource_link_id: str | None
    line_item_id: int
    line_item_url: str
    user_id: str
    score_given: float | None
    score_maximum: float | None
    timestamp: str
    parsed_timestamp: datetime
    activity_progress: str
    grading_progress: str
    comment: str | None
    client_id: str
    received_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "context_id": self.context_id,
            "resource_link_id": self.resource_link_id,
            "line_item_url": self.line_item_url,
            "user_id": self.user_id,
            "score_given": self.score_given,
            "score_maximum": self.score_maximum,
            "timestamp": self.timestamp,
            "activity_progress": self.activity_progress,
            "grading_progress": self.grading_progress,
            "comment": self.comment,
            "client_id": self.client_id,
            "received_at": self.received_at,
        }


@dataclass(frozen=True)
class SourcedId:
    """What an LTI 1.1 lis_result_sourcedid stands for."""

    consumer_key: str
    context_id: str
    resource_link_id: str
    user_id: str


@dataclass
class OutcomeRecord:
    sourcedid: str
    consumer_key: str
    context_id: str
    resource_link_id: str
    user_id: str
    score: float
    result_data: str | None
    received_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "sourcedid": self.sourcedid,
            "context_id": self.context_id,
            "resource_link_id": self.resource_link_id,
            "user_id": self.user_id,
            "score": self.score,
            "result_data": self.result_data,
            "received_at": self.received_at,
        }


@dataclass
class AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    # Tokens from an older epoch count as expired: that is how faults.expire_tokens() works.
    epoch: int


@dataclass(frozen=True)
class LaunchHint:
    """What an opaque lti_message_hint stands for."""

    client_id: str
    user_id: str
    context_id: str
    resource_link_id: str
    deployment_id: str
    extra_claims: dict[str, Any] = field(default_factory=dict)
    # Set for a deep-linking request: its deep_linking_settings claim (no resource link then).
    deep_link: dict[str, Any] | None = None


@dataclass
class PendingDeepLink:
    """A deep-linking request the LMS sent, waiting for the tool's answer (found by its `data`)."""

    client_id: str
    context_id: str
    deployment_id: str
    user_id: str
    answered: bool = False


class EmulatorState:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        # The LMS's wall clock: real time unless a test simulates hours (then it shares the tool's clock).
        self.now: Callable[[], float] = clock or time.time
        self.lock = threading.RLock()
        self.tools: dict[str, Tool] = {}
        # LTI 1.1 to 1.3: client id -> (1.1 consumer key, its secret, its "sign the claim wrongly" flag),
        # and user id -> that user's LTI 1.1 user_id where the LMS changed it (Canvas does).
        self.migrated_tools: dict[str, tuple[str, str, bool]] = {}
        self.legacy_user_ids: dict[str, str] = {}
        self.courses: dict[str, Course] = {}
        self.users: dict[str, User] = {}
        self.enrollments: dict[str, dict[str, str]] = {}
        self.links: dict[tuple[str, str], Link] = {}
        self.line_items: dict[int, LineItem] = {}
        self.latest_scores: dict[tuple[int, str], ScoreRecord] = {}
        self.score_history: list[ScoreRecord] = []
        self.sourcedids: dict[str, SourcedId] = {}
        self.outcomes: dict[str, OutcomeRecord] = {}
        self.outcome_history: list[OutcomeRecord] = []
        self.hints: dict[str, LaunchHint] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.token_epoch = 0
        self.used_jtis: set[tuple[str, str]] = set()
        self.used_oauth1_nonces: set[tuple[str, str]] = set()
        self._next_line_item_id = 1
        self.deep_link_requests: dict[str, PendingDeepLink] = {}
        self.deep_link_responses: list[dict[str, Any]] = []
        # NRPS: members the roster shows as Inactive, per course.
        self.inactive: dict[str, set[str]] = {}
        self.nrps_page_cap = 1000
        # False: the line item container ignores resource_link_id/resource_id/tag filters (some LMSs do).
        self.line_item_filters = True
        # An HTTP status (403, 405, 501): the platform refuses PUT on line items (a label change), as some LMSs do.
        self.line_item_put_refusal: int | None = None

    # -- registration -------------------------------------------------------------------------

    def register_tool(
        self,
        client_id: str,
        *,
        login_url: str,
        launch_url: str,
        jwks_url: str,
        deployment_ids: Sequence[str],
        lti11_consumer_key: str | None,
        lti11_secret: str | None,
    ) -> Tool:
        if not client_id:
            raise ValueError("client_id must not be empty")
        if not deployment_ids:
            raise ValueError("a tool needs at least one deployment id")
        if (lti11_consumer_key is None) != (lti11_secret is None):
            raise ValueError("lti11_consumer_key and lti11_secret go together")
        with self.lock:
            existing = self.tools.get(client_id)
            type_id = existing.type_id if existing else len(self.tools) + 1
            tool = Tool(
                client_id=client_id,
                login_url=login_url,
                launch_url=launch_url,
                jwks_url=jwks_url,
                deployment_ids=list(deployment_ids),
                lti11_consumer_key=lti11_consumer_key,
                lti11_secret=lti11_secret,
                type_id=type_id,
            )
            self.tools[client_id] = tool
            return tool

    def tool(self, client_id: str) -> Tool:
        with self.lock:
            if client_id not in self.tools:
                raise KeyError(f"no tool registered with client_id {client_id!r}")
            return self.tools[client_id]

    def tool_by_consumer_key(self, consumer_key: str) -> Tool | None:
        with self.lock:
            for tool in self.tools.values():
                if tool.lti11_consumer_key == consumer_key:
                    return tool
            return None

    # -- courses, people, links ---------------------------------------------------------------

    def add_course(self, context_id: str, title: str, label: str | None = None) -> Course:
        with self.lock:
            course = Course(context_id, title, label or context_id)
            self.courses[context_id] = course
            self.enrollments.setdefault(context_id, {})
            return course

    def course(self, context_id: str) -> Course:
        with self.lock:
            if context_id not in self.courses:
                raise KeyError(f"no course {context_id!r}")
            return self.courses[context_id]

    def add_user(self, user_id: str, *, name: str, email: str, roles: Sequence[str]) -> User:
        for role in roles:
            check_role(role)
        with self.lock:
            user = User(user_id, name, email, list(roles))
            self.users[user_id] = user
            return user

    def user(self, user_id: str) -> User:
        with self.lock:
            if user_id not in self.users:
                raise KeyError(f"no user {user_id!r}")
            return self.users[user_id]

    def enroll(self, context_id: str, user_id: str, role: str) -> None:
        check_role(role)
        with self.lock:
            self.course(context_id)
            self.user(user_id)
            self.enrollments[context_id][user_id] = role

    def drop(self, context_id: str, user_id: str) -> None:
        with self.lock:
            self.course(context_id)
            self.enrollments[context_id].pop(user_id, None)

    def course_role(self, context_id: str, user_id: str) -> str | None:
        with self.lock:
            return self.enrollments.get(context_id, {}).get(user_id)

    def add_link(
        self,
        context_id: str,
        resource_link_id: str,
        *,
        title: str,
        custom: dict[str, str] | None,
        line_item: LineItemMode,
        score_maximum: float,
    ) -> Link:
        if line_item not in (True, False, "container_only"):
            raise ValueError("line_item must be True, False or 'container_only'")
        with self.lock:
            self.course(context_id)
            line_item_id = None
            if line_item is True:
                line_item_id = self.create_line_item(
                    context_id,
                    label=title,
                    score_maximum=score_maximum,
                    resource_link_id=resource_link_id,
                    resource_id=None,
                    tag=None,
                ).id
            link = Link(
                context_id=context_id,
                resource_link_id=resource_link_id,
                title=title,
                custom=dict(custom or {}),
                line_item_mode=line_item,
                score_maximum=score_maximum,
                line_item_id=line_item_id,
            )
            self.links[(context_id, resource_link_id)] = link
            return link

    def link(self, context_id: str, resource_link_id: str) -> Link:
        with self.lock:
            key = (context_id, resource_link_id)
            if key not in self.links:
                raise KeyError(f"no link {resource_link_id!r} in course {context_id!r}")
            return self.links[key]

    def create_line_item(
        self,
        context_id: str,
        *,
        label: str,
        score_maximum: float,
        resource_link_id: str | None,
        resource_id: str | None,
        tag: str | None,
    ) -> LineItem:
        with self.lock:
            item = LineItem(
                id=self._next_line_item_id,
                context_id=context_id,
                label=label,
                score_maximum=score_maximum,
                resource_link_id=resource_link_id,
                resource_id=resource_id,
                tag=tag,
            )
            self._next_line_item_id += 1
            self.line_items[item.id] = item
            return item

    def delete_line_item(self, item_id: int) -> None:
        """An instructor deletes the column in the LMS: its scores go, its link's launches lose `lineitem`."""
        with self.lock:
            item = self.line_items.pop(item_id, None)
            if item is None:
                raise KeyError(f"no line item {item_id}")
            for link in self.links.values():
                if link.line_item_id == item_id:
                    link.line_item_id = None
                    link.line_item_mode = "container_only"
            for key in [key for key in self.latest_scores if key[0] == item_id]:
                del self.latest_scores[key]

    # -- launch hints and sourcedids ----------------------------------------------------------

    def issue_hint(self, hint: LaunchHint) -> str:
        token = secrets.token_urlsafe(18)
        with self.lock:
            self.hints[token] = hint
        return token

    def sourcedid_for(self, sourced: SourcedId) -> str:
        with self.lock:
            for existing, value in self.sourcedids.items():
                if value == sourced:
                    return existing
            # Real LMSes hand out opaque, stable sourcedids; the random part makes guessing useless.
            sourcedid = f"{sourced.context_id}:{sourced.resource_link_id}:{secrets.token_hex(8)}"
            self.sourcedids[sourcedid] = sourced
            return sourcedid

    # -- read models --------------------------------------------------------------------------

    def scores(self, context_id: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                record.as_dict()
                for record in self.latest_scores.values()
                if context_id is None or record.context_id == context_id
            ]

    def gradebook(self) -> dict[str, dict[str, dict[str, float]]]:
        """Percent per (course, user, link), from whichever of AGS and Basic Outcomes came last."""
        with self.lock:
            entries: list[tuple[float, str, str, str, float]] = []
            for score in self.latest_scores.values():
                if score.score_given is None or not score.score_maximum:
                    continue
                link_key = score.resource_link_id or score.line_item_url
                percent = 100.0 * score.score_given / score.score_maximum
                entries.append((score.received_at, score.context_id, score.user_id, link_key, percent))
            for outcome in self.outcomes.values():
                entries.append(
                    (
                        outcome.received_at,
                        outcome.context_id,
                        outcome.user_id,
                        outcome.resource_link_id,
                        100.0 * outcome.score,
                    )
                )
        book: dict[str, dict[str, dict[str, float]]] = {}
        for _, context_id, user_id, link_key, percent in sorted(entries, key=lambda e: e[0]):
            book.setdefault(context_id, {}).setdefault(user_id, {})[link_key] = round(percent, 6)
        return book
