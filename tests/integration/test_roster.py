"""The course roster (NRPS): learners who never launched, inactive members, writes proportional to change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import botocore.client

from course_setup import lti13_course
from passback import container
from passback.domain.roster import Known, Member, roster_changes
from stack_harness import Stack, score

CONTEXT = "bio-101"
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


@contextmanager
def gradebook_writes() -> Iterator[list[str]]:
    """Every DynamoDB write this process makes to the gradebook table meanwhile."""
    seen: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if self.meta.service_model.service_name == "dynamodb" and operation in WRITES:
            seen.append(f"{operation} {params.get('TableName', '')}")
        return original(self, operation, params)

    botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]


def roster_course(stack: Stack, lms: Any, unlaunched: int = 3) -> Any:
    """sam and ria launch; `unlaunched` more students are in the LMS course from the start."""
    lms.add_course(CONTEXT, "Biology 101")
    for n in range(unlaunched):
        user = f"new{n}"
        lms.add_user(user, name=f"New Student{n}", email=f"{user}@example.edu")
        lms.enroll(CONTEXT, user, "student")
    return lti13_course(stack, lms, students=("sam", "ria"))


def learner(course: Any, user: str) -> str:
    found = container.learners().by_identity(course.record().platform_id, user)
    assert found is not None, user
    return found


def test_the_first_instructor_launch_reads_the_roster_and_enrolls_who_never_launched(stack: Stack, lms: Any) -> None:
    lms.lms.state.nrps_page_cap = 2  # pages of two members: the read follows rel="next"
    stack.register_lti13(lms)
    lms.add_course(CONTEXT, "Biology 101")
    for user in ("a1", "a2", "a3", "a4", "a5"):
        lms.add_user(user, name=f"Student {user}", email=f"{user}@example.edu")
        lms.enroll(CONTEXT, user, "student")
    course = lti13_course(stack, lms, students=())
    stack.drain()  # the roster job the instructor's launch queued
    assert lms.counters["memberships"] == 3  # five students and the teacher, two a page
    for user in ("a1", "a5"):
        enrollment = container.enrollments().get(course.course_id, learner(course, user))
        assert enrollment is not None
        assert enrollment.never_opened
        assert enrollment.role == "learner"
    assert container.enrollments().get(course.course_id, learner(course, "teacher")) is not None  # from its launch
    lms.reset_counters()
    stack.launch13(lms, "teacher", CONTEXT, "link-quiz-1")
    stack.drain()
    assert lms.counters.get("memberships", 0) == 0  # later instructor launches queue no read


def test_a_learner_who_never_launched_gets_a_deadline_zero_through_ags(stack: Stack, lms: Any, clock: Any) -> None:
    course = roster_course(stack, lms, unlaunched=1)
    stack.drain()
    new = learner(course, "new0")
    settings = container.course_settings()
    settings.set_gau(course.course_id, "quiz-1", clock.now + timedelta(minutes=5), clock.now)
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 80.0, clock.now)])
    stack.drain()
    clock.advance(minutes=10)
    stack.sweep()
    stack.drain()
    assert course.lms_grade("new0", "link-quiz-1") == 0.0
    assert container.enrollments().get(course.course_id, new).never_opened  # still never opened
    stack.launch13(lms, "new0", CONTEXT, "link-quiz-1")
    assert not container.enrollments().get(course.course_id, new).never_opened


def test_an_inactive_member_is_not_in_course_before_any_post(stack: Stack, lms: Any, clock: Any) -> None:
    course = roster_course(stack, lms, unlaunched=0)
    stack.drain()
    lms.set_member_status(CONTEXT, "ria", active=False)
    container.roster().sync(course.course_id, clock.now)
    lms.reset_counters()
    stack.send_messages([score(course.ref("ria"), "quiz-1", 2, 70.0, clock.now)])
    stack.drain()
    assert lms.counters.get("score", 0) == 0
    cell = course.cell("ria", "link-quiz-1")
    assert cell.status == "user not in course"
    assert "roster" in cell.message
    lms.set_member_status(CONTEXT, "ria", active=True)
    report = container.roster().sync(course.course_id, clock.now)
    assert report.status_changed == 1
    assert report.queued_sync
    stack.drain()
    assert course.lms_grade("ria", "link-quiz-1") == 70.0


def test_a_dropped_learner_is_marked_gone_and_a_second_unchanged_read_writes_nothing(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = roster_course(stack, lms, unlaunched=3)
    first = container.roster().sync(course.course_id, clock.now)  # the instructor's launch read it already
    assert first.added == 0
    assert first.members == 6
    never = [u for u in ("new0", "new1", "new2") if container.enrollments().get(course.course_id, learner(course, u))]
    assert len(never) == 3
    with gradebook_writes() as writes:
        again = container.roster().sync(course.course_id, clock.now)
    assert writes == []
    assert again.writes == 0
    assert not again.queued_sync
    lms.drop(CONTEXT, "sam")
    with gradebook_writes() as writes:
        third = container.roster().sync(course.course_id, clock.now)
    assert third.status_changed == 1
    # Her status, and the course roster item's "read in progress" mark set and cleared around the second
    # look a leaving member costs (services/roster.py): constant, whatever the roster's size.
    assert len(writes) == 3
    assert container.enrollments().get(course.course_id, learner(course, "sam")).lms_status == "Deleted"


def test_the_roster_plan_ignores_staff_and_inactive_strangers_and_counts_duplicates_once() -> None:
    learner_role = ("http://purl.imsglobal.org/vocab/lis/v2/membership#Learner",)
    staff = ("http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",)
    members = [
        Member("u1", roles=learner_role),
        Member("u1", roles=learner_role),
        Member("t1", roles=staff),
        Member("x1", status="Inactive", roles=learner_role),
        Member("k1", status="Inactive", roles=learner_role),
    ]
    known = [
        Known("L-k1", "k1", "learner", None),
        Known("L-k2", "k2", "learner", None),
        Known("T", "t1", "instructor", None),
    ]
    plan = roster_changes(members, known)
    assert [m.user_id for m in plan.new] == ["u1"]
    assert sorted(plan.status) == [("L-k1", "Inactive"), ("L-k2", "Deleted")]
    assert plan.returned == []


def test_the_schedule_reads_each_roster_once_a_day(stack: Stack, lms: Any, clock: Any) -> None:
    course = roster_course(stack, lms, unlaunched=0)
    lms.add_user("late", name="Late Student", email="late@example.edu")
    lms.enroll(CONTEXT, "late", "student")
    lms.reset_counters()
    assert stack.sweep()["rosters"] == 0  # read at the instructor's launch; next read in a day
    clock.advance(days=1, minutes=1)
    assert stack.sweep()["rosters"] == 1
    assert stack.sweep()["rosters"] == 0  # taken off the schedule until tomorrow
    stack.drain()
    assert lms.counters["memberships"] == 1
    assert container.enrollments().get(course.course_id, learner(course, "late")) is not None


def test_a_learner_who_launches_while_the_roster_is_read_is_not_marked_gone(stack: Stack, lms: Any, clock: Any) -> None:
    # The roster of a big course takes many pages; a learner who joins and launches meanwhile is
    # absent from what was read, but must not be taken for a learner who left.
    course = roster_course(stack, lms, unlaunched=0)
    stack.drain()
    service = container.roster()
    read = service.client.members

    def read_then_a_launch(*args: Any, **kwargs: Any) -> Any:
        members = read(*args, **kwargs)
        lms.add_user("late", name="Late Joiner", email="late@example.edu")
        lms.enroll(CONTEXT, "late", "student")
        stack.launch13(lms, "late", CONTEXT, "link-quiz-1")
        return members

    service.client.members = read_then_a_launch  # type: ignore[method-assign]
    try:
        report = service.sync(course.course_id, clock.now)
    finally:
        del service.client.members
    late = container.enrollments().get(course.course_id, learner(course, "late"))
    assert late is not None
    assert late.lms_status is None
    assert report.status_changed == 0


def test_a_member_seen_inactive_who_is_reactivated_and_launches_before_the_write_stays_active(
    stack: Stack, lms: Any, clock: Any
) -> None:
    # The read sees Ria inactive; before its write, the LMS reactivates her and she launches. Her launch is
    # the newer word: she must not be marked inactive until the next read.
    course = roster_course(stack, lms, unlaunched=0)
    stack.drain()
    service = container.roster()
    write = service.enrollments.set_lms_status_unless_launched
    lms.set_member_status(CONTEXT, "ria", active=False)

    def reactivated_and_launched_first(*args: Any, **kwargs: Any) -> Any:
        lms.set_member_status(CONTEXT, "ria", active=True)
        assert stack.launch13(lms, "ria", CONTEXT, "link-quiz-1").status_code in (200, 302)
        return write(*args, **kwargs)

    service.enrollments.set_lms_status_unless_launched = reactivated_and_launched_first  # type: ignore[method-assign]
    try:
        report = service.sync(course.course_id, clock.now)
    finally:
        del service.enrollments.set_lms_status_unless_launched
    assert course.enrollment("ria").lms_status is None
    assert report.status_changed == 0
    # A later read that sees her inactive (after her launch) does mark her.
    lms.set_member_status(CONTEXT, "ria", active=False)
    clock.advance(minutes=1)
    assert container.roster().sync(course.course_id, clock.now).status_changed == 1
    assert course.enrollment("ria").lms_status == "Inactive"


def test_a_member_reactivated_and_launched_between_the_read_and_its_mark_is_left_active(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = roster_course(stack, lms, unlaunched=0)
    stack.drain()
    service = container.roster()
    read = service.client.members
    lms.set_member_status(CONTEXT, "ria", active=False)
    reads: list[int] = []

    def first_read_then_she_comes_back(*args: Any, **kwargs: Any) -> Any:
        members = read(*args, **kwargs)
        if not reads:
            lms.set_member_status(CONTEXT, "ria", active=True)
            stack.launch13(lms, "ria", CONTEXT, "link-quiz-1")
        reads.append(len(members))
        return members

    service.client.members = first_read_then_she_comes_back  # type: ignore[method-assign]
    try:
        service.sync(course.course_id, clock.now)
    finally:
        del service.client.members
    assert len(reads) == 2  # someone was leaving: the read looked twice
    assert course.enrollment("ria").lms_status is None
