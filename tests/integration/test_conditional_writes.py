"""Writes on request and message paths are conditional: a late or racing writer never undoes a newer write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from passback import container
from passback.data.catalog import ActivityRepository
from passback.data.key_sets import KeySetStore
from passback.data.tokens import AccessTokenStore, StoredToken
from passback.services.course_settings import SettingRefused

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_an_older_activity_message_does_not_undo_a_newer_one(aws: dict[str, str]) -> None:
    catalog = ActivityRepository()
    catalog.put(activity_id="quiz-1", title="Quiz 1 (renamed)", min_questions=3, product_url=None, now=NOW)
    late = catalog.put(
        activity_id="quiz-1", title="Quiz 1", min_questions=1, product_url=None, now=NOW - timedelta(minutes=5)
    )
    assert late.title == "Quiz 1 (renamed)"
    fresh = ActivityRepository().get("quiz-1")  # another container, no cache
    assert fresh is not None
    assert (fresh.title, fresh.min_questions) == ("Quiz 1 (renamed)", 3)


def test_a_shorter_lived_token_does_not_replace_a_longer_lived_one(aws: dict[str, str]) -> None:
    store = AccessTokenStore()
    store.put("platform-a", StoredToken("newer-token", NOW.timestamp() + 3600), "scope")
    store.put("platform-a", StoredToken("older-token", NOW.timestamp() + 1800), "scope")
    kept = store.get("platform-a")
    assert kept is not None
    assert kept.access_token == "newer-token"
    store.put("platform-a", StoredToken("newest-token", NOW.timestamp() + 7200), "scope")
    assert store.get("platform-a") == StoredToken("newest-token", NOW.timestamp() + 7200)


def test_a_slow_instance_does_not_put_back_an_older_key_set(aws: dict[str, str]) -> None:
    store = KeySetStore()
    url = "http://127.0.0.1:9/jwks"
    store.put(url, {"keys": [{"kid": "rotated"}]}, NOW, timedelta(hours=1))
    store.put(url, {"keys": [{"kid": "old"}]}, NOW - timedelta(seconds=30), timedelta(hours=1))
    found = store.get(url)
    assert found is not None
    assert found[0] == {"keys": [{"kid": "rotated"}]}


def test_a_deadline_a_sweep_has_applied_cannot_be_moved_even_by_a_racing_request(aws: dict[str, str]) -> None:
    courses = container.courses()
    created = courses.create_if_absent(
        course_id="c1",
        platform_id="p1",
        platform_key="p1",
        lti_version="1.3",
        context_id="ctx",
        title="Chemistry",
        label=None,
        lms_origin=None,
        now=NOW,
    )
    assert created
    container.catalog().put(activity_id="quiz-1", title="Quiz 1", min_questions=1, product_url=None, now=NOW)
    settings = container.course_settings()
    settings.set_gau("c1", "quiz-1", NOW + timedelta(days=1), NOW)
    # The request read the course before the deadline passed; the sweep applies it in between.
    (_, _, due_sk), *_ = courses.due("GAU", NOW + timedelta(days=1, seconds=1), 10)
    assert courses.mark_gau_applied("c1", "quiz-1", due_sk, NOW + timedelta(days=1, seconds=1))
    assert courses.set_gau("c1", "quiz-1", NOW + timedelta(days=3)) is False
    course = courses.get("c1")
    assert course is not None
    assert course.activities["quiz-1"].gau == NOW + timedelta(days=1)
    with pytest.raises(SettingRefused, match="cannot be moved"):
        settings.set_gau("c1", "quiz-1", NOW + timedelta(days=3), NOW + timedelta(days=2))
