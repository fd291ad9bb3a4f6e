"""Names and Role Provisioning Services: the course's members, read page by page.

Plain requests through the AGS client's token cache, per-platform gate and error mapping (the
same as scores: timeouts, the concurrency cap, 429 backoff); never pylti1p3's service connector.
Pages follow `Link: <...>; rel="next"` (NRPS 2.0), at most `MAX_PAGES`, asking for `PAGE_SIZE`
members each (platforms may send fewer: Canvas caps a page at 50 members).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import requests

from passback.domain.delivery import FailureKind
from passback.domain.roster import ACTIVE, Member
from passback.lms.ags import AgsClient
from passback.lms.errors import LmsError
from passback.lms.http import PageLinks
from passback.lms.tokens import TokenEndpoint

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEMBERSHIP_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
PAGE_SIZE = 1000
MAX_PAGES = 500
# What one read may hold in memory: a page's body (1,000 members are about 300 KB) and the members.
MAX_PAGE_BYTES = 8 * 1024 * 1024
MAX_MEMBERS = 100_000


class RosterClient:
    def __init__(self, ags: AgsClient) -> None:
        self._ags = ags
        self.requests_made = 0

    def pages(self, endpoint: TokenEndpoint, memberships_url: str) -> Iterator[list[Member]]:
        """Each page of members, in order; raises LmsError (which says whether to retry)."""
        url: str | None = memberships_url
        params: dict[str, str] | None = {"limit": str(PAGE_SIZE)}
        links = PageLinks(memberships_url)
        for _ in range(MAX_PAGES):
            if url is None:
                return
            response = self._get(endpoint, url, params)
            yield [member for member in map(_member, _members(response)) if member is not None]
            url, params = links.next_url(response), None
        raise LmsError(f"The course roster has more than {MAX_PAGES} pages; Passback stopped reading it.", status=None)

    def members(
        self, endpoint: TokenEndpoint, memberships_url: str, on_page: Callable[[int, int], None] | None = None
    ) -> list[Member]:
        found: list[Member] = []
        for number, page in enumerate(self.pages(endpoint, memberships_url), start=1):
            found += page
            if len(found) > MAX_MEMBERS:
                raise LmsError(
                    f"The course roster lists more than {MAX_MEMBERS} members; Passback stopped reading it "
                    "(learners still join at their first launch).",
                    status=None,
                    kind=FailureKind.PERMANENT,
                )
            if on_page is not None:
                on_page(number, len(found))
        return found

    def _get(self, endpoint: TokenEndpoint, url: str, params: dict[str, str] | None) -> requests.Response:
        def get(token: str) -> requests.Response:
            self.requests_made += 1
            return self._ags.http.request(
                "GET",
                url,
                params=params,
                headers={"Authorization": f"Bearer {token}", "Accept": MEMBERSHIP_TYPE},
                max_bytes=MAX_PAGE_BYTES,
            )

        response = self._ags.authorised(endpoint, (NRPS_SCOPE,), get)
        if response.status_code != 200:
            raise self._ags.error(endpoint, response)
        return response


def _members(response: requests.Response) -> list[dict[str, Any]]:
    try:
        data = response.json()
    except ValueError as error:
        raise LmsError("The LMS's roster answer is not JSON.", status=response.status_code) from error
    members = data.get("members") if isinstance(data, dict) else None
    if not isinstance(members, list):
        # Read as an empty page, it would mark every learner gone (absent from the roster).
        raise LmsError(
            "The LMS's roster answer has no members list; Passback changed nothing.",
            status=response.status_code,
            kind=FailureKind.PERMANENT,
        )
    return [m for m in members if isinstance(m, dict)]


def _member(data: dict[str, Any]) -> Member | None:
    user_id = data.get("user_id")
    if not isinstance(user_id, str) or not user_id or len(user_id.encode()) > 255:
        return None
    roles = data.get("roles")

    def text(name: str, limit: int) -> str | None:
        value = data.get(name)
        return value.strip()[:limit] or None if isinstance(value, str) else None

    legacy = data.get("lti11_legacy_user_id")
    name = text("name", 300) or " ".join(p for p in (text("given_name", 150), text("family_name", 150)) if p) or None
    email = text("email", 254)
    return Member(
        user_id=user_id,
        status=str(data.get("status") or ACTIVE),
        roles=tuple(str(r) for r in roles) if isinstance(roles, list) else (),
        name=name,
        email=email if email and "@" in email else None,
        legacy_user_id=legacy if isinstance(legacy, str) and legacy and len(legacy.encode()) <= 255 else None,
    )
