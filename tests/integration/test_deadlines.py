"""Deadlines (rule 7) whatever order things happen in, and the previews that let people set them safely.

In-process whole stack on moto with the LMS emulator on 127.0.0.1 (issue 18).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from course_setup import lti13_course
from passback import container
from passback.domain.release import ReleasePolicy
from passback.services.course_settings import SettingRefused
from stack_harness import Stack, score


def test_previews_count_the_zeros_and_grades_a_past_deadline_a_release_and_a_resync_would_give(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms, students=("sam", "ria", "lee"), activities=(("quiz-1", 1),), homepage=True)
    settings = container.course_settings()
    settings.set_policy(course.course_id, ReleasePolicy.MANUAL, None, now=clock.now)
    # Sam works before the deadline, Lee and Ria never.
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 80.0, clock.now - timedelta(hours=2))])
    stack.drain()
    gau = clock.now - timedelta(hours=1)

    preview = settings.preview_gau(course.course_id, "quiz-1", gau, clock.now)
    assert (preview.passed, preview.learners, preview.zeros, preview.changed) == (True, 3, 2, 2)
    assert preview.needs_confirmation
    assert "2 of 3 students will get a zero" in preview.summary()
    future = settings.preview_gau(course.course_id, "quiz-1", clock.now + timedelta(days=1), clock.now)
    assert (future.passed, future.zeros, future.changed, future.needs_confirmation) == (False, 0, 0, False)
    # A preview changes nothing.
    assert course.record().activities["quiz-1"].gau is None

    settings.set_gau(course.course_id, "quiz-1", gau, clock.now)
    stack.sweep()
    stack.drain()
    release = settings.preview_release(course.course_id, "quiz-1", clock.now)
    assert (release.learners, release.grades, release.zeros, release.already_released) == (3, 3, 2, False)
    resync = settings.preview_resync(course.course_id, clock.now)
    assert (resync.learners, resync.links, resync.cells, resync.grades) == (3, 2, 6, 0)

    # Once passed and applied, the preview carries set_gau's refusal instead of numbers.
    moved = settings.preview_gau(course.course_id, "quiz-1", clock.now + timedelta(days=1), clock.now)
    assert moved.refused is not None
    assert "cannot be moved" in moved.refused
    assert not moved.needs_confirmation
    with pytest.raises(SettingRefused, match="no course"):
        settings.preview_gau("nope", "quiz-1", gau, clock.now)


# --- the timeline: the same grade whatever order things happened in (issue 18, cases 1 to 3) ------


def test_rule7_a_learner_who_enrolls_after_the_deadline_does_not_keep_work_done_after_it(
    stack: Stack, lms: Any, clock: Any
) -> None:
    """Case 1: Sam does all his work ten minutes after the GAU and first launches after it: 0, not 95."""
    course = lti13_course(stack, lms, students=("ria",), activities=(("quiz-1", 1),))
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll(course.context, "sam", "student")
    gau = clock.now + timedelta(hours=1)
    container.course_settings().set_gau(course.course_id, "quiz-1", gau, clock.now)
    clock.advance(hours=2)
    stack.sweep()
    stack.drain()
    assert course.lms_grade("ria", "link-quiz-1") == 0.0
    stack.send_messages([score(course.ref("sam"), "quiz-1", 5, 95.0, gau + timedelta(minutes=10))])
    stack.drain()
    assert stack.launch13(lms, "sam", course.context, "link-quiz-1").status_code in (200, 303)
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 0.0


def test_rule7_a_deadline_set_in_the_past_cuts_work_already_reported_after_it(
    stack: Stack, lms: Any, clock: Any
) -> None:
    """Case 2: the grade is the same whether the late report arrived before or after the deadline was set."""
    course = lti13_course(stack, lms, students=("sam", "ria"), activities=(("quiz-1", 1),))
    stack.send_messages(
        [
            score(course.ref("sam"), "quiz-1", 2, 88.0, clock.now - timedelta(minutes=30)),
            score(course.ref("ria"), "quiz-1", 2, 70.0, clock.now - timedelta(hours=2)),
            score(course.ref("ria"), "quiz-1", 4, 90.0, clock.now - timedelta(minutes=20)),
        ]
    )
    stack.drain()
    assert (course.lms_grade("sam", "link-quiz-1"), course.lms_grade("ria", "link-quiz-1")) == (88.0, 90.0)
    container.course_settings().set_gau(course.course_id, "quiz-1", clock.now - timedelta(hours=1), clock.now)
    stack.drain()  # the regrade is queued by the change itself: no sweep needed
    assert course.lms_grade("sam", "link-quiz-1") == 0.0
    assert course.lms_grade("ria", "link-quiz-1") == 70.0  # her on-time work, not the late 90
    stack.sweep()  # the sweep claims the deadline; its regrade has the same job id and runs once
    stack.drain()
    assert [s["score_given"] for s in lms.score_history() if s["user_id"] == "sam"] == [88.0, 0.0]


def test_rule7_holds_through_an_account_merge_the_absorbed_late_work_does_not_count(
    stack: Stack, lms: Any, clock: Any
) -> None:
    """Case 3: the merged timeline is cut at the course's deadline like any other."""
    course = lti13_course(stack, lms, students=(), activities=(("quiz-1", 1),))
    gau = clock.now + timedelta(minutes=10)
    container.course_settings().set_gau(course.course_id, "quiz-1", gau, clock.now)
    email = "mia@example.edu"
    stack.send_messages([score({"email": email}, "quiz-1", 3, 40.0, clock.now - timedelta(hours=1))])
    stack.drain()
    existing = container.learners().by_email(email)
    assert existing is not None
    lms.add_user("mia", name="Mia Student", email=email)
    lms.enroll(course.context, "mia", "student")
    stack.launch13(lms, "mia", course.context, "link-quiz-1")
    stack.send_messages([score(course.ref("mia"), "quiz-1", 3, 50.0, clock.now)])  # on time, in the LMS account
    stack.drain()
    clock.advance(hours=1)
    stack.sweep()
    stack.drain()
    # Late work in the product account (after the deadline), then the merge.
    stack.send_messages([score({"email": email}, "quiz-1", 9, 99.0, clock.now)])
    stack.drain()
    request = next(r for r in container.merges().requests.listing(10) if r.existing_learner_id == existing)
    container.merges().combine(request, clock.now)
    stack.drain()
    course.learners["mia"] = existing
    assert course.enrollment("mia").grades[course.record().activities["quiz-1"].idx].value == 50.0
    assert course.lms_grade("mia", "link-quiz-1") == 50.0


# --- extending a passed deadline -----------------------------------------------------------------


def test_rule7_extending_a_passed_deadline_counts_work_up_to_the_new_one_and_says_what_it_changes(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms, students=("sam", "ria", "lee"), activities=(("quiz-1", 1),))
    settings = container.course_settings()
    gau = clock.now + timedelta(minutes=10)
    settings.set_gau(course.course_id, "quiz-1", gau, clock.now)
    clock.advance(minutes=30)
    stack.sweep()
    stack.drain()
    assert {u: course.lms_grade(u, "link-quiz-1") for u in ("sam", "ria", "lee")} == {"sam": 0, "ria": 0, "lee": 0}
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 75.0, clock.now)])  # late for the first deadline
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 0.0
    with pytest.raises(SettingRefused, match="cannot be moved"):
        settings.set_gau(course.course_id, "quiz-1", clock.now + timedelta(days=1), clock.now)
    with pytest.raises(SettingRefused, match="later than the current deadline"):
        settings.extend_gau(course.course_id, "quiz-1", gau - timedelta(minutes=1), clock.now)

    new_gau = clock.now + timedelta(hours=1)
    preview = settings.preview_extend(course.course_id, "quiz-1", new_gau, clock.now)
    assert (preview.changed, preview.withdrawn, preview.refused) == (3, 2, None)
    assert "2 students lose their deadline zero" in preview.extension_summary()
    settings.extend_gau(course.course_id, "quiz-1", new_gau, clock.now)
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 75.0
    assert course.record().activities["quiz-1"].gau_applied_at is None
    # The new deadline passes: the zeros are due again, and work after it does not count.
    clock.advance(hours=2)
    stack.sweep()
    stack.drain()
    stack.send_messages([score(course.ref("ria"), "quiz-1", 3, 99.0, clock.now)])
    stack.drain()
    assert {u: course.lms_grade(u, "link-quiz-1") for u in ("sam", "ria", "lee")} == {"sam": 75, "ria": 0, "lee": 0}


# --- release is a fact (case 7) ------------------------------------------------------------------


def test_rule8_grades_a_policy_released_stay_released_when_the_policy_changes(
    stack: Stack, lms: Any, clock: Any
) -> None:
    """Case 7: sent under `immediate`, then `manual`: the column stays released and new scores still go."""
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1), ("quiz-2", 1)))
    settings = container.course_settings()
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 80.0, clock.now)])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 80.0
    settings.set_policy(course.course_id, ReleasePolicy.MANUAL, None, now=clock.now)
    record = course.record()
    assert record.released("quiz-1", clock.now)
    assert not record.released("quiz-2", clock.now)  # nothing of it ever left: it follows the new policy
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 90.0, clock.now + timedelta(seconds=5))])
    stack.send_messages([score(course.ref("sam"), "quiz-2", 3, 60.0, clock.now + timedelta(seconds=5))])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 90.0
    assert course.cell("sam", "link-quiz-1").status == "synced"
    assert course.lms_grade("sam", "link-quiz-2") is None
    assert course.cell("sam", "link-quiz-2").status == "not released"


# --- the CLI: times with their offset, and a question before a past deadline ---------------------


def test_cli_gau_set_takes_an_offset_refuses_a_naive_time_and_asks_before_a_past_deadline(
    stack: Stack, lms: Any, clock: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from passback.cli import main

    course = lti13_course(stack, lms, students=("sam", "ria"), activities=(("quiz-1", 1),))
    base = ["gau", "set", "--course", course.course_id, "--activity", "quiz-1"]
    naive = (clock.now + timedelta(days=1)).replace(tzinfo=None).isoformat(timespec="minutes")
    assert main([*base, "--at", naive]) == 2
    assert "has no UTC offset" in capsys.readouterr().err
    assert course.record().activities["quiz-1"].gau is None
    with pytest.raises(SystemExit) as bad:
        main([*base, "--at", "tomorrow"])
    assert bad.value.code == 2
    assert "is not an ISO 8601 date and time" in capsys.readouterr().err

    # 23:59 in Pacific time is 07:59 UTC the next day: stored as that moment.
    pacific = (clock.now + timedelta(days=2)).strftime("%Y-%m-%dT23:59-08:00")
    assert main([*base, "--at", pacific]) == 0
    stored = course.record().activities["quiz-1"].gau
    assert stored is not None
    assert stored.isoformat().endswith("07:59:00+00:00")
    assert main([*base, "--clear"]) == 0

    # A past deadline says what it will do and, with no terminal to ask on, needs --yes.
    past = (clock.now - timedelta(hours=1)).isoformat()
    assert main([*base, "--at", past]) == 2
    err = capsys.readouterr().err
    assert "2 of 2 students will get a zero" in err
    assert "--yes" in err
    assert course.record().activities["quiz-1"].gau is None
    assert main([*base, "--at", past, "--yes"]) == 0
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 0.0
    assert main([*base, "--utc", "--at", naive]) == 2  # a passed deadline cannot be moved by `set`
    assert "passback gau extend" in capsys.readouterr().err


def test_rule7_a_score_applied_with_the_course_read_before_a_deadline_change_does_not_win_over_it(
    stack: Stack, lms: Any, clock: Any
) -> None:
    """The race: a batch read the course (no deadline yet), the instructor sets a past deadline, and the
    batch writes a grade computed without it from newer progress, before or after the deadline's regrade."""
    import json

    from passback.messages import parse_product_message

    def late(value: float) -> Any:
        return parse_product_message(json.dumps(score(course.ref("sam"), "quiz-1", 3, value, clock.now)))

    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 88.0, clock.now - timedelta(minutes=30))])
    stack.drain()
    idx = course.record().activities["quiz-1"].idx
    stale = {course.course_id: course.record()}  # the batch's course cache, read before the change
    container.course_settings().set_gau(course.course_id, "quiz-1", clock.now - timedelta(hours=1), clock.now)
    # The batch writes first (93, newer progress, no deadline); then the deadline's regrade runs. Progress
    # versions alone would keep 93: the regrade sees the conflict and recomputes from fresh reads.
    container.scoring().apply(late(93.0), clock.now, stale)
    stack.drain()
    assert course.enrollment("sam").grades[idx].value == 0.0
    # The other order: the regrade has written, and another stale write comes (newer progress again).
    container.scoring().apply(late(95.0), clock.now + timedelta(seconds=1), stale)
    entry = course.enrollment("sam").grades[idx]
    assert (entry.value, entry.zero) == (0.0, True)
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 0.0


def test_rule7_a_deadline_regrade_that_read_progress_before_a_score_does_not_leave_the_older_grade(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 18: the deadline's regrade settles a conflict from fresh reads, but a score lands between
    its read of the progress and its write (the score computed under the course as it was before the
    deadline). The regrade's write, under the right deadline but from the older progress, must not be
    the last word: the on-time report that arrived late counts."""
    import json

    from passback.data.progress import ProgressRepository
    from passback.messages import parse_product_message

    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 88.0, clock.now - timedelta(hours=2))])
    stack.drain()
    idx = course.record().activities["quiz-1"].idx
    stale = {course.course_id: course.record()}  # a batch's course cache, read before the deadline
    on_time_but_slow = parse_product_message(
        json.dumps(score(course.ref("sam"), "quiz-1", 3, 93.0, clock.now - timedelta(minutes=90)))
    )
    real_get = ProgressRepository.get
    armed = [True]

    def get(self: ProgressRepository, learner_id: str, activity_id: str, *, consistent: bool = False) -> Any:
        found = real_get(self, learner_id, activity_id, consistent=consistent)
        if consistent and armed[0]:
            armed[0] = False  # the score lands now: after this read, before the regrade's write
            container.scoring().apply(on_time_but_slow, clock.now, stale)
        return found

    monkeypatch.setattr(ProgressRepository, "get", get)
    container.course_settings().set_gau(course.course_id, "quiz-1", clock.now - timedelta(hours=1), clock.now)
    stack.drain()
    assert not armed[0], "the interleaving did not happen"
    entry = course.enrollment("sam").grades[idx]
    assert entry.value == 93.0


def test_rule7_a_deadline_set_in_the_past_cannot_be_moved_by_a_setting_that_read_the_course_before_it(
    stack: Stack, lms: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review 18: two instructors at once. One sets a deadline in the past (zeros are on their way); the
    other, whose page read the course before that, moves it to next week. The second change must be
    refused (a passed deadline moves only by an extension), not silently reopen the activity."""
    course = lti13_course(stack, lms, students=("sam",), activities=(("quiz-1", 1),))
    settings = container.course_settings()
    before = course.record()
    past = clock.now - timedelta(hours=1)
    settings.set_gau(course.course_id, "quiz-1", past, clock.now)
    monkeypatch.setattr(type(settings), "_course", lambda *_: before)  # the other page's read
    with pytest.raises(SettingRefused):
        settings.set_gau(course.course_id, "quiz-1", clock.now + timedelta(days=7), clock.now)
    monkeypatch.undo()
    assert course.record().activities["quiz-1"].gau == past
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 0.0
