"""Names and Role Provisioning Services: the course roster the launch's NRPS claim points at."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from .claims import SCOPE_NRPS, role_uris
from .lms import Lms
from .tokens import authenticate
from .urls import AgsRoute
from .wire import Request, Response, json_response, text_response

MEMBERSHIP_CONTAINER_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"


def handle_memberships(lms: Lms, request: Request, route: AgsRoute) -> Response:
    if request.method != "GET":
        return text_response(405, f"{request.method} is not allowed here")
    grant = authenticate(lms, request, frozenset({SCOPE_NRPS}))
    if isinstance(grant, Response):
        return grant
    with lms.state.lock:
        tool = lms.state.tools.get(grant.client_id)
        course = lms.state.courses.get(route.context_id)
        enrolled = dict(lms.state.enrollments.get(route.context_id, {}))
        users = {user_id: lms.state.users[user_id] for user_id in enrolled if user_id in lms.state.users}
    if course is None or tool is None:
        return text_response(404, "course not found")
    url = lms.urls.memberships(course.context_id, tool.type_id)
    if lms.mode == "moodle" and f"/bindings/{tool.type_id}/" not in request.path:
        return text_response(400, "the tool type in the URL is not this tool's")
    with lms.state.lock:
        inactive = set(lms.state.inactive.get(route.context_id, set()))
        legacy = dict(lms.state.legacy_user_ids)
    members: list[dict[str, Any]] = [
        {
            "status": "Inactive" if user.user_id in inactive else "Active",
            "user_id": user.user_id,
            "name": user.name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "email": user.email,
            "roles": role_uris([enrolled[user.user_id]]),
            # A platform that gave users new ids in LTI 1.3 names the 1.1 one (NRPS 2.0, migration).
            **({"lti11_legacy_user_id": legacy[user.user_id]} if user.user_id in legacy else {}),
        }
        for user in users.values()
    ]
    query = request.query_params()
    headers: dict[str, str] = {}
    try:
        limit = int(query["limit"]) if "limit" in query else 0
        page = int(query.get("page", "1"))
    except ValueError:
        return text_response(400, "limit and page must be integers")
    if limit > 0 and page > 0:
        # Pages as Canvas and Moodle serve them: a cap on the page size, the next page in a Link header.
        limit = min(limit, lms.state.nrps_page_cap)
        start = (page - 1) * limit
        if start + limit < len(members):
            next_query = urlencode({**query, "limit": str(limit), "page": str(page + 1)})
            headers["Link"] = f'<{lms.urls.base}{request.path}?{next_query}>; rel="next"'
        members = members[start : start + limit]
    payload = {
        "id": url,
        "context": {"id": course.context_id, "label": course.label, "title": course.title},
        "members": members,
    }
    response = json_response(200, payload, MEMBERSHIP_CONTAINER_TYPE)
    response.headers.update(headers)
    return response
