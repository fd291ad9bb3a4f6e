"""Release, deadlines (GAU), automatic release policies and resync (issue 8; rules 7, 8, 10, 13).

In-process whole stack on moto with the LMS emulator on 127.0.0.1. What the LMS received is
counted per (user, link) from the emulator's log of accepted score POSTs, so "once" means once.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest

from course_setup import Course, lti13_course
from moto_atomic import atomic_dynamodb
from passback import container
from passback.domain.release import ReleasePolicy
from passback.services.course_settings import SettingRefused
from passback.services.sweep import Sweeper
from passback.services.sync import SyncService
from stack_harness import Stack, score

STUDENTS = ("sam", "ria", "lee")


def posts(lms: Any, context: str = "bio-101") -> Counter[tuple[str, str | None, float | None]]:
    """(user, link, value) of every accepted AGS score POST for the course."""
    return Counter(
        (s["user_id"], s["resource_link_id"], s["score_given"])
        for s in lms.score_history()
        if s["context_id"] == context
    )


def two_quiz_course(stack: Stack, lms: Any, students: tuple[str, ...] = STUDENTS) -> Course:
    """Students open only Quiz 1's link: Quiz 2's column has never seen them (rule 13)."""
    return lti13_course(stack, lms, students=students, activities=(("quiz-1", 1), ("quiz-2", 1)))


def test_rule7_two_sweeps_at_once_give_each_learner_without_a_grade_one_zero_even_on_an_unopened_link(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = two_quiz_course(stack, lms)
    stack.send_messages([score(course.ref("sam"), "quiz-2", 1, 85.0, clock.now)])
    stack.drain()
    # Sam has a grade on Quiz 2 but never opened its link either: in 1.3 the line item takes any sub.
    assert posts(lms) == Counter({("sam", "link-quiz-2", 85.0): 1})
    container.course_settings().set_gau(course.course_id, "quiz-2", clock.now + timedelta(hours=1), clock.now)
    clock.advance(hours=2)

    sweeper = container.sweeper()
    start = threading.Barrier(2)
    reports: list[int] = []

    def sweep() -> None:
        start.wait()
        reports.append(sweeper.deadlines(clock.now))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    # One DynamoDB call at a time, as DynamoDB applies each atomically (moto's in-process backend
    # is not thread-safe: unserialised, a sweep could die on moto's own race, not on ours).
    with atomic_dynamodb():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # Both sweeps may queue the zeros; the job's fixed id is what makes the LMS see them once.
    assert len(reports) == 2
    stack.drain()
    assert posts(lms) == Counter(
        {("sam", "link-quiz-2", 85.0): 1, ("ria", "link-quiz-2", 0.0): 1, ("lee", "link-quiz-2", 0.0): 1}
    )
    assert course.cell("ria", "link-quiz-2").status == "synced"
    assert course.enrollment("sam").grades[course.record().activities["quiz-2"].idx].value == 85.0

    # Work after the deadline changes nothing, and more sweeps find nothing left to do.
    stack.send_messages([score(course.ref("ria"), "quiz-2", 3, 99.0, clock.now)])
    stack.drain()
    stack.sweep()
    stack.drain()
    assert course.lms_grade("ria", "link-quiz-2") == 0.0
    assert sum(posts(lms).values()) == 3


def test_rule7_moving_a_deadline_later_before_it_passes_gives_no_zeros_until_the_new_one(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = two_quiz_course(stack, lms, students=("sam",))
    settings = container.course_settings()
    settings.set_gau(course.course_id, "quiz-1", clock.now + timedelta(hours=1), clock.now)
    clock.advance(minutes=30)
    settings.set_gau(course.course_id, "quiz-1", clock.now + timedelta(hours=2), clock.now)
    clock.advance(hours=1)  # past the first deadline, before the second
    assert stack.sweep()["deadlines"] == 0
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") is None
    clock.advance(hours=1)
    assert stack.sweep()["deadlines"] == 1
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 0.0


def test_rule7_a_deadline_that_passed_cannot_be_moved_and_the_refusal_says_why(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = two_quiz_course(stack, lms, students=("sam",))
    settings = container.course_settings()
    gau = clock.now + timedelta(minutes=10)
    settings.set_gau(course.course_id, "quiz-1", gau, clock.now)
    clock.advance(minutes=20)
    for moved in (clock.now + timedelta(days=7), None):
        with pytest.raises(SettingRefused, match="cannot be moved or removed") as refused:
            settings.set_gau(course.course_id, "quiz-1", moved, clock.now)
        assert "enter their grade in the LMS gradebook" in str(refused.value)
    settings.set_gau(course.course_id, "quiz-1", gau, clock.now)  # the same deadline again is no change
    assert course.record().activities["quiz-1"].gau == gau
    # Below the check, the write itself refuses to re-arm a deadline a sweep has applied (a race).
    stack.sweep()
    assert not container.courses().set_gau(course.course_id, "quiz-1", clock.now + timedelta(days=7))
    applied = course.record().activities["quiz-1"]
    assert (applied.gau, applied.gau_applied_at is not None) == (gau, True)


def test_rule8_immediate_is_the_default_policy_and_a_deployment_can_change_it(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = lti13_course(stack, lms, students=("sam",))
    assert course.record().release_policy is ReleasePolicy.IMMEDIATE
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 51.0, clock.now)])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 51.0

    monkeypatch.setenv("PASSBACK_DEFAULT_RELEASE_POLICY", "manual")
    container.reset()
    assert course.record().release_policy is ReleasePolicy.MANUAL  # a course that never chose one follows it
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 77.0, clock.now + timedelta(seconds=1))])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 51.0
    assert course.cell("sam", "link-quiz-1").status == "not released"


def test_sweeps_are_bounded_per_run_and_finish_the_rest_on_later_runs(stack: Stack, lms: Any, clock: Any) -> None:
    activities = tuple((f"quiz-{i}", 1) for i in range(1, 6))
    course = lti13_course(stack, lms, students=("sam", "ria", "lee"), activities=activities)
    settings = container.course_settings()
    for activity_id, _ in activities:
        settings.set_gau(course.course_id, activity_id, clock.now + timedelta(minutes=1), clock.now)
    lms.faults.fail(status=500, target="score")
    stack.send_messages([score(course.ref(u), "quiz-1", 1, 40.0, clock.now) for u in ("sam", "ria", "lee")])
    stack.drain()
    clock.advance(minutes=2)
    base = container.sweeper()
    small = Sweeper(base.courses, base.cells, base.sync, base.jobs, deadline_budget=2, retry_budget=8)
    assert [small.deadlines(clock.now) for _ in range(4)] == [2, 2, 1, 0]

    # Three cells wait for a retry; a budget of one per shard still reaches all of them.
    lms.faults.clear()
    clock.advance(minutes=5)
    runs = 0
    while small.retries(clock.now):
        runs += 1
        assert runs < 10
    stack.drain()
    for user in ("sam", "ria", "lee"):
        assert course.lms_grade(user, "link-quiz-1") == 40.0
        assert all(course.lms_grade(user, f"link-{a}") == 0.0 for a, _ in activities[1:])


def test_a_release_that_crashes_half_way_resumes_on_redelivery_and_sends_nothing_twice(
    stack: Stack, lms: Any, clock: Any
) -> None:
    learners = tuple(f"s{i:02d}" for i in range(7))
    course = lti13_course(stack, lms, students=learners)
    container.course_settings().set_policy(course.course_id, ReleasePolicy.MANUAL, None, now=clock.now)
    stack.send_messages([score(course.ref(u), "quiz-1", 2, 50.0 + i, clock.now) for i, u in enumerate(learners)])
    stack.drain()
    container.jobs().chunk = 3  # three chunks: 3 + 3 + 1 learners (and the instructor)
    crashed: list[str] = []
    real = SyncService.sync_learner

    def crash_once_mid_release(self: SyncService, course_: Any, learner_id: str, *a: Any, **k: Any) -> Any:
        result = real(self, course_, learner_id, *a, **k)
        # The crash comes after this learner's grade reached the LMS: the worst moment.
        if not crashed and learner_id == course.learners["s04"]:
            crashed.append(learner_id)
            raise RuntimeError("the release function died here")
        return result

    with mock.patch.object(SyncService, "sync_learner", autospec=True, side_effect=crash_once_mid_release):
        container.jobs().request("release", course.course_id, clock.now, activity_id="quiz-1")
        stack.drain()
    assert crashed
    assert posts(lms) == Counter({(u, "link-quiz-1", 50.0 + i): 1 for i, u in enumerate(learners)})
    assert stack.dead_letters("ReleaseDeadLetterQueue") == []


def _queue_down_once() -> Any:
    """The release queue refuses one message (SQS unavailable for a moment), then works."""
    from passback.queues import Queues

    real = Queues.send_job
    failed: list[str] = []

    def send_job(self: Queues, job: Any, **kwargs: Any) -> None:
        if not failed:
            failed.append(job.job_id)
            raise ConnectionError("the release queue is unreachable")
        real(self, job, **kwargs)

    return mock.patch.object(Queues, "send_job", autospec=True, side_effect=send_job)


def test_rule8_switching_a_manual_course_to_immediate_sends_what_it_now_releases(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms, students=("sam", "ria"))
    settings = container.course_settings()
    settings.set_policy(course.course_id, ReleasePolicy.MANUAL, None, now=clock.now)
    stack.send_messages([score(course.ref(u), "quiz-1", 2, 83.0, clock.now) for u in ("sam", "ria")])
    stack.drain()
    assert posts(lms) == Counter()
    settings.set_policy(course.course_id, ReleasePolicy.IMMEDIATE, None, now=clock.now)
    stack.drain()  # no new score and no sweep: the change itself syncs
    assert posts(lms) == Counter({("sam", "link-quiz-1", 83.0): 1, ("ria", "link-quiz-1", 83.0): 1})
    settings.set_policy(course.course_id, ReleasePolicy.IMMEDIATE, None, now=clock.now)
    stack.drain()
    assert sum(posts(lms).values()) == 2


def _at_once(work: Any) -> None:
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        work()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_rule8_at_date_policy_releases_through_the_schedule_once_the_date_passes_even_with_two_sweeps(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms, students=("sam", "ria"))
    release_at = clock.now + timedelta(days=2)
    container.course_settings().set_policy(course.course_id, ReleasePolicy.AT_DATE, release_at, now=clock.now)
    stack.send_messages([score(course.ref(u), "quiz-1", 2, 66.0, clock.now) for u in ("sam", "ria")])
    stack.drain()
    clock.advance(days=1)
    assert stack.sweep()["releases"] == 0
    stack.drain()
    assert posts(lms) == Counter()
    clock.advance(days=1, seconds=1)
    sweeper = container.sweeper()
    _at_once(lambda: sweeper.releases(clock.now))
    stack.drain()
    assert posts(lms) == Counter({("sam", "link-quiz-1", 66.0): 1, ("ria", "link-quiz-1", 66.0): 1})
    assert stack.sweep()["releases"] == 0


def test_rule8_after_gau_policy_releases_an_activity_with_its_zeros_when_its_deadline_passes_and_no_other(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = two_quiz_course(stack, lms, students=("sam", "ria"))
    settings = container.course_settings()
    settings.set_policy(course.course_id, ReleasePolicy.AFTER_GAU, None, now=clock.now)
    settings.set_gau(course.course_id, "quiz-1", clock.now + timedelta(hours=3), clock.now)
    stack.send_messages([score(course.ref("sam"), a, 2, 90.0, clock.now) for a in ("quiz-1", "quiz-2")])
    stack.drain()
    clock.advance(hours=2)
    stack.sweep()
    stack.drain()
    assert posts(lms) == Counter()
    clock.advance(hours=2)
    stack.sweep()
    stack.drain()
    assert posts(lms) == Counter({("sam", "link-quiz-1", 90.0): 1, ("ria", "link-quiz-1", 0.0): 1})
    clock.advance(days=30)  # quiz 2 has no deadline: under this policy only Release Grades sends it
    stack.sweep()
    stack.drain()
    assert sum(posts(lms).values()) == 2
    assert course.cell("sam", "link-quiz-2").status == "not released"


def test_rule10_resync_of_a_cell_then_an_activity_then_a_course_each_sends_its_scope_now(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = two_quiz_course(stack, lms, students=("sam", "ria"))
    lms.faults.fail(status=503, target="score", body="Service Unavailable")
    stack.send_messages(
        [
            score(course.ref(u), a, 2, 72.0, clock.now)
            for u, a in (("sam", "quiz-1"), ("sam", "quiz-2"), ("ria", "quiz-1"))
        ]
    )
    stack.drain()
    retry_at = min(course.cell(u, f"link-{a}").next_attempt_at for u, a in (("sam", "quiz-1"), ("ria", "quiz-1")))
    assert retry_at > clock.now
    lms.faults.clear()
    jobs = container.jobs()

    def synced() -> set[tuple[str, str]]:
        return {(u, a) for u in ("sam", "ria") for a in ("quiz-1", "quiz-2") if course.lms_grade(u, f"link-{a}")}

    # No sweep and no time passing: each resync itself sends, and only what it names.
    link = course.cell("sam", "link-quiz-1").link_id
    jobs.request("resync", course.course_id, clock.now, learner_id=course.learners["sam"], link_id=link)
    stack.drain()
    assert synced() == {("sam", "quiz-1")}
    jobs.request("resync", course.course_id, clock.now, activity_id="quiz-2")
    stack.drain()
    assert synced() == {("sam", "quiz-1"), ("sam", "quiz-2")}
    jobs.request("resync", course.course_id, clock.now)
    stack.drain()
    assert synced() == {("sam", "quiz-1"), ("sam", "quiz-2"), ("ria", "quiz-1")}
    assert clock.now < retry_at
    assert sum(posts(lms).values()) == 3


def test_a_sweep_that_cannot_queue_its_work_leaves_the_deadline_and_the_release_date_for_the_next_sweep(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = two_quiz_course(stack, lms, students=("sam", "ria"))
    settings = container.course_settings()
    settings.set_policy(course.course_id, ReleasePolicy.AT_DATE, clock.now + timedelta(hours=1), now=clock.now)
    settings.set_gau(course.course_id, "quiz-1", clock.now + timedelta(minutes=5), clock.now)
    stack.send_messages([score(course.ref("sam"), "quiz-2", 2, 58.0, clock.now)])
    stack.drain()
    clock.advance(hours=2)
    with _queue_down_once():
        assert container.sweeper().deadlines(clock.now) == 0
    with _queue_down_once():
        assert container.sweeper().releases(clock.now) == 0
    stack.sweep()
    stack.drain()
    assert posts(lms) == Counter(
        {("sam", "link-quiz-1", 0.0): 1, ("ria", "link-quiz-1", 0.0): 1, ("sam", "link-quiz-2", 58.0): 1}
    )
