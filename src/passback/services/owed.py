"""What one cell owes and where it goes: the inputs of every sync decision (rules 4 to 9, 13)."""

from __future__ import annotations

from datetime import datetime

from passback.domain.grading import AssignedActivity, Owed, assigned_grade, two_link_styles
from passback.domain.migration import migrated_target
from passback.domain.records import CellRecord, CourseRecord, EnrollmentRecord, LinkRecord
from passback.domain.targets import Target, no_target_no_passback


def link_owes(course: CourseRecord, enrollment: EnrollmentRecord, link: LinkRecord, now: datetime) -> Owed:
    assigned = []
    for activity in course.activities.values():
        entry = enrollment.grades.get(activity.idx)
        grade, withheld = assigned_grade(
            entry.value if entry else None,
            bool(entry and entry.zero),
            never_opened=enrollment.never_opened,
            zero_fill_never_opened=course.zero_fill_never_opened,
        )
        assigned.append(
            AssignedActivity(
                activity_id=activity.activity_id,
                released=course.released(activity.activity_id, now),
                grade=grade,
                answered=entry.answered if entry else 0,
                withheld=withheld,
            )
        )
    return two_link_styles(link.activity_id, assigned)


def link_target(
    course: CourseRecord, link: LinkRecord, enrollment: EnrollmentRecord, cell: CellRecord | None
) -> Target | str:
    if course.lti13_issuer:  # an LTI 1.1 course now launched through 1.3: each link its protocol
        return migrated_target(
            link_lti_version=link.lti_version,
            line_item_url=link.line_item_url,
            lti13_user_id=enrollment.lti13_user_id,
            outcome_service_url=cell.outcome_service_url if cell else None,
            sourcedid=cell.sourcedid if cell else None,
        )
    return no_target_no_passback(
        lti_version=course.lti_version,
        line_item_url=link.line_item_url,
        lms_user_id=enrollment.lms_user_id,
        outcome_service_url=cell.outcome_service_url if cell else None,
        sourcedid=cell.sourcedid if cell else None,
    )
