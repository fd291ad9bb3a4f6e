"""Deep Linking 2.0 in-process: the picker, the signed response, and the links and columns the LMS makes."""

from __future__ import annotations

from typing import Any

import jwt
import requests

from passback import container
from passback.emulator.browser import parse_page
from stack_harness import CLIENT_ID, Stack, activity, score

CONTEXT = "bio-101"


def setup(stack: Stack, lms: Any) -> None:
    stack.register_lti13(lms)
    lms.add_course(CONTEXT, "Biology 101")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    lms.add_user("sam", name="Sam Student", email="sam@example.edu")
    lms.enroll(CONTEXT, "teacher", "instructor")
    lms.enroll(CONTEXT, "sam", "student")
    stack.send_messages(
        [
            activity("quiz-1", "Cell biology quiz", min_questions=2),
            activity("quiz-2", "Genetics quiz", min_questions=3),
            activity("reading-1", "Chapter 1 reading", min_questions=1),
        ]
    )
    stack.drain()


def response_claims(answer: requests.Response) -> dict[str, Any]:
    form = parse_page(answer.text).forms[0]
    claims: dict[str, Any] = jwt.decode(form.fields["JWT"], options={"verify_signature": False})
    return claims


def test_the_picker_lists_the_catalog_with_titles_and_minimum_questions_and_searches_it(stack: Stack, lms: Any) -> None:
    setup(stack, lms)
    picker = lms.open_deep_linking(requests.Session(), CLIENT_ID, "teacher", CONTEXT)
    assert picker.status_code == 200, picker.text[:500]
    assert "Cell biology quiz" in picker.text
    assert "Genetics quiz" in picker.text
    assert "Homepage link" in picker.text
    assert "<td>3</td>" in picker.text  # Genetics' minimum questions
    assert "script" not in picker.text.lower()
    assert "frame-ancestors" in picker.headers["Content-Security-Policy"]
    search = parse_page(picker.text).forms[0]
    found = requests.post(
        f"{stack.base_url}/lti13/deep-link", data={**search.fields, "q": "genetics", "action": "search"}, timeout=60
    )
    assert found.status_code == 200
    assert "Genetics quiz" in found.text
    assert "Cell biology quiz" not in found.text


def test_deep_linking_two_activities_and_the_homepage_makes_three_links_and_two_columns(stack: Stack, lms: Any) -> None:
    setup(stack, lms)
    done = lms.deep_link(requests.Session(), CLIENT_ID, "teacher", CONTEXT, ["quiz-1", "quiz-2"], homepage=True)
    assert done.status_code == 200, done.text[:500]
    links = lms.links(CONTEXT)
    assert sorted(link["custom"].get("activity_id", "home") for link in links) == ["home", "quiz-1", "quiz-2"]
    items = lms.line_items(CONTEXT)
    assert sorted((i["resourceId"], i["scoreMaximum"], i["label"], i["tag"]) for i in items) == [
        ("quiz-1", 100.0, "Cell biology quiz", "passback"),
        ("quiz-2", 100.0, "Genetics quiz", "passback"),
    ]
    by_activity = {link["custom"].get("activity_id"): link for link in links}
    assert by_activity[None]["line_item_id"] is None  # the homepage column is Passback's to make


def test_the_response_is_signed_with_the_tools_current_key_for_the_issuer_and_echoes_data(
    stack: Stack, lms: Any
) -> None:
    setup(stack, lms)
    session = requests.Session()
    picker = lms.open_deep_linking(session, CLIENT_ID, "teacher", CONTEXT)
    answer = lms.choose_in_picker(session, picker, ["quiz-1"])
    claims = response_claims(answer)
    header = jwt.get_unverified_header(parse_page(answer.text).forms[0].fields["JWT"])
    assert header["kid"] == container.tool_keys().signing_key().kid
    assert claims["iss"] == CLIENT_ID
    assert claims["aud"] == [lms.issuer]
    assert 0 < claims["exp"] - claims["iat"] <= 300
    sent = list(lms.lms.state.deep_link_requests)
    assert claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] in sent
    item = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0]
    assert item["custom"] == {"activity_id": "quiz-1"}
    assert item["url"] == f"{stack.base_url}/lti13/launch"


def test_the_homepage_item_carries_no_empty_custom_object_which_moodle_cannot_take(stack: Stack, lms: Any) -> None:
    """Moodle turns an empty `custom` ({}) into a PHP array and its contentitem_return.php fails on it
    (tests/integration/test_moodle_advantage.py shows it against a real Moodle): absent, not {}."""
    setup(stack, lms)
    session = requests.Session()
    picker = lms.open_deep_linking(session, CLIENT_ID, "teacher", CONTEXT)
    claims = response_claims(lms.choose_in_picker(session, picker, ["quiz-1"], homepage=True))
    activity_item, homepage_item = claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"]
    assert activity_item["custom"] == {"activity_id": "quiz-1"}
    assert "custom" not in homepage_item
    assert "lineItem" not in homepage_item
    assert homepage_item["url"] == f"{stack.base_url}/lti13/launch"


def test_a_deep_linked_activity_link_passes_its_grade_to_its_own_column(stack: Stack, lms: Any, clock: Any) -> None:
    setup(stack, lms)
    lms.deep_link(requests.Session(), CLIENT_ID, "teacher", CONTEXT, ["quiz-1", "quiz-2"], homepage=True)
    for link in lms.links(CONTEXT):
        assert stack.launch13(lms, "teacher", CONTEXT, link["resource_link_id"]).status_code == 303
    quiz2 = next(link for link in lms.links(CONTEXT) if link["custom"].get("activity_id") == "quiz-2")
    assert stack.launch13(lms, "sam", CONTEXT, quiz2["resource_link_id"]).status_code in (200, 302)
    stack.drain()
    stack.send_messages([score({"issuer": lms.issuer, "user_id": "sam"}, "quiz-2", 3, 70.0, clock.now)])
    stack.drain()
    assert lms.gradebook()[CONTEXT]["sam"][quiz2["resource_link_id"]] == 70.0


# ---------------------------------------------------------------- security


def test_a_learner_asking_for_deep_linking_gets_a_refusal_page_not_the_picker(stack: Stack, lms: Any) -> None:
    setup(stack, lms)
    answer = lms.open_deep_linking(requests.Session(), CLIENT_ID, "sam", CONTEXT)
    assert answer.status_code == 403
    assert "only the course&#x27;s instructors" in answer.text or "only the course's instructors" in answer.text
    assert "pick-" not in answer.text
    assert "picker" not in answer.text


def test_a_return_url_on_another_host_than_the_platforms_is_refused(stack: Stack, lms: Any) -> None:
    setup(stack, lms)
    forged = "http://attacker.example/deep_linking_response"
    answer = lms.open_deep_linking(requests.Session(), CLIENT_ID, "teacher", CONTEXT, return_url=forged)
    assert answer.status_code == 403
    assert "deep link return URL" in answer.text
    assert "attacker.example" in answer.text
    assert "JWT" not in answer.text


def test_a_replayed_deep_linking_id_token_is_refused(stack: Stack, lms: Any) -> None:
    from passback.emulator.browser import Step, follow_login_to_auth, navigate

    setup(stack, lms)
    session = requests.Session()
    params = lms.lti13_deep_link_login_params(CLIENT_ID, "teacher", CONTEXT)
    login = Step("GET", lms.tool_registration(CLIENT_ID)["login_url"], params)
    auth = navigate(session, follow_login_to_auth(session, login, lms.auth_url, 10), 10)
    form = parse_page(auth.text).forms[0]
    first = session.post(form.action, data=form.fields, timeout=60)
    again = session.post(form.action, data=form.fields, timeout=60)
    assert first.status_code == 200
    assert "Add to the course" in first.text
    assert again.status_code == 403
    assert "state" in again.text


def test_an_edited_picker_request_is_refused_and_a_picker_answers_once(stack: Stack, lms: Any) -> None:
    setup(stack, lms)
    session = requests.Session()
    picker = lms.open_deep_linking(session, CLIENT_ID, "teacher", CONTEXT)
    form = next(f for f in parse_page(picker.text).forms if "q" not in f.fields)
    token = form.fields["picker"]
    header, _payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.utils.base64url_encode(
        jwt.api_jws.json.dumps(
            {**claims, "data": "someone-elses-request", "return_url": "http://attacker.example/"}
        ).encode()
    ).decode()
    url = f"{stack.base_url}/lti13/deep-link"
    tampered = session.post(
        url, data={**form.fields, "picker": f"{header}.{forged}.{signature}", "pick-0000": "a:quiz-1", "action": "add"}
    )
    assert tampered.status_code == 403
    assert "altered" in tampered.text
    good = {**form.fields, "pick-0000": "a:quiz-1", "action": "add"}
    assert session.post(url, data=good, timeout=60).status_code == 200
    twice = session.post(url, data=good, timeout=60)
    assert twice.status_code == 403
    assert "already sent" in twice.text


def test_a_response_whose_data_was_tampered_is_refused_by_the_platform_and_creates_nothing(
    stack: Stack, lms: Any
) -> None:
    setup(stack, lms)
    session = requests.Session()
    picker = lms.open_deep_linking(session, CLIENT_ID, "teacher", CONTEXT)
    answer = lms.choose_in_picker(session, picker, ["quiz-1"])
    form = parse_page(answer.text).forms[0]
    header, _payload, signature = form.fields["JWT"].split(".")
    claims = response_claims(answer)
    claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"] = "dl-forged"
    forged = jwt.utils.base64url_encode(jwt.api_jws.json.dumps(claims).encode()).decode()
    refused = session.post(form.action, data={"JWT": f"{header}.{forged}.{signature}"}, timeout=60)
    assert refused.status_code == 400
    assert "signature" in refused.text
    assert lms.links(CONTEXT) == []
    assert lms.line_items(CONTEXT) == []
    # The untouched response still goes through once, and only once.
    assert session.post(form.action, data=form.fields, timeout=60).status_code == 200
    replay = session.post(form.action, data=form.fields, timeout=60)
    assert replay.status_code == 400
    assert "already answered" in replay.text
    assert len(lms.links(CONTEXT)) == 1


def test_a_search_cannot_inject_directives_into_the_pickers_content_security_policy(stack: Stack, lms: Any) -> None:
    # lms_origin rides in a form field (the page's frame-ancestors); an edited one must not add directives.
    setup(stack, lms)
    picker = lms.open_deep_linking(requests.Session(), CLIENT_ID, "teacher", CONTEXT)
    search = parse_page(picker.text).forms[0]
    hostile = "https://lms.example; script-src 'unsafe-inline' *"
    found = requests.post(
        f"{stack.base_url}/lti13/deep-link",
        data={**search.fields, "q": "genetics", "action": "search", "lms_origin": hostile},
        timeout=60,
    )
    assert found.status_code == 200
    policy = found.headers["Content-Security-Policy"]
    assert "script-src" not in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-inline" not in found.text
