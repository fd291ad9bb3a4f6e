"""Rule 2: staff roles make someone the course's instructor (docs/launches.md: instructor, TA, content
developer, administrator). A mentor (Canvas's observer, a parent) is not staff: the instructor's gradebook
shows every student's grades, and the picker changes the course."""

from __future__ import annotations

from passback.domain.launches import students_enroll_themselves
from passback.domain.roster import Member, roster_changes

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership"


def test_staff_roles_make_an_instructor() -> None:
    for role in ("Instructor", "TeachingAssistant", "ContentDeveloper", "Administrator"):
        assert students_enroll_themselves([f"{MEMBERSHIP}#{role}"]) == "instructor", role
    assert students_enroll_themselves(["Instructor"]) == "instructor"  # Moodle's NRPS short names
    assert students_enroll_themselves([f"{MEMBERSHIP}/Instructor#TeachingAssistant"]) == "instructor"


def test_a_mentor_observer_or_parent_is_not_staff_of_the_course() -> None:
    assert students_enroll_themselves([f"{MEMBERSHIP}#Mentor"]) != "instructor"
    assert students_enroll_themselves(["urn:lti:role:ims/lis/Mentor"]) != "instructor"
    assert students_enroll_themselves([f"{MEMBERSHIP}/Mentor#Advisor"]) != "instructor"


def test_a_roster_mentor_is_not_enrolled_as_a_learner() -> None:
    """An observer in the roster is not a student: no enrollment, no deadline zeros sent for them."""
    members = [Member("obs-1", roles=(f"{MEMBERSHIP}#Mentor",)), Member("stu-1", roles=(f"{MEMBERSHIP}#Learner",))]
    assert [m.user_id for m in roster_changes(members, []).new] == ["stu-1"]
