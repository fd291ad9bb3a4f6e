"""Support finds a course by its LMS title or context id and a learner by email or name, across
platforms, through the search index (Queries: the no-Scan check below fails on a Scan)."""

from __future__ import annotations

from typing import Any

import pytest
from test_cli_refusals import launched_course, run

from passback import container


@pytest.fixture
def no_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything Scans a table (PynamoDB's and boto3's paths)."""
    from pynamodb.connection.base import Connection

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("a Scan was made")

    monkeypatch.setattr(Connection, "scan", refuse)


@pytest.mark.parametrize("query", ["biology", "BIO 10", "bio-101:fall", "Biology 101", "bio-101"])
def test_courses_find_finds_a_course_by_words_of_its_title_or_its_context_id(
    stack: Any, lms: Any, aws: dict[str, str], capsys: pytest.CaptureFixture[str], no_scan: None, query: str
) -> None:
    course_id = launched_course(stack, lms, aws)
    status, out, _ = run(capsys, "courses", "find", query)
    assert status == 0
    assert course_id in out
    assert "Biology 101" in out
    assert "context=bio-101:fall" in out


def test_courses_find_by_course_id_lists_its_links_and_a_miss_says_so(
    stack: Any, lms: Any, aws: dict[str, str], capsys: pytest.CaptureFixture[str], no_scan: None
) -> None:
    course_id = launched_course(stack, lms, aws)
    status, out, _ = run(capsys, "courses", "find", course_id, "--links")
    assert status == 0
    assert "activity=quiz-1" in out
    assert "chemistry" not in out
    status, out, _ = run(capsys, "courses", "find", "chemistry")
    assert status == 0
    assert "no course matches 'chemistry'" in out
    status, _, err = run(capsys, "courses", "find", "b")
    assert status == 2
    assert "too short" in err


@pytest.mark.parametrize("query", ["ada@example.edu", "ADA@example.edu", "lovelace", "ada love"])
def test_learners_find_finds_a_learner_by_email_or_words_of_the_name(
    stack: Any, lms: Any, aws: dict[str, str], capsys: pytest.CaptureFixture[str], no_scan: None, query: str
) -> None:
    launched_course(stack, lms, aws)
    status, out, _ = run(capsys, "learners", "find", query)
    assert status == 0
    assert "Ada Lovelace" in out
    assert "Grace Hopper" not in out
    learner_id = out.split()[0]
    assert container.learners().get(learner_id) is not None
    status, out, _ = run(capsys, "learners", "find", learner_id)
    assert "ada@example.edu" in out
