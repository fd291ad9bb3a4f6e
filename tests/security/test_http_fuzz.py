"""Every route of the HTTP API under random methods, paths, queries, headers, cookies and bodies.

Through the in-process gateway (a real HTTP server on 127.0.0.1) and the real launch function:
never a 5xx, and every refusal carries a page or JSON body that says what failed. With a genuine
instructor session and CSRF value among the choices, the fuzz reaches the gradebook actions too.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from course_setup import lti13_course
from passback.web.session import SESSION_COOKIE
from stack_harness import Stack

ROUTES = (
    "/lti13/login",
    "/lti13/launch",
    "/lti11/launch",
    "/.well-known/jwks.json",
    "/gradebook/{course}",
    "/gradebook/{course}/export.csv",
    "/gradebook/{course}/release",
    "/gradebook/{course}/resync",
    "/gradebook/{course}/settings/policy",
    "/gradebook/{course}/settings/gau",
)
FIELD_NAMES = (
    "id_token", "state", "iss", "login_hint", "client_id", "target_link_uri", "lti_message_hint",
    "oauth_consumer_key", "oauth_signature", "oauth_signature_method", "oauth_timestamp", "oauth_nonce",
    "lti_message_type", "lti_version", "resource_link_id", "context_id", "user_id", "roles", "custom_activity_id",
    "s", "csrf", "activity", "cell", "link", "scope", "policy", "release_date", "gau-0", "gau-1",
)  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["", "null", "eyJhbGciOiJub25lIn0.e30.", "../../etc/passwd", "<script>x</script>", "%00", "\u202e"]
    ),
    st.integers(min_value=1, max_value=20_000).map(lambda n: "x" * n),  # oversized values
)


def test_random_requests_to_every_route_never_get_a_5xx_and_always_say_what_failed(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms)
    teacher = stack.launch13(lms, "teacher", course.context, "link-quiz-1")
    page = requests.get(teacher.headers["Location"], timeout=30)
    genuine = dict(re.findall(r'<input type="hidden" name="(s|csrf)" value="([^"]*)"', page.text))
    assert set(genuine) == {"s", "csrf"}
    values = st.one_of(TEXT, st.sampled_from(sorted(genuine.values())), st.sampled_from(["quiz-1", "course", "manual"]))
    courses = st.one_of(
        st.just(course.course_id),
        st.just(course.course_id),
        st.text(min_size=1, max_size=30).map(lambda t: quote(t, safe="")),
    )
    route = st.tuples(st.sampled_from(ROUTES), courses).map(lambda rc: rc[0].format(course=rc[1]))
    paths = st.one_of(route, route, route, st.text(max_size=50).map(lambda t: "/" + quote(t, safe="/")))
    bodies = st.one_of(
        st.none(),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=10)), values, max_size=8),
        st.binary(max_size=300),
        st.sampled_from([b"\xff\xfe\xfa", "é=ü&ß".encode("latin-1"), b"a=%ZZ&b=%", b"{" * 3000, b"=" * 10]),
    )
    session = requests.Session()
    seen: dict[int, int] = {}

    @settings(
        max_examples=100,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        method=st.sampled_from(["GET"] * 4 + ["POST"] * 5 + ["PUT", "DELETE", "HEAD", "OPTIONS"]),
        path=paths,
        query=st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=4),
        body=bodies,
        content_type=st.sampled_from(
            [
                None,
                "application/x-www-form-urlencoded",
                "application/json",
                "multipart/form-data; boundary=x",
                "text/plain; charset=utf-7",
                "application/x-www-form-urlencoded; charset=latin-1",
            ]
        ),
        cookies=st.dictionaries(
            st.sampled_from([SESSION_COOKIE, "lti1p3-state", "other"]),
            st.one_of(st.sampled_from(sorted(genuine.values())), st.text(alphabet="abcXYZ019-_.=", max_size=300)),
            max_size=2,
        ),
        forwarded_proto=st.sampled_from([None, "https", "gopher"]),
    )
    @example(  # was a 500: API Gateway base64-encodes a body without a text type; it was decoded as strict UTF-8
        method="GET", path="/lti13/login", query={}, body=b"\x80", content_type=None, cookies={}, forwarded_proto=None
    )
    @example(  # the genuine page, so the run always includes a request that gets through
        method="GET",
        path=f"/gradebook/{course.course_id}",
        query={},
        body=None,
        content_type=None,
        cookies={SESSION_COOKIE: genuine["s"]},
        forwarded_proto="https",
    )
    def one(
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        content_type: str | None,
        cookies: dict[str, str],
        forwarded_proto: str | None,
    ) -> None:
        headers = {"Content-Type": content_type} if content_type else {}
        if forwarded_proto:
            headers["X-Forwarded-Proto"] = forwarded_proto
        request = requests.Request(
            method, stack.base_url + path, params=query, data=body, headers=headers, cookies=cookies
        ).prepare()
        response = session.send(request, allow_redirects=False, timeout=30)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, f"{method} {path}: HTTP {response.status_code}: {response.text[:300]}"
        if response.status_code >= 400 and method != "HEAD":
            kind = response.headers.get("Content-Type", "")
            assert kind.startswith(("text/html", "application/json", "text/plain")), kind
            assert len(response.text.strip()) > 20, f"{method} {path}: an empty refusal"

    one()
    # The fuzz reached past the refusals too (or it proved little).
    assert any(200 <= status < 400 for status in seen), seen
    assert sum(count for status, count in seen.items() if 400 <= status < 500) > 30, seen
