"""The instructor's gradebook as one read: a single paginated Query over the course's partition.

`C#<course id>` holds the course (`#META`), its activities (`CA#`), its links (`CL#`), its
enrollments with their course grades (`E#`), refused-report notices (`F#`) and the sync cells
(`X#`), so the whole page is one Query (DynamoDB hands it back in 1 MB pages; following
`LastEvaluatedKey` is still that one Query). Nothing here reads per learner or per cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from passback.data.cells import cell_record
from passback.data.courses import course_record
from passback.data.enrollments import enrollment_record
from passback.data.gradebook_models import Cell, Enrollment, GradebookItem
from passback.data.refusal_models import RefusedReportItem
from passback.data.refusals import refusal_record
from passback.data.tables import ensure_bound
from passback.domain.clocks import RefusedReport
from passback.domain.records import CellRecord, CourseRecord, EnrollmentRecord
from passback.domain.release import ReleasePolicy


@dataclass(frozen=True)
class GradebookSnapshot:
    """Everything the gradebook page shows about one course, as plain records."""

    course: CourseRecord
    enrollments: tuple[EnrollmentRecord, ...] = ()
    # (learner id, link id) -> cell
    cells: dict[tuple[str, str], CellRecord] = field(default_factory=dict)
    # (learner id, activity id) -> the latest report refused for its date (data/refusals.py)
    refusals: dict[tuple[str, str], RefusedReport] = field(default_factory=dict)


class GradebookViewRepository:
    def __init__(self, default_policy: ReleasePolicy) -> None:
        ensure_bound()
        self.default_policy = default_policy

    def load(self, course_id: str) -> GradebookSnapshot | None:
        """The course and everything in its partition, or None when there is no such course."""
        items = list(GradebookItem.query(f"C#{course_id}"))
        course = course_record(items, self.default_policy)
        if course is None:
            return None
        enrollments = tuple(enrollment_record(i) for i in items if isinstance(i, Enrollment))
        cells = {(i.learner_id, i.link_id): cell_record(i) for i in items if isinstance(i, Cell)}
        refusals = {(i.learner_id, i.activity_id): refusal_record(i) for i in items if isinstance(i, RefusedReportItem)}
        return GradebookSnapshot(course=course, enrollments=enrollments, cells=cells, refusals=refusals)
