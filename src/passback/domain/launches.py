"""Rules 1 and 2: courses create themselves, students enroll themselves."""

from __future__ import annotations

from collections.abc import Iterable

# LIS roles that make someone staff of the course (LTI 1.3 URIs, LTI 1.1 short names and URNs).
_STAFF = ("Instructor", "TeachingAssistant", "ContentDeveloper", "Administrator", "Mentor")
_INSTITUTION_ONLY = "/institution/"


def courses_create_themselves(title: str | None, label: str | None, context_id: str) -> str:
    """Rule 1: the course is named after the LMS course (its title, else its label, else its id)."""
    for candidate in (title, label):
        if candidate and candidate.strip():
            return candidate.strip()[:300]
    return f"Course {context_id}"[:300]


def students_enroll_themselves(roles: Iterable[str]) -> str:
    """Rule 2: anyone launching from a course is enrolled; staff roles make them its instructor.

    Institution-wide roles (`.../institution/person#Instructor`) do not: a teacher of another
    course who opens this one as a student is a student here.
    """
    for role in roles:
        if _INSTITUTION_ONLY in role:
            continue
        name = role.rsplit("#", 1)[-1].rsplit("/", 1)[-1]
        if name in _STAFF:
            return "instructor"
    return "learner"
