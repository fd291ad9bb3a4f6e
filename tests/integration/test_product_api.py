"""The HTTPS score API (issue 21), in-process: tokens, 202/400/401/403/413/429, statuses, scope, rotation."""

from __future__ import annotations

import uuid
from typing import Any

import requests

from passback import container
from product_kit import Product, register_product
from stack_harness import Stack, activity, score


def lms_course(stack: Stack, lms: Any, product: Product, activity_id: str = "essay-1") -> tuple[str, str]:
    """An LMS course with one link to the product's activity, the teacher and one student launched;
    returns (the student's learner id, the link's resource link id)."""
    stack.register_lti13(lms)
    lms.add_course("bio-101", "Biology 101")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    lms.enroll("bio-101", "teacher", "instructor")
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll("bio-101", "sam", "student")
    published = product.post([activity(activity_id, "Essay 1", product_url="https://quiz.example.com/play")])
    assert published.status_code == 202, published.text
    stack.drain()
    lms.add_link("bio-101", f"link-{activity_id}", title="Essay 1", custom={"activity_id": activity_id})
    assert stack.launch13(lms, "teacher", "bio-101", f"link-{activity_id}").status_code == 303
    handoff = stack.launch13(lms, "sam", "bio-101", f"link-{activity_id}")
    assert handoff.status_code == 302
    assert "passback_token=" in handoff.headers["Location"]
    stack.drain()
    platform = container.courses().get(_course_id(lms)).platform_id  # type: ignore[union-attr]
    learner = container.learners().by_identity(platform, "sam")
    assert learner is not None
    return learner, f"link-{activity_id}"


def _course_id(lms: Any) -> str:
    from passback.ids import course_id, platform_key_lti13

    return course_id(platform_key_lti13(lms.issuer), "bio-101")


def test_a_product_posts_a_batch_gets_202_and_the_grades_reach_the_lms(stack: Stack, lms: Any, clock: Any) -> None:
    product = register_product(stack.base_url, issuers=(lms.issuer,))
    learner, link = lms_course(stack, lms, product)
    by_id = score({"learner_id": learner}, "essay-1", 3, 81.0, clock.now)
    answer = product.post([by_id])
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": [by_id["message_id"]]}
    assert product.status(by_id["message_id"]).json()["status"] == "accepted"
    stack.drain()
    assert lms.gradebook()["bio-101"]["sam"][link] == 81.0
    assert product.status(by_id["message_id"]).json()["status"] == "applied"
    # The same report again is accepted and changes nothing; an older one is "unchanged".
    older = score({"issuer": lms.issuer, "user_id": "sam"}, "essay-1", 2, 40.0, clock.now.replace(year=2020))
    assert product.post([by_id, older]).status_code == 202
    stack.drain()
    assert product.status(by_id["message_id"]).json()["status"] == "applied"
    assert product.status(older["message_id"]).json()["status"] == "unchanged"
    assert lms.gradebook()["bio-101"]["sam"][link] == 81.0


def test_a_bad_batch_gets_400_naming_every_problem_of_every_message_and_nothing_is_accepted(
    stack: Stack, clock: Any
) -> None:
    product = register_product(stack.base_url)
    good = activity("quiz-9", "Quiz 9")
    bad_score = score({"email": "not-an-address", "learner_id": "u1"}, "quiz-9", -1, 101.0, clock.now)
    bad_score["occurred_at"] = "2026-11-23T14:05:09"
    unknown_field = {**activity("quiz-8", "Quiz 8"), "titel": "typo"}
    answer = product.post([good, bad_score, unknown_field, {"type": "grade"}])
    assert answer.status_code == 400, answer.text
    body = answer.json()
    found = {(p["index"], p["field"]) for p in body["problems"]}
    assert {(1, "answered"), (1, "score"), (1, "occurred_at"), (2, "titel"), (3, "message")} <= found
    assert any(p["index"] == 1 and p["field"].startswith("learner") for p in body["problems"])
    assert all("pydantic" not in p["problem"] and "errors.pydantic" not in p["problem"] for p in body["problems"])
    assert next(p for p in body["problems"] if p["field"] == "titel")["message_id"] == unknown_field["message_id"]
    assert "none was accepted" in body["error_description"]
    # A report dated beyond the accepted clock skew would only be dead-lettered: refused now, by field.
    ahead = score({"email": "ann@example.edu"}, "quiz-9", 1, 50.0, clock.now.replace(year=clock.now.year + 1))
    future = product.post([good, ahead])
    assert future.status_code == 400
    assert [(p["index"], p["field"]) for p in future.json()["problems"]] == [(1, "occurred_at")]
    stack.drain()
    assert product.status(good["message_id"]).status_code == 404  # not even the good one
    assert product.post([good]).status_code == 202


def test_a_second_product_gets_403_on_the_first_products_activity_and_cannot_read_its_statuses(
    stack: Stack, lms: Any, clock: Any
) -> None:
    first = register_product(stack.base_url, "quiz-app", issuers=(lms.issuer,))
    second = register_product(stack.base_url, "reading-app", issuers=(lms.issuer,))
    learner, link = lms_course(stack, lms, first)
    mine = score({"learner_id": learner}, "essay-1", 3, 90.0, clock.now)
    assert first.post([mine]).status_code == 202
    theirs = score({"issuer": lms.issuer, "user_id": "sam"}, "essay-1", 3, 5.0, clock.now)
    answer = second.post([theirs])
    assert answer.status_code == 403, answer.text
    assert answer.json()["problems"][0]["problem"] == "activity 'essay-1' belongs to another product"
    # Re-publishing the activity does not take it over.
    assert second.post([activity("essay-1", "Mine now")]).status_code == 403
    # The learner id was handed to the first product only.
    second.post([activity("reading-1", "Reading 1")])
    by_id = second.post([score({"learner_id": learner}, "reading-1", 1, 50.0, clock.now)])
    assert by_id.status_code == 403
    assert by_id.json()["problems"][0]["field"] == "learner"
    assert second.status(mine["message_id"]).status_code == 404
    stack.drain()
    assert lms.gradebook()["bio-101"]["sam"][link] == 90.0


def test_lms_identities_only_on_platforms_the_product_is_deployed_on(stack: Stack, clock: Any) -> None:
    product = register_product(stack.base_url, issuers=("https://canvas.example.edu",))
    product.post([activity("quiz-1", "Quiz 1")])
    here = score({"issuer": "https://canvas.example.edu", "user_id": "u1"}, "quiz-1", 1, 10.0, clock.now)
    elsewhere = score({"issuer": "https://moodle.example.edu", "user_id": "u1"}, "quiz-1", 1, 10.0, clock.now)
    assert product.post([here]).status_code == 202
    refused = product.post([here, elsewhere])
    assert refused.status_code == 403
    assert [p["index"] for p in refused.json()["problems"]] == [1]


def test_an_email_another_product_vouched_for_is_refused_and_a_race_is_dead_lettered_with_its_reason(
    stack: Stack, clock: Any
) -> None:
    first = register_product(stack.base_url, "quiz-app")
    second = register_product(stack.base_url, "reading-app")
    first.post([activity("quiz-1", "Quiz 1")])
    second.post([activity("reading-1", "Reading 1")])
    stack.drain()
    mia_first = score({"email": "mia@example.edu"}, "quiz-1", 1, 70.0, clock.now)
    mia_second = score({"email": "mia@example.edu"}, "reading-1", 1, 60.0, clock.now)
    # Both pass the API's check before either is applied: the score function settles the race.
    assert first.post([mia_first]).status_code == 202
    assert second.post([mia_second]).status_code == 202
    stack.drain()
    assert first.status(mia_first["message_id"]).json()["status"] == "applied"
    lost = second.status(mia_second["message_id"]).json()
    assert lost["status"] == "dead-lettered"
    assert lost["reason"] == "not this product's learner"
    parked = stack.dead_letters()
    assert parked[0]["MessageAttributes"]["product_id"]["StringValue"] == second.product_id
    # Now the address is known to be the first product's: refused at once.
    again = second.post([score({"email": "MIA@example.edu"}, "reading-1", 2, 65.0, clock.now)])
    assert again.status_code == 403


def test_no_token_is_401_and_a_token_without_the_scope_is_403_before_the_function_runs(stack: Stack) -> None:
    product = register_product(stack.base_url)
    url = f"{stack.base_url}/api/v1/messages"
    assert requests.post(url, json={"messages": []}, timeout=60).status_code == 401
    forged = requests.post(url, json={"messages": []}, headers={"Authorization": "Bearer abc.def.ghi"}, timeout=60)
    assert forged.status_code == 401
    assert forged.json() == {"message": "Unauthorized"}
    read_only = product.token(scope="scores:read")
    answer = product.post([activity("quiz-1", "Quiz 1")], token=read_only)
    assert answer.status_code == 403
    assert answer.json() == {"message": "Forbidden"}


def test_token_requests_refuse_a_replayed_or_misaddressed_assertion(stack: Stack) -> None:
    product = register_product(stack.base_url)
    assertion = product.assertion()
    assert product.token_response(assertion).status_code == 200
    replayed = product.token_response(assertion)
    assert replayed.status_code == 401
    assert "replayed" in replayed.json()["error_description"]
    assert product.token_response(product.assertion(aud="https://elsewhere.example/token")).status_code == 401
    stranger = Product(stack.base_url, "nobody-123", product.kid, product.private_pem)
    assert stranger.token_response().json()["error"] == "invalid_client"


def test_a_revoked_credential_stops_working_at_once_and_rotation_keeps_two_live(stack: Stack, clock: Any) -> None:
    old = register_product(stack.base_url)
    old_token = old.token()
    new = old.rotate()
    new_token = new.token()
    # Both credentials live: the product switches over without a gap.
    assert old.post([activity("quiz-1", "Quiz 1")], token=old_token).status_code == 202
    assert new.post([activity("quiz-2", "Quiz 2")], token=new_token).status_code == 202
    container.product_admin().retire(old.product_id, old.kid)
    # The old key's token was valid for 15 more minutes: it stops now, and no new one is issued.
    refused = old.post([activity("quiz-3", "Quiz 3")], token=old_token)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["error_description"]
    assert old.token_response().status_code == 401
    assert new.post([activity("quiz-3", "Quiz 3")], token=new_token).status_code == 202
    container.product_admin().remove(new.product_id)
    assert new.post([activity("quiz-4", "Quiz 4")], token=new_token).status_code == 401


def test_more_than_ten_messages_is_413_and_over_the_rate_limit_is_429_with_retry_after(
    stack: Stack, clock: Any
) -> None:
    product = register_product(stack.base_url, rate=5)
    token = product.token()
    eleven = [activity(f"quiz-{i}", f"Quiz {i}") for i in range(11)]
    too_many = product.post(eleven, token=token)
    assert too_many.status_code == 413
    huge = activity("quiz-1", "Quiz 1")
    huge["title"] = "x" * 30_000  # 10 x 30 KB: over the queue's 256 KiB batch limit
    assert product.post([huge] * 10, token=token).status_code == 413
    answers = [product.post([activity(f"q-{uuid.uuid4().hex[:6]}", "Q")] * 3, token=token) for _ in range(6)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, [a.status_code for a in answers]
    assert limited[0].headers["Retry-After"] == "1"
    assert limited[0].json()["error"] == "rate_limited"


def test_two_products_publishing_one_new_activity_at_once_one_owns_it_and_the_other_is_refused(
    stack: Stack,
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    products = [register_product(stack.base_url, f"app-{n}") for n in range(4)]
    tokens = [p.token() for p in products]
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda pair: pair[0].post([activity("contested", "Contested")], token=pair[1]),
                zip(products, tokens, strict=True),
            )
        )
    assert sorted(a.status_code for a in answers) == [202, 403, 403, 403]
    winner = products[[a.status_code for a in answers].index(202)]
    assert container.products().activity_owner("contested") == winner.product_id
