"""Account merge and "user is not in course" (rules 11 and 12), through the whole stack in-process."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from course_setup import Course, lti13_course
from passback import container
from stack_harness import Stack, score

EMAIL = "mia@example.edu"


def sent_mail() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def link_in(message: Any) -> str:
    body = message.body if isinstance(message.body, str) else str(message.body)
    found = re.search(r"(http://127\.0\.0\.1:\d+/merge/confirm\?token=[A-Za-z0-9._-]+)", body)
    assert found, body[:500]
    return found.group(1)


@dataclass
class Merge:
    course: Course
    existing: str
    provisional: str
    link: str

    @property
    def token(self) -> str:
        return self.link.split("token=", 1)[1]


def work_then_launch(stack: Stack, lms: Any, clock: Any) -> Merge:
    """A learner with product work (by email, outside any LMS) launches from the LMS with that email."""
    course = lti13_course(stack, lms, students=())
    stack.send_messages([score({"email": EMAIL}, "quiz-1", 3, 80.0, clock.now - timedelta(hours=1))])
    stack.drain()
    existing = container.learners().by_email(EMAIL)
    assert existing is not None
    lms.add_user("mia", name="Mia Student", email=EMAIL)
    lms.enroll(course.context, "mia", "student")
    stack.launch13(lms, "mia", course.context, "link-quiz-1")
    provisional = container.learners().by_identity(course.record().platform_id, "mia")
    assert provisional is not None
    course.learners["mia"] = provisional
    stack.drain()
    mails = [m for m in sent_mail() if EMAIL in m.destinations["ToAddresses"]]
    assert len(mails) == 1
    return Merge(course, existing, provisional, link_in(mails[-1]))


def post(stack: Stack, path: str, token: str) -> requests.Response:
    return requests.post(f"{stack.base_url}{path}", data={"token": token}, timeout=60)


def test_rule12_a_known_email_gets_a_provisional_learner_merge_pending_and_the_mail(
    stack: Stack, lms: Any, clock: Any
) -> None:
    merge = work_then_launch(stack, lms, clock)
    assert merge.provisional != merge.existing
    assert merge.course.enrollment("mia").merge_pending
    assert merge.course.cell("mia", "link-quiz-1").status == "merge pending"
    assert merge.course.lms_grade("mia", "link-quiz-1") is None
    message = sent_mail()[-1]
    assert message.subject == "Confirm your request to merge accounts"
    # The existing learner's work is untouched until the owner of the address says so.
    assert container.progress().get(merge.existing, "quiz-1").overall.latest_score == 80.0


def test_rule12_confirming_makes_one_learner_and_earlier_work_reaches_the_lms(
    stack: Stack, lms: Any, clock: Any
) -> None:
    merge = work_then_launch(stack, lms, clock)
    page = requests.get(merge.link, timeout=60)
    assert page.status_code == 200
    assert 'action="/merge/confirm"' in page.text
    assert 'action="/merge/decline"' in page.text
    # Showing the page (as a mail scanner prefetching the link would) changes nothing.
    assert container.merges().check(merge.token, clock.now).outcome == "pending"
    done = post(stack, "/merge/confirm", merge.token)
    assert done.status_code == 200, done.text[:500]
    assert "Accounts merged" in done.text
    stack.drain()
    platform = merge.course.record().platform_id
    assert container.learners().by_identity(platform, "mia") == merge.existing
    merge.course.learners["mia"] = merge.existing
    assert merge.course.lms_grade("mia", "link-quiz-1") == 80.0
    assert merge.course.cell("mia", "link-quiz-1").status == "synced"
    assert not merge.course.enrollment("mia").merge_pending
    assert container.enrollments().get(merge.course.course_id, merge.provisional) is None


def test_rule12_scores_sent_for_the_provisional_id_after_the_merge_land_on_the_kept_learner(
    stack: Stack, lms: Any, clock: Any
) -> None:
    merge = work_then_launch(stack, lms, clock)
    post(stack, "/merge/confirm", merge.token)
    stack.drain()
    stack.send_messages([score({"learner_id": merge.provisional}, "quiz-1", 4, 95.0, clock.now)])
    stack.drain()
    merge.course.learners["mia"] = merge.existing
    assert merge.course.lms_grade("mia", "link-quiz-1") == 95.0


def test_rule12_the_newer_work_wins_when_both_learners_did_the_activity(stack: Stack, lms: Any, clock: Any) -> None:
    merge = work_then_launch(stack, lms, clock)
    # Work in the LMS account while the merge is pending: newer than the email account's 80.
    stack.send_messages([score({"issuer": lms.issuer, "user_id": "mia"}, "quiz-1", 2, 60.0, clock.now)])
    stack.drain()
    assert merge.course.cell("mia", "link-quiz-1").status == "synced"  # the provisional learner's own grade
    post(stack, "/merge/confirm", merge.token)
    stack.drain()
    kept = container.progress().get(merge.existing, "quiz-1")
    assert kept.overall.latest_score == 60.0
    assert kept.overall.max_answered == 3  # nothing lost: the most questions either side answered
    merge.course.learners["mia"] = merge.existing
    assert merge.course.lms_grade("mia", "link-quiz-1") == 60.0


def test_rule12_a_replayed_link_is_refused_with_409(stack: Stack, lms: Any, clock: Any) -> None:
    merge = work_then_launch(stack, lms, clock)
    assert post(stack, "/merge/confirm", merge.token).status_code == 200
    again = post(stack, "/merge/confirm", merge.token)
    assert again.status_code == 409
    assert "already used" in again.text
    assert post(stack, "/merge/decline", merge.token).status_code == 409
    assert requests.get(merge.link, timeout=60).status_code == 409


def test_rule12_a_tampered_link_is_refused_with_403_and_changes_nothing(stack: Stack, lms: Any, clock: Any) -> None:
    merge = work_then_launch(stack, lms, clock)
    request_id, expires, kid, mac = merge.token.split(".")
    forged_mac = f"{request_id}.{expires}.{kid}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}"
    later = f"{request_id}.{int(expires) + 86400}.{kid}.{mac}"
    for token in (forged_mac, later):
        refused = post(stack, "/merge/confirm", token)
        assert refused.status_code == 403
        assert "not valid" in refused.text
    assert post(stack, "/merge/confirm", "").status_code == 400
    assert merge.course.enrollment("mia").merge_pending
    assert container.learners().by_identity(merge.course.record().platform_id, "mia") == merge.provisional


def test_rule12_an_expired_link_is_refused_with_410_and_the_sweep_leaves_both_learners_apart(
    stack: Stack, lms: Any, clock: Any
) -> None:
    merge = work_then_launch(stack, lms, clock)
    clock.advance(hours=24, seconds=1)
    refused = post(stack, "/merge/confirm", merge.token)
    assert refused.status_code == 410
    assert "expired" in refused.text
    stack.sweep()
    stack.drain()
    assert not merge.course.enrollment("mia").merge_pending
    assert merge.course.cell("mia", "link-quiz-1").status == "below threshold"
    assert container.learners().by_identity(merge.course.record().platform_id, "mia") == merge.provisional
    assert container.progress().get(merge.existing, "quiz-1").overall.latest_score == 80.0


def test_rule12_declining_leaves_both_learners_as_they_were(stack: Stack, lms: Any, clock: Any) -> None:
    merge = work_then_launch(stack, lms, clock)
    declined = post(stack, "/merge/decline", merge.token)
    assert declined.status_code == 200
    assert "Merge declined" in declined.text
    stack.drain()
    assert not merge.course.enrollment("mia").merge_pending
    assert merge.course.cell("mia", "link-quiz-1").status == "below threshold"
    assert container.learners().by_identity(merge.course.record().platform_id, "mia") == merge.provisional
    assert container.progress().for_learner(merge.provisional) == []
    assert merge.course.lms_grade("mia", "link-quiz-1") is None


def test_rule12_a_new_email_without_product_work_gets_no_merge(stack: Stack, lms: Any, clock: Any) -> None:
    course = lti13_course(stack, lms, students=("sam",))
    assert not course.enrollment("sam").merge_pending
    assert sent_mail() == []


def test_rule12_an_email_asserted_by_an_lms_launch_claims_no_product_account(
    stack: Stack, lms: Any, clock: Any
) -> None:
    """Eve's LMS profile carries Mia's address and Eve launches first: Mia's product work must not reach Eve."""
    course = lti13_course(stack, lms, students=())
    lms.add_user("eve", name="Eve Student", email=EMAIL)
    lms.enroll(course.context, "eve", "student")
    stack.launch13(lms, "eve", course.context, "link-quiz-1")
    eve = container.learners().by_identity(course.record().platform_id, "eve")
    assert eve is not None
    course.learners["eve"] = eve
    stack.drain()
    # The product reports the work of its own account, mia@example.edu, by email.
    stack.send_messages([score({"email": EMAIL}, "quiz-1", 3, 91.0, clock.now)])
    stack.drain()
    assert course.lms_grade("eve", "link-quiz-1") is None
    assert container.progress().get(eve, "quiz-1").overall.latest_score is None
    owner = container.learners().by_email(EMAIL)
    assert owner is not None
    assert owner != eve
    assert container.progress().get(owner, "quiz-1").overall.latest_score == 91.0
