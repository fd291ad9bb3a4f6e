"""Score messages become grades exactly once and in order (issue: score pipeline; rules 3 to 7)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta
from typing import Any

from course_setup import lti13_course
from passback import container
from stack_harness import Stack, score


def test_a_burst_with_duplicates_and_shuffling_ends_like_the_ordered_stream(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, students=("sam", "ria", "lee"))
    ordered = []
    for user in ("sam", "ria", "lee"):
        for step in range(1, 9):
            ordered.append(
                score(course.ref(user), "quiz-1", step, 10.0 * step + len(user), clock.now + timedelta(seconds=step))
            )
    burst = ordered + random.Random(7).sample(ordered, 12)  # 12 duplicates
    random.Random(11).shuffle(burst)
    stack.send_messages(burst)
    stack.drain()
    for user in ("sam", "ria", "lee"):
        expected = 80.0 + len(user)
        assert course.enrollment(user).grades[1].value == expected
        assert course.lms_grade(user, "link-quiz-1") == expected


def test_one_malformed_message_fails_alone_and_lands_in_the_dead_letter_queue(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms)
    bad = json.dumps(
        {
            "type": "score",
            "message_id": "m-bad",
            "learner": {"learner_id": "x"},
            "activity_id": "quiz-1",
            "answered": 3,
            "score": 140,
            "occurred_at": clock.now.isoformat(),
        }
    )
    stack.send_messages(
        [
            score(course.ref("sam"), "quiz-1", 2, 70.0, clock.now),
            bad,
            score(course.ref("ria"), "quiz-1", 2, 60.0, clock.now),
            "not json at all",
        ]
    )
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 70.0
    assert course.lms_grade("ria", "link-quiz-1") == 60.0
    dead = stack.dead_letters()
    reasons = {m["Body"]: m["MessageAttributes"]["detail"]["StringValue"] for m in dead}
    assert bad in reasons
    assert "score: Input should be less than or equal to 100" in reasons[bad]
    assert "not json at all" in reasons
    assert "not JSON" in reasons["not json at all"]


def test_a_score_for_an_unknown_learner_id_is_dead_lettered_with_its_reason(stack: Stack, lms: Any, clock: Any) -> None:
    lti13_course(stack, lms)
    stack.send_messages([score({"learner_id": "u-nobody"}, "quiz-1", 2, 50.0, clock.now)])
    stack.drain()
    (dead,) = stack.dead_letters()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "unknown learner"


def test_a_score_for_an_activity_never_published_is_retried_then_dead_lettered(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms)
    stack.send_messages([score(course.ref("sam"), "quiz-unknown", 2, 50.0, clock.now)])
    stack.drain()
    (dead,) = stack.dead_letters()
    assert dead["MessageAttributes"]["reason"]["StringValue"] == "unknown activity"
    assert "after 3 deliveries" in dead["MessageAttributes"]["detail"]["StringValue"]


def test_rule6_nothing_is_sent_below_the_threshold_then_every_update_is(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, activities=(("quiz-1", 3),))
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 100.0, clock.now)])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") is None
    assert course.cell("sam", "link-quiz-1").status == "below threshold"
    for step, value in ((3, 66.7), (4, 75.0)):
        stack.send_messages([score(course.ref("sam"), "quiz-1", step, value, clock.now + timedelta(seconds=step))])
        stack.drain()
        assert course.lms_grade("sam", "link-quiz-1") == value


def test_rule3_work_before_the_first_launch_counts_once_the_learner_launches(
    stack: Stack, lms: Any, clock: Any
) -> None:
    # Sam joins the LMS course after the instructor's first launch read the roster (issue 19), so
    # Passback first learns of him at his own launch.
    course = lti13_course(stack, lms, students=(), launch_students=False)
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll(course.context, "sam", "student")
    stack.send_messages([score(course.ref("sam"), "quiz-1", 5, 90.0, clock.now)])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") is None
    stack.launch13(lms, "sam", course.context, "link-quiz-1")
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 90.0


def test_rule4_a_homepage_link_passes_back_the_average_of_registered_grades(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(
        stack, lms, students=("sam",), activities=(("quiz-1", 1), ("quiz-2", 1), ("quiz-3", 5)), homepage=True
    )
    stack.send_messages(
        [
            score(course.ref("sam"), "quiz-1", 1, 80.0, clock.now),
            score(course.ref("sam"), "quiz-2", 1, 60.0, clock.now),
            score(course.ref("sam"), "quiz-3", 2, 0.0, clock.now),  # below its threshold of 5: does not count
        ]
    )
    stack.drain()
    assert course.lms_grade("sam", "home") == 70.0


def test_a_learner_id_from_the_handoff_token_identifies_the_learner(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, students=("sam",))
    stack.send_messages([score({"learner_id": course.learners["sam"]}, "quiz-1", 2, 55.0, clock.now)])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 55.0


def test_a_duplicate_after_a_crash_between_grading_and_sending_still_sends(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, students=("sam",))
    message = score(course.ref("sam"), "quiz-1", 2, 65.0, clock.now, message_id=uuid.uuid4().hex)
    # Apply without syncing, as if the function died after writing the grade.
    from passback.messages import parse_product_message

    container.scoring().apply(parse_product_message(json.dumps(message)), clock.now, {})
    assert course.lms_grade("sam", "link-quiz-1") is None
    stack.send_messages([message])  # SQS redelivers it
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 65.0
