"""A small course on the LMS emulator, launched through Passback: the fixture most flows start from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from passback import container
from passback.domain.records import CourseRecord, EnrollmentRecord
from stack_harness import Stack, activity


@dataclass
class Course:
    stack: Stack
    lms: Any
    context: str
    course_id: str
    learners: dict[str, str] = field(default_factory=dict)  # LMS user id -> learner id

    def record(self) -> CourseRecord:
        found = container.courses().get(self.course_id)
        assert found is not None
        return found

    def enrollment(self, user: str) -> EnrollmentRecord:
        found = container.enrollments().get(self.course_id, self.learners[user], consistent=True)
        assert found is not None
        return found

    def cell(self, user: str, resource_link_id: str) -> Any:
        link = next(link for link in self.record().links.values() if link.resource_link_id == resource_link_id)
        return container.cells().get(self.course_id, self.learners[user], link.link_id)

    def claim(self, user: str, resource_link_id: str) -> Any:
        """The last send claim taken on a cell (kept on the enrollment), or None."""
        link = next(link for link in self.record().links.values() if link.resource_link_id == resource_link_id)
        return self.enrollment(user).claims.get(link.link_id)

    def lms_grade(self, user: str, resource_link_id: str) -> float | None:
        value: float | None = self.lms.gradebook().get(self.context, {}).get(user, {}).get(resource_link_id)
        return value

    def ref(self, user: str) -> dict[str, str]:
        return {"issuer": self.lms.issuer, "user_id": user}


def lti13_course(
    stack: Stack,
    lms: Any,
    *,
    students: tuple[str, ...] = ("sam", "ria"),
    activities: tuple[tuple[str, int], ...] = (("quiz-1", 2),),
    homepage: bool = False,
    launch_students: bool = True,
    context: str = "bio-101",
) -> Course:
    """A 1.3 course: an instructor, students, one activity link per activity (and a homepage link)."""
    if not container.platforms().for_issuer(lms.issuer):
        stack.register_lti13(lms)
    lms.add_course(context, "Biology 101")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    lms.enroll(context, "teacher", "instructor")
    for user in students:
        lms.add_user(user, name=f"{user.title()} Student", email=f"{user}@example.edu")
        lms.enroll(context, user, "student")
    stack.send_messages([activity(a, f"Activity {a}", min_questions=m) for a, m in activities])
    for activity_id, _ in activities:
        lms.add_link(
            context, f"link-{activity_id}", title=f"Activity {activity_id}", custom={"activity_id": activity_id}
        )
    if homepage:
        lms.add_link(context, "home", title="Biology homepage")
    stack.drain()
    first_link = f"link-{activities[0][0]}" if activities else "home"
    response = stack.launch13(lms, "teacher", context, first_link)
    assert response.status_code == 303, response.text[:500]
    course_id = response.headers["Location"].split("/gradebook/")[1].split("?")[0]
    for activity_id, _ in activities[1:]:
        stack.launch13(lms, "teacher", context, f"link-{activity_id}")
    if homepage:
        stack.launch13(lms, "teacher", context, "home")
    course = Course(stack=stack, lms=lms, context=context, course_id=course_id)
    for user in students:
        if launch_students:
            stack.launch13(lms, user, context, first_link)
            learner = container.learners().by_identity(course.record().platform_id, user)
            assert learner is not None
            course.learners[user] = learner
    stack.drain()
    return course
