"""Rules 1 and 2: courses create themselves, students enroll themselves."""

from __future__ import annotations

from collections.abc import Iterable

# LIS roles that make someone staff of the course (LTI 1.3 URIs, LTI 1.1 short names and URNs).
# Not Mentor: that is an observer (Canvas) or a parent, who must not get the gradebook of the whole course.
_STAFF = ("Instructor", "TeachingAssistant", "ContentDeveloper", "Administrator")
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


def only_observes(roles: Iterable[str]) -> bool:
    """A mentor (an observer, a parent) who is not also a learner of the course: not a student to enroll
    from the roster (no enrollment, no deadline zeros for them)."""
    parts = [(role.split("#", 1)[0].rsplit("/", 1)[-1], role.rsplit("#", 1)[-1].rsplit("/", 1)[-1]) for role in roles]
    mentor = any("Mentor" in names for names in parts)
    return mentor and not any("Learner" in names for names in parts)
