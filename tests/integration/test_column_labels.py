"""An activity's new title reaches the LMS columns Passback made for it, where the platform takes PUT."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests

from passback import container
from passback.clock import utcnow
from passback.data.column_labels import ColumnLabelRepository
from passback.ids import course_id, platform_key_lti13
from stack_harness import CLIENT_ID, Stack, activity

CONTEXT = "bio-101"


def deep_linked_course(stack: Stack, lms: Any) -> str:
    """Quiz 1 and quiz 2 deep-linked (two Passback columns), plus an instructor's own link to quiz 1 whose
    column the LMS made (no resourceId): the instructor named it, Passback must leave it alone."""
    stack.register_lti13(lms)
    lms.add_course(CONTEXT, "Biology 101")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    lms.enroll(CONTEXT, "teacher", "instructor")
    stack.send_messages([activity("quiz-1", "Cell biology quiz"), activity("quiz-2", "Genetics quiz")])
    stack.drain()
    done = lms.deep_link(requests.Session(), CLIENT_ID, "teacher", CONTEXT, ["quiz-1", "quiz-2"])
    assert done.status_code == 200, done.text[:300]
    lms.add_link(CONTEXT, "own-quiz-1", title="Quiz one (my column)", custom={"activity_id": "quiz-1"})
    for link in lms.links(CONTEXT):
        assert stack.launch13(lms, "teacher", CONTEXT, link["resource_link_id"]).status_code == 303
    stack.drain()
    return course_id(platform_key_lti13(lms.issuer), CONTEXT)


def labels(lms: Any) -> dict[str, str]:
    return {item["resourceId"] or item["resourceLinkId"]: item["label"] for item in lms.line_items(CONTEXT)}


def test_a_renamed_activity_relabels_the_columns_passback_made_for_it_and_no_other(stack: Stack, lms: Any) -> None:
    cid = deep_linked_course(stack, lms)
    before = labels(lms)
    assert before["quiz-1"] == "Cell biology quiz"
    lms.reset_counters()

    stack.send_messages([activity("quiz-1", "Cells and membranes")])
    stack.drain()

    after = labels(lms)
    assert after["quiz-1"] == "Cells and membranes"
    assert after["quiz-2"] == "Genetics quiz"
    assert after["own-quiz-1"] == before["own-quiz-1"]  # the instructor's own column keeps its name
    assert lms.counters.get("lineitem_update") == 1
    course = container.courses().get(cid)
    assert course is not None
    assert course.activities["quiz-1"].title == "Cells and membranes"

    # The same title again (a redelivered message, a product re-announcing its catalog) costs no PUT.
    stack.send_messages([activity("quiz-1", "Cells and membranes", min_questions=2)])
    stack.drain()
    assert lms.counters.get("lineitem_update") == 1


def test_a_platform_that_refuses_label_changes_is_asked_once_and_the_gradebook_says_so(stack: Stack, lms: Any) -> None:
    cid = deep_linked_course(stack, lms)
    lms.lms.state.line_item_put_refusal = 405
    lms.reset_counters()

    stack.send_messages([activity("quiz-1", "Cells and membranes")])
    stack.drain()
    assert lms.counters.get("lineitem_update_refused") == 1
    assert labels(lms)["quiz-1"] == "Cell biology quiz"
    [platform] = container.platforms().for_issuer(lms.issuer)
    assert platform.line_item_put_refused is not None
    assert "405" in platform.line_item_put_refused

    # Later renames (another activity, the same one again) send nothing to that platform: no GET, no PUT.
    lms.reset_counters()
    stack.send_messages([activity("quiz-2", "Genes and heredity"), activity("quiz-1", "Cells, revised")])
    stack.drain()
    assert lms.counters.get("lineitem_update_refused", 0) == 0
    assert lms.counters.get("lineitem_get", 0) == 0
    course = container.courses().get(cid)
    assert course is not None
    assert course.activities["quiz-2"].title == "Genes and heredity"
    notes = {link.activity_id: link.label_note for link in course.links.values() if link.label_note}
    assert set(notes) == {"quiz-1", "quiz-2"}
    assert "rename the column in the LMS" in (notes["quiz-1"] or "")

    view = container.gradebook().build(cid, utcnow())
    assert view is not None
    [column] = [c for c in view.columns if c.activity_id == "quiz-2"]
    assert column.label_note is not None
    assert "HTTP 405" in column.label_note


def test_a_month_after_a_refusal_one_probe_goes_through_and_clears_it(stack: Stack, lms: Any) -> None:
    deep_linked_course(stack, lms)
    labels_repo = ColumnLabelRepository()
    labels_repo.record_put_refusal(lms.issuer, CLIENT_ID, "HTTP 405: no", utcnow() - timedelta(days=31))
    lms.reset_counters()

    stack.send_messages([activity("quiz-1", "Cells and membranes")])  # the platform takes PUTs now
    stack.drain()

    assert labels(lms)["quiz-1"] == "Cells and membranes"
    assert labels_repo.put_refusal(lms.issuer, CLIENT_ID) is None


def test_a_403_on_one_rename_is_noted_on_the_column_but_does_not_stop_renames_across_the_platform(
    stack: Stack, lms: Any
) -> None:
    """A 403 is about the request (Canvas answers its rate limit with 403 Forbidden, a concluded course
    refuses changes): recording it as "this platform refuses label changes" would skip every course on it
    for a month. Only 405 or 501 (the method itself is not supported) is recorded platform-wide."""
    cid = deep_linked_course(stack, lms)
    lms.lms.state.line_item_put_refusal = 403
    stack.send_messages([activity("quiz-1", "Cells and membranes")])
    stack.drain()
    assert ColumnLabelRepository().put_refusal(lms.issuer, CLIENT_ID) is None
    course = container.courses().get(cid)
    assert course is not None
    [note] = [link.label_note for link in course.links.values() if link.activity_id == "quiz-1" and link.label_note]
    assert note is not None
    assert "HTTP 403" in note

    lms.lms.state.line_item_put_refusal = None  # the throttle is over
    stack.send_messages([activity("quiz-2", "Genes and heredity"), activity("quiz-1", "Cells, revised")])
    stack.drain()
    assert labels(lms)["quiz-2"] == "Genes and heredity"
    assert labels(lms)["quiz-1"] == "Cells, revised"
    course = container.courses().get(cid)
    assert course is not None
    assert not [link.label_note for link in course.links.values() if link.label_note]


def test_a_rename_in_many_courses_queues_its_relabel_jobs_ten_to_a_send(stack: Stack, monkeypatch: Any) -> None:
    """The rename's fan-out runs on the activity message's path (30 s for the whole batch): one SQS call
    per course would cap an activity at a few thousand courses before the message times out and is
    redelivered, to start again. The jobs go ten to a SendMessageBatch."""
    from passback import aws

    stack.send_messages([activity("quiz-1", "Cell biology quiz")])
    stack.drain()
    courses = container.courses()
    now = utcnow()
    for n in range(25):
        cid = f"c{n:02d}"
        courses.create_if_absent(
            course_id=cid,
            platform_id="p",
            platform_key="lti13:https://lms.example",
            lti_version="1.3",
            context_id=cid,
            title=cid,
            label=None,
            lms_origin=None,
            now=now,
        )
        assert courses.assign_activity(cid, "quiz-1", "Cell biology quiz", now)
    calls: list[str] = []
    real = aws.sqs()

    class Counting:
        def __getattr__(self, name: str) -> Any:
            if name in ("send_message", "send_message_batch"):
                calls.append(name)
            return getattr(real, name)

    def counting() -> Counting:
        return Counting()

    counting.cache_clear = aws.sqs.cache_clear  # type: ignore[attr-defined]  # what the fixtures reset
    monkeypatch.setattr(aws, "sqs", counting)
    assert container.column_labels().activity_renamed("quiz-1", "Cells and membranes", now) == 25
    assert calls == ["send_message_batch"] * 3
