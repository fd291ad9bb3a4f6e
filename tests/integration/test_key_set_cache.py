"""The platform's key set (JWKS) is fetched once, refetched on rotation, and never on every forged kid."""

from __future__ import annotations

from html import escape
from typing import Any

import pytest
import requests

from passback import container
from stack_harness import CLIENT_ID, Stack

USERS = ("ann", "ben", "cat", "dan", "eve")


@pytest.fixture
def course(stack: Stack, lms: Any, clock: Any) -> Stack:
    stack.register_lti13(lms)
    lms.add_course("chem-1", "Chemistry 1")
    for user in USERS:
        lms.add_user(user, name=user.title(), email=f"{user}@example.edu")
        lms.enroll("chem-1", user, "student")
    lms.add_link("chem-1", "reading-link", title="Reading")
    lms.reset_counters()
    return stack


def launch(lms: Any, user: str = "ann") -> requests.Response:
    return lms.lti13_launch(requests.Session(), CLIENT_ID, user, "chem-1", "reading-link")


def launch_with_kid(lms: Any, kid: str, user: str = "ann") -> requests.Response:
    session = requests.Session()
    state, nonce, url = lms.start_login(session, CLIENT_ID, user, "chem-1", "reading-link")
    token = lms.sign_id_token(lms.base_claims(CLIENT_ID, user, "chem-1", "reading-link", nonce=nonce), kid=kid)
    return session.post(url, data={"id_token": token, "state": state}, allow_redirects=False, timeout=60)


def refused_for_unknown_key(response: requests.Response) -> bool:
    return response.status_code == 401 and f"<strong>{escape('signing key')}</strong>" in response.text


def test_five_launches_fetch_the_platform_key_set_once(course: Stack, lms: Any) -> None:
    for user in USERS:
        assert launch(lms, user).status_code == 200
    assert lms.counters["jwks"] == 1


def test_another_instance_reads_the_key_set_from_dynamodb_instead_of_the_lms(course: Stack, lms: Any) -> None:
    assert launch(lms, "ann").status_code == 200
    container.reset()  # a cold Lambda instance: nothing in memory
    assert launch(lms, "ben").status_code == 200
    assert lms.counters["jwks"] == 1


def test_after_the_platform_rotates_its_key_the_next_launch_is_accepted_with_one_refetch(
    course: Stack, lms: Any
) -> None:
    assert launch(lms, "ann").status_code == 200
    lms.rotate_key()  # the old key leaves the platform's JWKS
    assert launch(lms, "ben").status_code == 200
    assert lms.counters["jwks"] == 2
    assert launch(lms, "cat").status_code == 200
    assert lms.counters["jwks"] == 2


def test_unknown_kids_trigger_at_most_one_refetch_per_30_seconds(course: Stack, lms: Any, clock: Any) -> None:
    assert launch(lms, "ann").status_code == 200
    assert lms.counters["jwks"] == 1
    for i in range(5):
        assert refused_for_unknown_key(launch_with_kid(lms, f"forged-{i}"))
    assert lms.counters["jwks"] == 2  # the first forged kid refetched; the next four did not
    clock.advance(seconds=29)
    assert refused_for_unknown_key(launch_with_kid(lms, "forged-late"))
    assert lms.counters["jwks"] == 2
    clock.advance(seconds=2)
    assert refused_for_unknown_key(launch_with_kid(lms, "forged-after-30s"))
    assert lms.counters["jwks"] == 3
    assert launch(lms, "ben").status_code == 200  # the known key still works, from the cache
    assert lms.counters["jwks"] == 3
