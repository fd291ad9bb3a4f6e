"""The five races a reviewer found, each replayed deterministically on the in-process stack.

Two workers run the real score and release handlers in two threads of this process. A gate
holds the first worker's LMS call (the POST itself goes to the emulator, over HTTP, once the gate
opens), so the other worker runs to the end in between: the same interleaving every run, no
sleeps. Each test fails on the code before the send protocol (docs/architecture.md, "A cell's
states") and names the rule it proves.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from course_setup import lti13_course
from passback import container
from passback.domain.release import ReleasePolicy
from passback.emulator import LmsEmulator
from stack_harness import CONSUMER_KEY, Stack, activity, score


class HeldSend:
    """The LMS gateway, with its first send held until `release` is set (then sent for real)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.entered = threading.Event()
        self.release = threading.Event()
        self._first = threading.Lock()

    def send(self, *args: Any, **kwargs: Any) -> Any:
        if self._first.acquire(blocking=False):
            self.entered.set()
            assert self.release.wait(30), "the held send was never released"
        return self.real.send(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldSend]:
    gate = HeldSend(container.sync().lms)
    monkeypatch.setattr(container.sync(), "lms", gate)
    yield gate
    gate.release.set()


@pytest.fixture
def moodle(clock: Any) -> Iterator[LmsEmulator]:
    with LmsEmulator(mode="moodle", clock=lambda: clock.now.timestamp()) as emulator:  # noqa: PLW0108 - now moves
        yield emulator


def poller(stack: Stack, queue: str) -> Any:
    return next(p for p in stack.pollers if p.queue_url == stack.queue_urls[queue])


def in_background(work: Callable[[], Any]) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def assert_timestamps_increase(lms: Any, user: str) -> None:
    stamps = [datetime.fromisoformat(s["timestamp"]) for s in lms.score_history() if s["user_id"] == user]
    assert all(a < b for a, b in itertools.pairwise(stamps)), stamps


def test_the_newest_grade_wins_when_an_older_grades_post_is_slower(
    stack: Stack, lms: Any, clock: Any, held: HeldSend
) -> None:
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    scores = poller(stack, "ScoreQueue")
    stack.send_messages([score(course.ref("sam"), "quiz-1", 1, 60.0, clock.now - timedelta(seconds=2))])
    first = in_background(scores.poll_once)  # batch A: applies 60, its POST is held
    assert held.entered.wait(30)
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 70.0, clock.now - timedelta(seconds=1))])
    assert scores.poll_once() == 1  # batch B: applies 70 and finishes while A's POST is in flight
    held.release.set()
    first.join(30)
    stack.drain()

    assert course.lms_grade("sam", "link-quiz-1") == 70.0
    cell = course.cell("sam", "link-quiz-1")
    assert (cell.status, cell.sent_value) == ("synced", 70.0)
    assert_timestamps_increase(lms, "sam")


def test_one_owed_value_delivered_to_two_concurrent_batches_is_posted_once(
    stack: Stack, moodle: LmsEmulator, clock: Any, held: HeldSend
) -> None:
    course = lti13_course(stack, moodle, students=("sam",), activities=(("quiz-1", 1),))
    scores = poller(stack, "ScoreQueue")
    message = score(course.ref("sam"), "quiz-1", 1, 70.0, clock.now - timedelta(seconds=1))
    moodle.reset_counters()
    stack.send_messages([message])
    first = in_background(scores.poll_once)
    assert held.entered.wait(30)
    stack.send_messages([message])  # SQS delivers it again (or the product retried), to another batch
    assert scores.poll_once() == 1
    held.release.set()
    first.join(30)
    stack.drain()

    assert moodle.counters["score"] == 1
    assert course.lms_grade("sam", "link-quiz-1") == 70.0
    cell = course.cell("sam", "link-quiz-1")
    assert (cell.status, cell.sent_value) == ("synced", 70.0)


def test_a_release_between_a_batchs_course_read_and_its_sync_is_not_undone(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    container.course_settings().set_policy(course.course_id, ReleasePolicy.MANUAL, None, now=clock.now)
    stack.send_messages([score(course.ref("sam"), "quiz-1", 1, 60.0, clock.now - timedelta(seconds=2))])
    stack.drain()
    assert course.cell("sam", "link-quiz-1").status == "not released"
    releases = poller(stack, "ReleaseQueue")
    scoring = container.scoring()
    real = scoring.courses

    class ReleasedRightAfterTheRead:
        """The batch reads the course (not released yet); the instructor's Release Grades runs at once."""

        def __init__(self) -> None:
            self.done = False

        def get(self, course_id: str, **kwargs: Any) -> Any:
            found = real.get(course_id, **kwargs)
            if not self.done:
                self.done = True
                container.jobs().request("release", course_id, clock.now, activity_id="quiz-1")
                while releases.poll_once():
                    pass
            return found

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(scoring, "courses", ReleasedRightAfterTheRead())
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 70.0, clock.now - timedelta(seconds=1))])
    stack.drain()

    assert course.lms_grade("sam", "link-quiz-1") == 70.0
    cell = course.cell("sam", "link-quiz-1")
    assert (cell.status, cell.sent_value) == ("synced", 70.0)


def test_an_lti11_launch_racing_a_sync_of_its_cell_stores_its_target_instead_of_a_500(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack.register_lti11(lms)
    lms.add_course("hist-1", "History 1")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    lms.add_user("lee", name="Lee Learner", email="lee@example.edu")
    lms.enroll("hist-1", "teacher", "instructor")
    lms.enroll("hist-1", "lee", "student")
    lms.add_link("hist-1", "quiz-link", title="Quiz", custom={"activity_id": "quiz-1"})
    lms.add_link("hist-1", "home-link", title="History home")
    stack.send_messages([activity("quiz-1", "Quiz", min_questions=1)])
    stack.drain()
    assert stack.launch11(lms, "teacher", "hist-1", "quiz-link", roles="Instructor").status_code == 303
    assert stack.launch11(lms, "lee", "hist-1", "home-link").status_code == 200
    stack.drain()
    launches = container.launches()
    real = launches.cells
    scores = poller(stack, "ScoreQueue")

    class SyncedRightAfterTheRead:
        """The launch reads the quiz cell (none yet); a score batch syncs Lee's cells at that moment."""

        def __init__(self) -> None:
            self.done = False

        def get(self, *args: Any, **kwargs: Any) -> Any:
            found = real.get(*args, **kwargs)
            if not self.done:
                self.done = True
                assert scores.poll_once() == 1
            return found

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(launches, "cells", SyncedRightAfterTheRead())
    stack.send_messages([score({"consumer_key": CONSUMER_KEY, "user_id": "lee"}, "quiz-1", 1, 72.0, clock.now)])
    response = stack.launch11(lms, "lee", "hist-1", "quiz-link")
    stack.drain()

    assert response.status_code == 200, response.text[:300]
    outcomes = {o["resource_link_id"]: o["score"] for o in lms.outcomes() if o["user_id"] == "lee"}
    assert outcomes == {"home-link": 0.72, "quiz-link": 0.72}


def test_a_score_dated_a_year_ahead_is_refused_and_later_real_scores_still_count(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    stack.send_messages([score(course.ref("sam"), "quiz-1", 1, 90.0, clock.now + timedelta(days=365))])
    stack.drain()
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 70.0, clock.now)])
    stack.drain()

    assert course.lms_grade("sam", "link-quiz-1") == 70.0
    parked = stack.dead_letters()
    assert len(parked) == 1
    attributes = parked[0]["MessageAttributes"]
    assert attributes["reason"]["StringValue"] == "occurred_at in the future"
    assert "clock" in attributes["detail"]["StringValue"]


def test_a_launch_refreshing_an_enrollment_a_grade_write_changed_meanwhile_re_applies_instead_of_a_500(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by the concurrency suite: the retry after a lost race sent PynamoDB's version increment
    # twice, DynamoDB refused the update, and the launch answered 500.
    from passback.data import enrollments as module
    from passback.domain.records import GradeEntry

    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    repository = container.enrollments()
    learner = course.learners["sam"]
    real_get = module.Enrollment.get
    raced: list[bool] = []

    def get_then_a_grade_lands(*args: Any, **kwargs: Any) -> Any:
        item = real_get(*args, **kwargs)
        if not raced:
            raced.append(True)  # another worker's grade write, right after our read
            repository.set_grades(
                course.course_id, learner, {0: GradeEntry(value=80.0, answered=3, progress_version=9)}
            )
        return item

    monkeypatch.setattr(module.Enrollment, "get", get_then_a_grade_lands)
    repository.update_identity(
        course.course_id, learner, role="learner", lms_user_id="sam", name="Sam Renamed", email="sam@example.edu"
    )
    monkeypatch.setattr(module.Enrollment, "get", real_get)

    refreshed = course.enrollment("sam")
    assert refreshed.name == "Sam Renamed"
    assert refreshed.grades[0].value == 80.0


class DyingSend:
    """The LMS gateway whose first send never returns: its process died (SIGKILL) mid-send.

    The "dead" thread is held until the test ends, then leaves without posting or recording anything.
    """

    def __init__(self, real: Any) -> None:
        self.real = real
        self.entered = threading.Event()
        self.buried = threading.Event()
        self._first = threading.Lock()

    def send(self, *args: Any, **kwargs: Any) -> Any:
        if self._first.acquire(blocking=False):
            self.entered.set()
            self.buried.wait(60)
            return None  # the test is over: this "dead" sender just records nothing it did
        return self.real.send(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_cell_whose_sender_died_mid_send_is_redriven_after_its_lease_when_its_input_is_redelivered_early(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed `passback serve` gives its in-flight messages back at once on restart, before the dead
    holder's lease ends: the redelivery finds the claim "live" and held for the value it owes. It must
    leave a mark so that the sweep takes the cell over once the lease ends; nothing else ever would."""
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    scores = poller(stack, "ScoreQueue")
    stack.send_messages([score(course.ref("sam"), "quiz-1", 1, 60.0, clock.now - timedelta(seconds=5))])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 60.0
    dying = DyingSend(container.sync().lms)
    monkeypatch.setattr(container.sync(), "lms", dying)
    newer = score(course.ref("sam"), "quiz-1", 2, 70.0, clock.now - timedelta(seconds=1))
    stack.send_messages([newer])
    dead = in_background(scores.poll_once)  # claims the cell for 70, then dies before the POST
    try:
        assert dying.entered.wait(30)
        stack.send_messages([newer])  # the restart gives the in-flight message back at once
        assert scores.poll_once() == 1
        stack.drain()
        clock.advance(seconds=121)  # the dead holder's lease ends
        stack.sweep()
        stack.drain()

        assert course.lms_grade("sam", "link-quiz-1") == 70.0
        cell = course.cell("sam", "link-quiz-1")
        assert (cell.status, cell.sent_value, cell.mark_for) == ("synced", 70.0, None)
        assert cell.done_claim == course.claim("sam", "link-quiz-1").claim_id  # released
        assert_timestamps_increase(lms, "sam")
    finally:
        dying.buried.set()
        dead.join(30)


def test_a_claim_taken_late_in_a_long_invocation_holds_its_full_lease_from_when_it_was_taken(
    stack: Stack, lms: Any, clock: Any, held: HeldSend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invocation passes one `now` to every cell it syncs (a release chunk may take its whole
    120 s). A claim it takes late must still hold 120 s from when it was taken: a lease counted
    from the invocation's start would end while its holder is still sending, and a second holder
    would post the same cell at the same time (for LTI 1.1, with no timestamp, in any order)."""
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    scores = poller(stack, "ScoreQueue")
    scoring = container.scoring()
    real_apply = scoring.apply
    first_call = threading.Event()

    def after_a_long_while(*args: Any, **kwargs: Any) -> Any:
        if not first_call.is_set():
            first_call.set()
            clock.advance(seconds=110)  # the invocation spent 110 s on other work before this message
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(scoring, "apply", after_a_long_while)
    stack.send_messages([score(course.ref("sam"), "quiz-1", 1, 60.0, clock.now - timedelta(seconds=2))])
    first = in_background(scores.poll_once)  # claims at its now + 110 s; its POST is held
    assert held.entered.wait(30)
    clock.advance(seconds=15)  # 15 s into the claim: it is live
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 70.0, clock.now - timedelta(seconds=1))])
    assert scores.poll_once() == 1
    posted_while_held = [s for s in lms.score_history() if s["user_id"] == "sam"]
    cell = course.cell("sam", "link-quiz-1")
    claim = course.claim("sam", "link-quiz-1")
    held.release.set()
    first.join(30)
    stack.drain()

    assert posted_while_held == [], "a second sender posted while the first still held its claim"
    assert cell.mark_for == claim.claim_id  # the second batch marked the first one's claim
    assert course.lms_grade("sam", "link-quiz-1") == 70.0
    assert_timestamps_increase(lms, "sam")


def test_a_request_path_sender_that_died_holding_its_claim_is_taken_over_by_the_sweep_at_the_lease_end(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A launch's sync (or a resync) claims a cell and dies mid-send. Unlike a score batch, nothing
    delivers its input again soon (the job's message comes back after the release queue's 12-minute
    visibility timeout, and a CLI or page would not at all): its claim is on the `due` index at the
    lease end, so the sweep syncs the learner then and the owed grade goes."""
    import json

    from passback.messages import parse_product_message

    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    stack.send_messages([score(course.ref("sam"), "quiz-1", 1, 60.0, clock.now - timedelta(seconds=5))])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 60.0
    # A newer grade is written but not sent (its batch died after the write), then a launch's sync comes.
    newer = score(course.ref("sam"), "quiz-1", 2, 70.0, clock.now - timedelta(seconds=1))
    container.scoring().apply(parse_product_message(json.dumps(newer)), clock.now, {})
    dying = DyingSend(container.sync().lms)
    monkeypatch.setattr(container.sync(), "lms", dying)
    container.jobs().request("sync", course.course_id, clock.now, learner_id=course.learners["sam"])
    dead = in_background(poller(stack, "ReleaseQueue").poll_once)  # claims the cell for 70, then dies
    try:
        assert dying.entered.wait(30)
        stack.sweep()  # the lease has not ended: the claim is live, nothing is taken over
        assert course.lms_grade("sam", "link-quiz-1") == 60.0
        clock.advance(seconds=121)  # the dead holder's lease ends
        stack.sweep()
        stack.drain()

        assert course.lms_grade("sam", "link-quiz-1") == 70.0
        cell = course.cell("sam", "link-quiz-1")
        assert (cell.status, cell.sent_value) == ("synced", 70.0)
        assert cell.done_claim == course.claim("sam", "link-quiz-1").claim_id
        assert_timestamps_increase(lms, "sam")
        stack.sweep()  # the sweep took the enrollment off `due`: nothing more to do
        assert [s["score_given"] for s in lms.score_history() if s["user_id"] == "sam"] == [60.0, 70.0]
    finally:
        dying.buried.set()
        dead.join(30)


class LaggingReplica:
    """The course repository of a job runner, its eventually consistent reads served by a replica that
    has not seen the latest course write yet (DynamoDB makes no promise how soon it does; moto always has).

    A consistent read sees the write. What the replica returns is the course as it was when this was made.
    """

    def __init__(self, real: Any, course_id: str) -> None:
        self.real = real
        self.before = real.get(course_id, consistent=True)
        self.stale_reads = 0

    def get(self, course_id: str, *, consistent: bool = False) -> Any:
        if consistent or self.before is None or course_id != self.before.course_id:
            return self.real.get(course_id, consistent=consistent)
        self.stale_reads += 1
        return self.before

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_release_jobs_homepage_composite_is_decided_on_the_course_as_released_not_on_a_lagging_read(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Release Grades marks the activity released, then syncs its links and the homepage links. The
    homepage composite counts released activities only, so a sync that read the course before the
    release (an eventually consistent read right after the write) finds the composite unchanged and
    sends nothing; nobody else sends it (release is the only writer that changed it)."""
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1), ("quiz-2", 1)), homepage=True)
    container.course_settings().set_policy(course.course_id, ReleasePolicy.MANUAL, None, now=clock.now)
    stack.send_messages(
        [
            score(course.ref("sam"), "quiz-1", 1, 80.0, clock.now - timedelta(seconds=2)),
            score(course.ref("sam"), "quiz-2", 1, 60.0, clock.now - timedelta(seconds=2)),
        ]
    )
    stack.drain()
    container.jobs().request("release", course.course_id, clock.now, activity_id="quiz-1")
    stack.drain()
    assert (course.lms_grade("sam", "link-quiz-1"), course.lms_grade("sam", "home")) == (80.0, 80.0)
    lagging = LaggingReplica(container.jobs().courses, course.course_id)
    monkeypatch.setattr(container.jobs(), "courses", lagging)
    container.jobs().request("release", course.course_id, clock.now, activity_id="quiz-2")
    stack.drain()
    monkeypatch.setattr(container.jobs(), "courses", lagging.real)

    assert course.lms_grade("sam", "link-quiz-2") == 60.0
    assert course.lms_grade("sam", "home") == 70.0  # the average of both released activities
    assert course.cell("sam", "home").sent_value == 70.0


def test_a_deadline_closed_now_gives_its_zeros_even_if_the_regrade_job_reads_a_lagging_course(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deadline set in the past queues its regrade at once, with the id the sweep would give it, so
    the sweep's own queueing is a no-op: that one job must see the deadline, or its zeros are never given."""
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 88.0, clock.now - timedelta(minutes=30))])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 88.0
    lagging = LaggingReplica(container.jobs().courses, course.course_id)
    monkeypatch.setattr(container.jobs(), "courses", lagging)
    container.course_settings().set_gau(course.course_id, "quiz-1", clock.now - timedelta(hours=1), clock.now)
    stack.drain()
    monkeypatch.setattr(container.jobs(), "courses", lagging.real)
    stack.sweep()  # claims the deadline; its regrade has the same job id and does not run again
    stack.drain()

    assert course.lms_grade("sam", "link-quiz-1") == 0.0  # the work was reported after the deadline


class LaggingEnrollment:
    """The enrollment repository of a job runner, its eventually consistent reads of one enrollment served
    by a replica that has not seen the latest write to it yet (here: the launch that created it)."""

    def __init__(self, real: Any, course_id: str, learner_id: str) -> None:
        self.real = real
        self.key = (course_id, learner_id)
        self.before = real.get(course_id, learner_id, consistent=True)
        self.stale_reads = 0

    def get(self, course_id: str, learner_id: str, *, consistent: bool = False) -> Any:
        if consistent or (course_id, learner_id) != self.key:
            return self.real.get(course_id, learner_id, consistent=consistent)
        self.stale_reads += 1
        return self.before

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_rule9_a_first_launch_sends_the_earlier_work_even_if_its_sync_job_reads_a_lagging_enrollment(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launch creates the enrollment (with the work done before it, rule 3) and queues a sync of the
    learner: that job is the only sender of that work. Reading the enrollment from a replica that has not
    seen it yet, it found no enrollment and sent nothing."""
    course = lti13_course(stack, lms, students=(), launch_students=False)
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll(course.context, "sam", "student")
    stack.send_messages([score(course.ref("sam"), "quiz-1", 5, 90.0, clock.now)])
    stack.drain()
    learner = container.learners().by_identity(course.record().platform_id, "sam")
    assert learner is not None
    lagging = LaggingEnrollment(container.jobs().enrollments, course.course_id, learner)
    assert lagging.before is None
    monkeypatch.setattr(container.jobs(), "enrollments", lagging)
    assert stack.launch13(lms, "sam", course.context, "link-quiz-1").status_code == 200
    stack.drain()

    assert course.lms_grade("sam", "link-quiz-1") == 90.0


def test_a_status_that_stops_sending_user_not_in_course_is_recorded_only_on_the_enrollment_as_it_is_now(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A course job pages the enrollments first and reads their cells after. The roster had said the
    learner left; they launched since (back in the course) and their cell was synced. The page, read
    before that launch, still says they left: writing `user not in course` from it would stop sending
    over a cell the launch had just brought up to date (rule 6 of the protocol: a status that stops
    sending is recorded on fresh reads)."""
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    stack.send_messages([score(course.ref("sam"), "quiz-1", 1, 60.0, clock.now - timedelta(seconds=2))])
    stack.drain()
    assert course.cell("sam", "link-quiz-1").status == "synced"
    learner = course.learners["sam"]
    repository = container.enrollments()
    repository.set_lms_status(course.course_id, learner, "Inactive")  # a roster read: they left
    stale_page, _ = repository.page(course.course_id, None, 100)  # a chunk pages the enrollments now...
    repository.set_lms_status(course.course_id, learner, None)  # ...they launch: back in the course
    real_page = container.jobs().enrollments.page
    monkeypatch.setattr(container.jobs().enrollments, "page", lambda *_, **__: (stale_page, None))
    container.jobs().request("sync", course.course_id, clock.now, requested_by="zero-fill setting")
    stack.drain()
    monkeypatch.setattr(container.jobs().enrollments, "page", real_page)

    cell = course.cell("sam", "link-quiz-1")
    assert (cell.status, cell.sent_value) == ("synced", 60.0)


def test_a_grade_written_after_its_batch_read_the_cells_is_sent_even_if_that_read_showed_the_holder_already_marked(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A score batch reads the learner's cells before its grade write. Its read shows the live claim's
    cell already marked (by another sender); then the holder records, decides again (the grade is not
    written yet: nothing new to send) and leaves; then the batch writes 80. Its sync must still leave its
    own mark, a conditional write on the cell it read: skipping it because "the cell is marked already"
    (on a read older than its grade) left 80 unsent for good (rule 5 of the protocol)."""
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    scores = poller(stack, "ScoreQueue")
    stack.send_messages([score(course.ref("sam"), "quiz-1", 1, 60.0, clock.now - timedelta(seconds=3))])
    stack.drain()
    held = HeldSend(container.sync().lms)
    monkeypatch.setattr(container.sync(), "lms", held)
    seventy = score(course.ref("sam"), "quiz-1", 2, 70.0, clock.now - timedelta(seconds=2))
    stack.send_messages([seventy])
    holder = in_background(scores.poll_once)  # claims the cell for 70; its POST is held
    assert held.entered.wait(30)
    stack.send_messages([seventy])  # delivered again: finds the live claim and marks the cell
    assert scores.poll_once() == 1
    claim = course.claim("sam", "link-quiz-1")
    assert course.cell("sam", "link-quiz-1").mark_for == claim.claim_id
    real = container.sync().cells

    class HolderFinishesRightAfterTheRead:
        """The next batch reads the cells (marked); the holder posts, records and leaves at that moment."""

        def __init__(self) -> None:
            self.done = False

        def for_learner(self, *args: Any, **kwargs: Any) -> Any:
            found = real.for_learner(*args, **kwargs)
            if not self.done:
                self.done = True
                held.release.set()
                holder.join(30)
            return found

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(container.sync(), "cells", HolderFinishesRightAfterTheRead())
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 80.0, clock.now - timedelta(seconds=1))])
    assert scores.poll_once() == 1
    monkeypatch.setattr(container.sync(), "cells", real)
    held.release.set()
    holder.join(30)
    stack.drain()
    clock.advance(seconds=121)  # and no sweep finds it later either
    stack.sweep()
    stack.drain()

    assert course.lms_grade("sam", "link-quiz-1") == 80.0
    cell = course.cell("sam", "link-quiz-1")
    assert (cell.status, cell.sent_value) == ("synced", 80.0)
    assert_timestamps_increase(lms, "sam")


def test_rule3_a_score_applied_while_a_first_launch_enrolls_the_learner_counts_in_that_course(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first launch enrolls the learner with their work so far (rule 3). A score applied just before
    the enrollment is created finds no enrollment in that course (it writes no grade there): the
    launch must read the learner's progress after creating it. Read before (as it was), it missed 90."""
    import json

    from passback.messages import parse_product_message

    course = lti13_course(stack, lms, students=(), launch_students=False)
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll(course.context, "sam", "student")
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 50.0, clock.now - timedelta(seconds=2))])
    stack.drain()
    scoring = container.scoring()
    enrollments = container.launches().enrollments
    real_create = enrollments.create_if_absent
    ninety = score(course.ref("sam"), "quiz-1", 3, 90.0, clock.now - timedelta(seconds=1))

    def a_score_lands_first(*args: Any, **kwargs: Any) -> Any:
        # Another worker applies 90 (no enrollment in this course yet: no grade, nothing to sync).
        applied = scoring.apply(parse_product_message(json.dumps(ninety)), clock.now, {})
        assert applied.course_ids == frozenset()
        return real_create(*args, **kwargs)

    monkeypatch.setattr(enrollments, "create_if_absent", a_score_lands_first)
    assert stack.launch13(lms, "sam", course.context, "link-quiz-1").status_code == 200
    monkeypatch.setattr(enrollments, "create_if_absent", real_create)
    stack.drain()

    assert course.lms_grade("sam", "link-quiz-1") == 90.0


def test_rule3_a_first_launch_between_a_scores_course_lookup_and_its_progress_write_still_counts_it(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other order: the whole first launch (progress read, enrollment created, progress read again)
    runs while a score is being applied. The score must look for the learner's courses after its
    progress write, or it finds none and the launch's reads both come before that write."""
    import json

    from passback.messages import parse_product_message

    course = lti13_course(stack, lms, students=(), launch_students=False)
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll(course.context, "sam", "student")
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 50.0, clock.now - timedelta(seconds=2))])
    stack.drain()
    scoring = container.scoring()
    real_courses_of = scoring.enrollments.courses_of
    launched: list[int] = []

    def launch_right_after(learner_id: str) -> Any:
        found = real_courses_of(learner_id)
        if not launched:
            launched.append(stack.launch13(lms, "sam", course.context, "link-quiz-1").status_code)
        return found

    monkeypatch.setattr(scoring.enrollments, "courses_of", launch_right_after)
    ninety = score(course.ref("sam"), "quiz-1", 3, 90.0, clock.now - timedelta(seconds=1))
    applied = scoring.apply(parse_product_message(json.dumps(ninety)), clock.now, {})
    monkeypatch.setattr(scoring.enrollments, "courses_of", real_courses_of)
    assert launched == [200]
    if applied.learner_id is not None:  # the score found the course: its sync is owed (its batch would run it)
        container.sync().sync_learner(course.record(), applied.learner_id, clock.now)
    stack.drain()

    assert course.lms_grade("sam", "link-quiz-1") == 90.0


def test_a_release_between_a_batchs_cells_read_and_its_grade_write_is_not_undone(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch has read the course (not released) and the cells (`not released`, 60); Release Grades
    then runs to the end (it sends 60); then the batch writes 70. On its snapshot the cell already says
    what it would record ("nothing" to do, no write to fail). What saves 70: the release job's claim,
    taken after the batch's cell read, looks live on that read, so the batch marks; the mark's
    conditional write fails and the batch decides again on fresh reads (a guard written in review 17b:
    passes on main, fails if a claim released after a cell read were taken for released on that read)."""
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    container.course_settings().set_policy(course.course_id, ReleasePolicy.MANUAL, None, now=clock.now)
    stack.send_messages([score(course.ref("sam"), "quiz-1", 1, 60.0, clock.now - timedelta(seconds=2))])
    stack.drain()
    assert course.cell("sam", "link-quiz-1").status == "not released"
    releases = poller(stack, "ReleaseQueue")
    real = container.sync().cells

    class ReleasedRightAfterTheCellsRead:
        def __init__(self) -> None:
            self.done = False

        def for_learner(self, *args: Any, **kwargs: Any) -> Any:
            found = real.for_learner(*args, **kwargs)
            if not self.done:
                self.done = True
                container.jobs().request("release", course.course_id, clock.now, activity_id="quiz-1")
                while releases.poll_once():
                    pass
            return found

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    monkeypatch.setattr(container.sync(), "cells", ReleasedRightAfterTheCellsRead())
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 70.0, clock.now - timedelta(seconds=1))])
    stack.drain()
    monkeypatch.setattr(container.sync(), "cells", real)
    clock.advance(seconds=121)  # and no sweep finds it later either
    stack.sweep()
    stack.drain()

    assert course.lms_grade("sam", "link-quiz-1") == 70.0
    cell = course.cell("sam", "link-quiz-1")
    assert (cell.status, cell.sent_value) == ("synced", 70.0)
