"""AGS line items (the LMS's grade columns): find one in the paged container, create one, relabel one.

Plain requests through the AGS client's token cache, platform gate and error mapping (so every call
has a timeout, counts against the platform's concurrency cap and reuses cached tokens); never
pylti1p3's service connector. The container is paged with `Link: <...>; rel="next"` (AGS 2.0 §3.2),
followed up to `MAX_PAGES`, so a course with a thousand columns cannot hold a launch forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from passback.lms.ags import CONTAINER_TYPE, LINEITEM_READ_SCOPE, LINEITEM_SCOPE, LINEITEM_TYPE, AgsClient
from passback.lms.errors import LmsError
from passback.lms.http import PageLinks
from passback.lms.tokens import TokenEndpoint

PAGE_SIZE = 100
MAX_PAGES = 50
MAX_PAGE_BYTES = 2 * 1024 * 1024  # a page of 100 columns is about 50 KB; 50 pages at most are held
SCORE_MAXIMUM = 100  # rule 5: grades are percentages
TAG = "passback"


@dataclass(frozen=True)
class LineItem:
    url: str
    label: str | None
    resource_link_id: str | None
    resource_id: str | None
    tag: str | None
    raw: dict[str, Any]


def _item(data: dict[str, Any]) -> LineItem | None:
    url = data.get("id")
    if not isinstance(url, str) or not url:
        return None

    def text(name: str) -> str | None:
        value = data.get(name)
        return str(value) if value not in (None, "") else None

    return LineItem(url, text("label"), text("resourceLinkId"), text("resourceId"), text("tag"), data)


class LineItemsClient:
    def __init__(self, ags: AgsClient) -> None:
        self._ags = ags
        self.requests_made = 0

    def list(
        self, endpoint: TokenEndpoint, container_url: str, params: dict[str, str], *, scopes: tuple[str, ...]
    ) -> list[LineItem]:
        """Every line item the container returns for `params`, following rel="next" links."""
        found: list[LineItem] = []
        url: str | None = container_url
        query: dict[str, str] | None = {**params, "limit": str(PAGE_SIZE)}
        links = PageLinks(container_url)
        for _ in range(MAX_PAGES):
            if url is None:
                return found
            page_url, page_query = url, query

            def get(token: str, page_url: str = page_url, page_query: dict[str, str] | None = page_query) -> Any:
                self.requests_made += 1
                return self._ags.http.request(
                    "GET",
                    page_url,
                    params=page_query,
                    headers={"Authorization": f"Bearer {token}", "Accept": CONTAINER_TYPE},
                    max_bytes=MAX_PAGE_BYTES,
                )

            response = self._ags.authorised(endpoint, scopes, get)
            if response.status_code != 200:
                raise self._ags.error(endpoint, response)
            found += [item for item in map(_item, _json_list(response)) if item is not None]
            url = links.next_url(response)
            query = None  # the next link carries its own query
        if url is None:
            return found
        # A partial list could miss the link's column and make a second one: say so instead.
        raise LmsError(f"The LMS's column list has more than {MAX_PAGES} pages; Passback stopped reading.", status=None)

    def find(
        self,
        endpoint: TokenEndpoint,
        container_url: str,
        *,
        resource_link_id: str,
        resource_id: str,
        can_write: bool,
    ) -> str | None:
        """The link's column: bound to its resource link, else a Passback column for the same resource
        that no link claims (made by a deep-linking response before the LMS bound it, say)."""
        scopes = (LINEITEM_SCOPE,) if can_write else (LINEITEM_READ_SCOPE,)
        bound = self.list(endpoint, container_url, {"resource_link_id": resource_link_id}, scopes=scopes)
        for item in bound:
            if item.resource_link_id == resource_link_id:
                return item.url
        loose = self.list(endpoint, container_url, {"resource_id": resource_id, "tag": TAG}, scopes=scopes)
        for item in loose:
            if item.resource_link_id is None and item.resource_id == resource_id and item.tag == TAG:
                return item.url
        return None

    def create(
        self, endpoint: TokenEndpoint, container_url: str, *, resource_link_id: str, resource_id: str, label: str
    ) -> str:
        body = {
            "label": label[:250],
            "scoreMaximum": SCORE_MAXIMUM,
            "resourceLinkId": resource_link_id,
            "resourceId": resource_id,
            "tag": TAG,
        }

        def post(token: str) -> requests.Response:
            self.requests_made += 1
            return self._ags.http.request(
                "POST",
                container_url,
                json=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": LINEITEM_TYPE, "Accept": LINEITEM_TYPE},
            )

        response = self._ags.authorised(endpoint, (LINEITEM_SCOPE,), post)
        if response.status_code not in (200, 201):
            raise self._ags.error(endpoint, response)
        created = _item(response.json() if _is_json(response) else {})
        if created is None:
            raise LmsError("The LMS created the column but did not say its URL (no id).", status=response.status_code)
        return created.url

    def relabel(self, endpoint: TokenEndpoint, line_item_url: str, label: str, *, resource_id: str) -> str:
        """PUT the line item with a new label (the rest as the LMS has it), only if it is Passback's column for
        `resource_id` (its `resourceId`): an instructor's own column keeps the name they gave it.

        Returns "relabelled", "unchanged" (already so called) or "not ours"; raises `LmsError` otherwise, and
        `LabelRefused` when the PUT itself is refused with 403, 405 or 501 (the caller records that, see
        services/column_labels.py).
        """

        def get(token: str) -> requests.Response:
            self.requests_made += 1
            return self._ags.http.request(
                "GET",
                line_item_url,
                headers={"Authorization": f"Bearer {token}", "Accept": LINEITEM_TYPE},
                max_bytes=MAX_PAGE_BYTES,  # one column: far less than a page; bounded all the same
            )

        response = self._ags.authorised(endpoint, (LINEITEM_SCOPE,), get)
        if response.status_code != 200 or not _is_json(response) or not isinstance(response.json(), dict):
            raise self._ags.error(endpoint, response)
        current = dict(response.json())
        if str(current.get("resourceId") or "") != resource_id:
            return "not ours"
        if current.get("label") == label[:250]:
            return "unchanged"
        current["label"] = label[:250]

        def put(token: str) -> requests.Response:
            self.requests_made += 1
            return self._ags.http.request(
                "PUT",
                line_item_url,
                json=current,
                headers={"Authorization": f"Bearer {token}", "Content-Type": LINEITEM_TYPE, "Accept": LINEITEM_TYPE},
            )

        response = self._ags.authorised(endpoint, (LINEITEM_SCOPE,), put)
        if response.status_code not in (200, 201, 204):
            error = self._ags.error(endpoint, response)
            if response.status_code in LABEL_REFUSALS:
                raise LabelRefused(error.message, status=error.status)
            raise error
        return "relabelled"


# What a platform answers a label change it does not take. Only the PUT's answer counts: a GET refused
# says nothing about PUT.
LABEL_REFUSALS = (403, 405, 501)


class LabelRefused(LmsError):
    """The platform refused the label PUT itself (403, 405 or 501)."""


def _is_json(response: requests.Response) -> bool:
    try:
        response.json()
    except ValueError:
        return False
    return True


def _json_list(response: requests.Response) -> list[dict[str, Any]]:
    try:
        data = response.json()
    except ValueError:
        return []
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
