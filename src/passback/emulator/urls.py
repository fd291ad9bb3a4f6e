"""Service URLs in the shape Canvas or Moodle uses, and the parser that maps them back.

Building and parsing live side by side so the URLs handed out in launches are always ones the
router understands. Moodle's AGS URLs carry `?type_id=N`; a tool that appends `/scores` to the
line item URL without keeping the query string must fail here as it would on a real Moodle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote

Mode = Literal["canvas", "moodle"]
AgsKind = Literal["lineitems", "lineitem", "scores", "results", "memberships"]

_CANVAS_ROUTES: list[tuple[re.Pattern[str], AgsKind]] = [
    (re.compile(r"^/api/lti/courses/(?P<ctx>[^/]+)/line_items$"), "lineitems"),
    (re.compile(r"^/api/lti/courses/(?P<ctx>[^/]+)/line_items/(?P<id>\d+)$"), "lineitem"),
    (re.compile(r"^/api/lti/courses/(?P<ctx>[^/]+)/line_items/(?P<id>\d+)/scores$"), "scores"),
    (re.compile(r"^/api/lti/courses/(?P<ctx>[^/]+)/line_items/(?P<id>\d+)/results$"), "results"),
    (re.compile(r"^/api/lti/courses/(?P<ctx>[^/]+)/names_and_roles$"), "memberships"),
]
_MOODLE_PREFIX = "/mod/lti/services.php"
_MOODLE_ROUTES: list[tuple[re.Pattern[str], AgsKind]] = [
    (re.compile(rf"^{re.escape(_MOODLE_PREFIX)}/(?P<ctx>[^/]+)/lineitems$"), "lineitems"),
    (re.compile(rf"^{re.escape(_MOODLE_PREFIX)}/(?P<ctx>[^/]+)/lineitems/(?P<id>\d+)/lineitem$"), "lineitem"),
    (
        re.compile(rf"^{re.escape(_MOODLE_PREFIX)}/(?P<ctx>[^/]+)/lineitems/(?P<id>\d+)/lineitem/scores$"),
        "scores",
    ),
    (
        re.compile(rf"^{re.escape(_MOODLE_PREFIX)}/(?P<ctx>[^/]+)/lineitems/(?P<id>\d+)/lineitem/results$"),
        "results",
    ),
    (
        re.compile(rf"^{re.escape(_MOODLE_PREFIX)}/CourseSection/(?P<ctx>[^/]+)/bindings/(?P<type>\d+)/memberships$"),
        "memberships",
    ),
]


@dataclass(frozen=True)
class AgsRoute:
    kind: AgsKind
    context_id: str
    line_item_id: int | None


def _seg(value: str) -> str:
    return quote(value, safe="")


@dataclass(frozen=True)
class Urls:
    base: str
    mode: Mode

    @property
    def auth(self) -> str:
        return f"{self.base}/auth"

    @property
    def token(self) -> str:
        return f"{self.base}/token"

    @property
    def jwks(self) -> str:
        return f"{self.base}/jwks"

    @property
    def outcomes(self) -> str:
        return f"{self.base}/outcomes"

    @property
    def return_url(self) -> str:
        return f"{self.base}/return"

    def lineitems(self, context_id: str, type_id: int) -> str:
        if self.mode == "moodle":
            return f"{self.base}{_MOODLE_PREFIX}/{_seg(context_id)}/lineitems?type_id={type_id}"
        return f"{self.base}/api/lti/courses/{_seg(context_id)}/line_items"

    def lineitem(self, context_id: str, item_id: int, type_id: int) -> str:
        return self._item_path(context_id, item_id) + self._query(type_id)

    def scores(self, context_id: str, item_id: int, type_id: int) -> str:
        return self._item_path(context_id, item_id) + "/scores" + self._query(type_id)

    def results(self, context_id: str, item_id: int, type_id: int) -> str:
        return self._item_path(context_id, item_id) + "/results" + self._query(type_id)

    def memberships(self, context_id: str, type_id: int) -> str:
        if self.mode == "moodle":
            return f"{self.base}{_MOODLE_PREFIX}/CourseSection/{_seg(context_id)}/bindings/{type_id}/memberships"
        return f"{self.base}/api/lti/courses/{_seg(context_id)}/names_and_roles"

    def _item_path(self, context_id: str, item_id: int) -> str:
        if self.mode == "moodle":
            return f"{self.base}{_MOODLE_PREFIX}/{_seg(context_id)}/lineitems/{item_id}/lineitem"
        return f"{self.base}/api/lti/courses/{_seg(context_id)}/line_items/{item_id}"

    def _query(self, type_id: int) -> str:
        return f"?type_id={type_id}" if self.mode == "moodle" else ""

    def parse_ags(self, path: str) -> AgsRoute | None:
        routes = _MOODLE_ROUTES if self.mode == "moodle" else _CANVAS_ROUTES
        for pattern, kind in routes:
            match = pattern.match(path)
            if match:
                item = match.groupdict().get("id")
                return AgsRoute(kind, unquote(match["ctx"]), int(item) if item else None)
        return None
