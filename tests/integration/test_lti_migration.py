"""LTI 1.1 to 1.3 without losing anyone, end to end in-process: a course used through LTI 1.1 (learners,
grades by Basic Outcomes) is then launched through LTI 1.3 from the same LMS with the `lti1p1` claim.

The LMS emulator plays both versions of the same LMS: its 1.3 tool is the successor of the 1.1 tool
(`migrate_from_lti11`), so its launches carry the claim signed with the 1.1 secret.
"""

from __future__ import annotations

from typing import Any

import requests

from gradebook_kit import hidden_fields
from passback import container
from passback.cli import main as cli_main
from passback.domain.migration import AGS, BASIC_OUTCOMES
from passback.ids import course_id, platform_id, platform_key_lti11, platform_key_lti13
from passback.lti.lti1p1 import consumer_key_sign
from stack_harness import CLIENT_ID, CONSUMER_KEY, CONSUMER_SECRET, Stack, activity, score

COURSE = "bio-101"
LINK = "quiz-link"
QUIZ = {"activity_id": "quiz-1"}


def course_used_through_lti11(stack: Stack, lms: Any, clock: Any) -> str:
    """An LTI 1.1 course with an instructor, two learners with targets, and a grade sent by Basic Outcomes."""
    stack.register_lti11(lms)
    lms.add_course(COURSE, "Biology 101")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    for user, name in (("sam", "Sam Student"), ("ria", "Ria Student")):
        lms.add_user(user, name=name, email=f"{user}@example.edu")
        lms.enroll(COURSE, user, "student")
    lms.enroll(COURSE, "teacher", "instructor")
    lms.add_link(COURSE, LINK, title="Quiz 1", custom=QUIZ)
    stack.send_messages([activity("quiz-1", "Quiz 1")])
    stack.drain()
    assert launch11(stack, lms, "teacher", roles="Instructor").status_code == 303
    for user in ("sam", "ria"):
        assert launch11(stack, lms, user).status_code == 200
    stack.drain()
    stack.send_messages([score({"consumer_key": CONSUMER_KEY, "user_id": "sam"}, "quiz-1", 1, 60.0, clock.now)])
    stack.drain()
    assert [o["score"] for o in lms.outcomes() if o["user_id"] == "sam"] == [0.6]
    return course_id(platform_key_lti11(CONSUMER_KEY), COURSE)


def launch11(stack: Stack, lms: Any, user: str, roles: str = "Learner") -> requests.Response:
    url = f"{stack.base_url}/lti11/launch"
    return lms.lti11_launch(
        requests.Session(), CONSUMER_KEY, url, user, COURSE, LINK, roles=roles, custom=QUIZ, timeout=60
    )


def lms_moves_to_lti13(stack: Stack, lms: Any, **migration: Any) -> None:
    stack.register_lti13(lms)
    lms.migrate_from_lti11(CLIENT_ID, CONSUMER_KEY, CONSUMER_SECRET, **migration)


def launch13(lms: Any, user: str) -> requests.Response:
    return lms.lti13_launch(requests.Session(), CLIENT_ID, user, COURSE, LINK, timeout=60)


def shown_protocols(cid: str, clock: Any) -> dict[str, str | None]:
    """What the instructor's gradebook says each learner's quiz cell goes by."""
    view = container.gradebook().build(cid, clock.now)
    assert view is not None
    return {row.name: row.cells[0].protocol for row in view.rows}


def test_the_lti1p1_signature_is_the_one_the_spec_defines() -> None:
    """The migration guide's own example: consumer key, deployment, issuer, client id, exp and nonce."""
    sign = consumer_key_sign(
        "my-lti11-secret",
        consumer_key="179248902",
        deployment_id="689302",
        iss="https://lmsvendor.com",
        client_id="PM48OJSfGDTAzAo",
        exp=1551290856,
        nonce="172we8671fd8z",
    )
    assert sign == "lWd54kFo5qU7xshAna6v8BwoBm6tmUjc6GTax6+12ps="


def test_a_course_used_through_lti11_continues_through_lti13_with_the_same_course_and_learners(
    stack: Stack, lms: Any, clock: Any
) -> None:
    cid = course_used_through_lti11(stack, lms, clock)
    learners = container.learners()
    sam11 = learners.by_identity(platform_id(platform_key_lti11(CONSUMER_KEY)), "sam")
    lms_moves_to_lti13(stack, lms)

    teacher = launch13(lms, "teacher")
    assert teacher.status_code == 303, teacher.text[:800]
    assert f"/gradebook/{cid}?" in teacher.headers["Location"]  # the 1.1 course, not a new one
    assert launch13(lms, "sam").status_code == 200
    stack.drain()

    lti13 = platform_key_lti13(lms.issuer)
    assert container.courses().get(course_id(lti13, COURSE)) is None  # no second course
    assert learners.by_identity(platform_id(lti13), "sam") == sam11  # the same learner
    course = container.courses().get(cid)
    assert course is not None
    assert course.lti13_issuer == lms.issuer
    [link] = course.links.values()  # the same link, now launched through 1.3, with its line item
    assert link.lti_version == "1.3"
    assert link.line_item_url
    enrollment_ids = {e.learner_id for e in container.gradebook().build(cid, clock.now).rows}
    assert len(enrollment_ids) == 2  # sam and ria once each: no duplicate in the gradebook

    lms.reset_counters()
    clock.advance(seconds=5)  # later work than the 1.1 grade's
    stack.send_messages([score({"issuer": lms.issuer, "user_id": "sam"}, "quiz-1", 2, 90.0, clock.now)])
    stack.drain()
    assert lms.counters.get("score", 0) == 1  # the next grade goes by AGS ...
    assert lms.counters.get("outcome", 0) == 0
    [ags] = [s for s in lms.scores(COURSE) if s["user_id"] == "sam"]
    assert ags["score_given"] == 90.0  # ... to the link's column
    # The product may still name the learner by their 1.1 identity: the same learner, the same cell.
    clock.advance(seconds=5)
    stack.send_messages([score({"consumer_key": CONSUMER_KEY, "user_id": "sam"}, "quiz-1", 3, 95.0, clock.now)])
    stack.drain()
    assert [s["score_given"] for s in lms.scores(COURSE) if s["user_id"] == "sam"] == [95.0]


def test_a_learner_not_yet_seen_through_lti13_keeps_basic_outcomes_until_their_first_13_launch(
    stack: Stack, lms: Any, clock: Any
) -> None:
    cid = course_used_through_lti11(stack, lms, clock)
    lms_moves_to_lti13(stack, lms)
    assert launch13(lms, "teacher").status_code == 303
    stack.drain()
    ria = container.learners().by_identity(platform_id(platform_key_lti11(CONSUMER_KEY)), "ria")
    assert ria is not None
    assert shown_protocols(cid, clock) == {"Sam Student": BASIC_OUTCOMES, "Ria Student": BASIC_OUTCOMES}

    lms.reset_counters()
    stack.send_messages([score({"consumer_key": CONSUMER_KEY, "user_id": "ria"}, "quiz-1", 1, 70.0, clock.now)])
    stack.drain()
    assert lms.counters.get("outcome", 0) == 1
    assert lms.counters.get("score", 0) == 0
    assert [o["score"] for o in lms.outcomes() if o["user_id"] == "ria"] == [0.7]
    clock.advance(seconds=5)

    assert launch13(lms, "ria").status_code == 200
    stack.drain()
    enrollment = container.enrollments().get(cid, ria)
    assert enrollment is not None
    assert enrollment.lti13_user_id == "ria"
    assert shown_protocols(cid, clock) == {"Sam Student": BASIC_OUTCOMES, "Ria Student": AGS}
    lms.reset_counters()
    stack.send_messages([score({"consumer_key": CONSUMER_KEY, "user_id": "ria"}, "quiz-1", 2, 75.0, clock.now)])
    stack.drain()
    assert lms.counters.get("score", 0) == 1
    assert lms.counters.get("outcome", 0) == 0


def test_an_lms_that_changed_its_user_ids_links_each_13_user_to_their_11_learner(
    stack: Stack, lms: Any, clock: Any
) -> None:
    """Canvas gives users new ids in 1.3; the claim names the old one (`user_id`)."""
    cid = course_used_through_lti11(stack, lms, clock)
    lms.add_user("c0ffee-sam", name="Sam Student", email="sam@example.edu")
    lms.enroll(COURSE, "c0ffee-sam", "student")
    lms_moves_to_lti13(stack, lms, legacy_user_ids={"c0ffee-sam": "sam"})
    assert launch13(lms, "c0ffee-sam").status_code == 200
    stack.drain()
    learners = container.learners()
    sam = learners.by_identity(platform_id(platform_key_lti11(CONSUMER_KEY)), "sam")
    assert learners.by_identity(platform_id(platform_key_lti13(lms.issuer)), "c0ffee-sam") == sam
    assert sam is not None
    enrollment = container.enrollments().get(cid, sam)
    assert enrollment is not None
    assert (enrollment.lms_user_id, enrollment.lti13_user_id) == ("sam", "c0ffee-sam")
    assert not enrollment.merge_pending  # linked by the signed claim, not proposed as a merge by email


def test_a_claim_with_a_wrong_oauth_consumer_key_sign_links_nothing(stack: Stack, lms: Any, clock: Any) -> None:
    cid = course_used_through_lti11(stack, lms, clock)
    lms_moves_to_lti13(stack, lms, forge_signature=True)
    refused = launch13(lms, "teacher")
    assert refused.status_code == 403
    assert "lti1p1 signature" in refused.text
    assert launch13(lms, "sam").status_code == 403
    lti13 = platform_key_lti13(lms.issuer)
    assert container.learners().by_identity(platform_id(lti13), "sam") is None
    assert container.learners().by_identity(platform_id(lti13), "teacher") is None
    assert container.courses().get(course_id(lti13, COURSE)) is None
    course = container.courses().get(cid)
    assert course is not None
    assert course.lti13_issuer is None  # the 1.1 course was not taken over
    [platform] = container.platforms().for_issuer(lms.issuer)
    assert platform.legacy_consumer_key is None


def test_a_claim_from_a_platform_tied_to_another_consumer_is_refused(stack: Stack, lms: Any, clock: Any) -> None:
    course_used_through_lti11(stack, lms, clock)
    lms_moves_to_lti13(stack, lms)
    container.platforms().set_legacy_consumer(lms.issuer, CLIENT_ID, "another-consumer")
    refused = launch13(lms, "teacher")
    assert refused.status_code == 403
    assert "tied it to another consumer" in refused.text


def test_an_operator_tie_continues_a_course_for_an_lms_that_sends_no_claim(
    stack: Stack, lms: Any, clock: Any, capsys: Any
) -> None:
    """`passback platforms link-legacy`: an LMS that keeps its ids across the move and sends no claim."""
    cid = course_used_through_lti11(stack, lms, clock)
    stack.register_lti13(lms)  # no lti1p1 claim in its launches
    assert cli_main(["platforms", "link-legacy", "--issuer", lms.issuer, "--client-id", CLIENT_ID,
                     "--consumer-key", CONSUMER_KEY]) == 0  # fmt: skip
    assert "now tied to LTI 1.1 consumer" in capsys.readouterr().out
    teacher = launch13(lms, "teacher")
    assert f"/gradebook/{cid}?" in teacher.headers["Location"]
    assert cli_main(["platforms", "list"]) == 0
    assert f"lti11={CONSUMER_KEY}" in capsys.readouterr().out
    assert cli_main(["platforms", "link-legacy", "--issuer", lms.issuer, "--client-id", CLIENT_ID,
                     "--consumer-key", "nobody"]) == 2  # fmt: skip
    assert "no LTI 1.1 consumer 'nobody'" in capsys.readouterr().err


def test_the_gradebook_page_says_which_protocol_each_cell_uses(stack: Stack, lms: Any, clock: Any) -> None:
    cid = course_used_through_lti11(stack, lms, clock)
    lms_moves_to_lti13(stack, lms)
    teacher = launch13(lms, "teacher")
    assert launch13(lms, "sam").status_code == 200
    stack.drain()
    page = requests.get(teacher.headers["Location"], timeout=60)
    assert page.status_code == 200
    assert "LTI 1.1, now LTI 1.3" in page.text
    assert 'title="sent by AGS (LTI 1.3)">1.3</span>' in page.text  # Sam, seen through 1.3
    assert 'title="sent by Basic Outcomes (LTI 1.1)">1.1</span>' in page.text  # Ria, not yet
    assert cid in teacher.headers["Location"]


def test_a_verified_claim_for_a_second_consumer_of_the_same_lms_is_not_refused_by_an_earlier_claims_tie(
    stack: Stack, lms: Any, clock: Any
) -> None:
    """One LMS, two LTI 1.1 consumer keys (two sub-accounts, say), one 1.3 registration: the first verified
    claim ties the platform to its consumer, and a launch from the other consumer's course, whose claim
    verifies with that consumer's own secret, must continue too (no operator chose the first one)."""
    cid = course_used_through_lti11(stack, lms, clock)
    container.consumers().add(consumer_key="school-annex", secret="annex-secret", name="Annex", now=clock.now)
    lms_moves_to_lti13(stack, lms)
    assert f"/gradebook/{cid}?" in launch13(lms, "teacher").headers["Location"]
    lms.migrate_from_lti11(CLIENT_ID, "school-annex", "annex-secret")
    annex = launch13(lms, "teacher")
    assert annex.status_code == 303, annex.text[:400]
    [platform] = container.platforms().for_issuer(lms.issuer)
    assert platform.legacy_consumer_key == CONSUMER_KEY  # the first claim's tie stays


def test_an_operator_tie_still_refuses_a_claim_for_another_consumer(stack: Stack, lms: Any, clock: Any) -> None:
    course_used_through_lti11(stack, lms, clock)
    container.consumers().add(consumer_key="school-annex", secret="annex-secret", name="Annex", now=clock.now)
    stack.register_lti13(lms)
    assert cli_main(["platforms", "link-legacy", "--issuer", lms.issuer, "--client-id", CLIENT_ID,
                     "--consumer-key", CONSUMER_KEY]) == 0  # fmt: skip
    lms.migrate_from_lti11(CLIENT_ID, "school-annex", "annex-secret")
    refused = launch13(lms, "teacher")
    assert refused.status_code == 403
    assert "tied it to another consumer" in refused.text


def test_the_roster_of_a_migrated_course_knows_11_learners_by_their_lti11_legacy_user_id(
    stack: Stack, lms: Any, clock: Any
) -> None:
    """Canvas gives users new ids in 1.3 and its roster names the old one (`lti11_legacy_user_id`): the
    roster must find the 1.1 learners under them, not add strangers and mark the 1.1 learners gone."""
    cid = course_used_through_lti11(stack, lms, clock)
    for user, name in (("c0ffee-sam", "Sam Student"), ("c0ffee-ria", "Ria Student")):
        lms.add_user(user, name=name, email=f"{user}@example.edu")
        lms.enroll(COURSE, user, "student")
    for user in ("sam", "ria"):
        lms.drop(COURSE, user)  # the LMS knows them by their 1.3 ids now
    lms_moves_to_lti13(stack, lms, legacy_user_ids={"c0ffee-sam": "sam", "c0ffee-ria": "ria"})
    assert launch13(lms, "teacher").status_code == 303  # the instructor's launch reads the roster
    stack.drain()

    learners = container.learners()
    legacy = platform_id(platform_key_lti11(CONSUMER_KEY))
    students = [e for e in container.enrollments().page(cid, None, 100)[0] if e.role == "learner"]
    assert len(students) == 2  # no stranger added for the 1.3 ids
    for user in ("sam", "ria"):
        learner = learners.by_identity(legacy, user)
        assert learner is not None
        enrollment = container.enrollments().get(cid, learner)
        assert enrollment is not None
        assert enrollment.lms_status is None  # not "gone"
        assert enrollment.lti13_user_id == f"c0ffee-{user}"  # AGS can grade them before their 1.3 launch
        assert learners.by_identity(platform_id(platform_key_lti13(lms.issuer)), f"c0ffee-{user}") == learner


def test_the_gradebook_of_a_migrated_course_can_update_its_roster_as_the_cli_can(
    stack: Stack, lms: Any, clock: Any
) -> None:
    """The roster is read in a migrated course too (services/roster.py, docs/migration.md): the gradebook's
    button must be there and work, not refuse the course as LTI 1.1."""
    cid = course_used_through_lti11(stack, lms, clock)
    lms_moves_to_lti13(stack, lms)
    teacher = launch13(lms, "teacher")
    stack.drain()
    session = requests.Session()
    page = session.get(teacher.headers["Location"], timeout=60)
    assert "Update the roster from the LMS" in page.text
    base = teacher.headers["Location"].split("?", 1)[0]
    asked = session.post(f"{base}/roster-sync", data=hidden_fields(page.text), allow_redirects=False, timeout=60)
    assert asked.status_code == 303, asked.text[:300]
    assert cid in asked.headers["Location"]
