"""The instructor's gradebook over HTTP (in-process stack, LMS emulator): what it shows, who may see
it, and what its actions do. The data is `passback demo`'s story (see passback.cli.demo)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from gradebook_kit import (
    browse,
    browser_for,
    course_of,
    dynamodb_calls,
    forge_session,
    hidden_fields,
    learner_ids,
    link_ids,
    play_demo,
    token_of,
    verified,
)
from passback import container
from passback.cli.demo import LMS_ERROR_BODY
from passback.clock import utcnow
from passback.web import gradebook_live, session
from passback.web.session import SESSION_COOKIE


def cell_html(html: str, learner_name: str, column: int) -> str:
    """The `column`-th cell (0-based, after the learner's header) of a learner's row."""
    row = re.search(rf'<tr><th scope="row" id="r-[^"]+">{re.escape(learner_name)}.*?</tr>', html, re.S)
    assert row, f"no row for {learner_name}"
    return re.findall(r"<td[^>]*>.*?</td>", row.group(0), re.S)[column]


def text(fragment: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", fragment))


@pytest.fixture
def demo(stack: Any, lms: Any) -> dict[str, Any]:
    return play_demo(stack, lms)


def test_the_instructor_sees_each_grade_with_its_status_in_words_in_one_query_and_as_csv(
    stack: Any, lms: Any, demo: dict[str, Any]
) -> None:
    url = demo["bio-101"].gradebook_url
    response = browse(url)
    assert response.status_code == 200
    html = response.text
    # Headers: framed only by this course's LMS, never cached, never referred.
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors 'self' {lms.base_url}" in csp
    assert f"script-src {gradebook_live.script_hash()};" in csp  # only the page's own live-status script
    assert "connect-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    # An accessible table: caption, column and row headers.
    assert "<caption" in html
    assert html.count(' scope="col"') >= 5
    assert html.count('<th scope="row" id="r-') == 6
    # Columns in assignment order, then the homepage link's course average.
    heads = re.findall(r'<th id="col-[^"]+" data-v="[^"]+" scope="col"[^>]*>([^<]+)', html)
    assert heads == ["Quiz 1: Cells", "Quiz 2: Genetics", "Reading: Evolution", "Course average"]

    synced = cell_html(html, "Ada Lovelace", 0)
    assert "92" in synced
    assert "synced" in text(synced)
    assert 'title="Synced: the LMS has 92' in synced

    not_released = cell_html(html, "Ada Lovelace", 1)
    assert "81" in not_released
    assert "not released" in text(not_released)
    assert "release to send" in text(not_released)
    assert "release the activity&#x27;s grades to send them" in not_released

    no_target = cell_html(html, "Edsger Dijkstra", 0)
    assert "78" in no_target
    assert "no target" in text(no_target)
    assert "this student must open this link once from the LMS" in text(no_target)

    lms_error = cell_html(html, "Barbara Liskov", 0)
    assert "88" in lms_error
    assert "LMS error" in text(lms_error)
    assert LMS_ERROR_BODY in text(lms_error)  # the LMS's own words...
    assert ">Try again</button>" in lms_error  # ...and what to do
    assert re.search(r'<summary title="[^"]*locked[^"]*">', lms_error)  # on hover too

    below = cell_html(html, "Tim Berners-Lee", 1)
    assert "no grade yet" in text(below)
    assert "1 answered" in text(below)
    average = cell_html(html, "Edsger Dijkstra", 3)
    assert "89" in average
    assert "synced" in text(average)
    # Release Grades only where there is something to release.
    assert html.count("Release Grades<span") == 1
    assert "2 cells need attention." in html

    # The other course: LTI 1.3 reaches a learner who never opened the link; a dropped learner is explained.
    chem = browse(demo["chem-110"].gradebook_url).text
    assert "synced" in text(cell_html(chem, "Dmitri Mendeleev", 0))
    dropped = text(cell_html(chem, "Linus Pauling", 0))
    assert "user not in course" in dropped
    assert "User not found in course" in dropped
    assert "the student dropped the course" in dropped

    # One Query per page view (warm: the session check's key set is cached for a minute).
    # (A reload of the launch's URL also tries to spend its ticket again: one failing conditional write.)
    with dynamodb_calls() as calls:
        assert browser_for(url).get(url.split("?", 1)[0], timeout=30).status_code == 200
    # The activities' thresholds come from the catalog: one BatchGetItem when its minute's cache ran out.
    assert [op for op, _ in calls] in (["Query"], ["Query", "BatchGetItem"])
    assert all(p["RequestItems"].keys() == {"passback-local-config"} for op, p in calls if op == "BatchGetItem")
    params = calls[0][1]
    assert params["TableName"].endswith("-gradebook")
    assert params["ExpressionAttributeValues"][":0"] == {"S": f"C#{course_of(url)}"}
    assert "ExclusiveStartKey" not in params
    assert "Limit" not in params

    # The CSV export: a grade and a status column per column.
    course = course_of(url)
    response = browser_for(url).get(f"{stack.base_url}/gradebook/{course}/export.csv", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Learner", "Email", "Learner id", "Quiz 1: Cells grade", "Quiz 1: Cells status"]
    assert rows[0][-2:] == ["Course average grade", "Course average status"]
    assert len(rows) == 1 + 6
    by_name = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_name["Edsger Dijkstra"]["Quiz 1: Cells grade"] == "78"
    assert by_name["Edsger Dijkstra"]["Quiz 1: Cells status"] == "no target"
    assert by_name["Barbara Liskov"]["Quiz 1: Cells status"] == "LMS error"
    assert by_name["Ada Lovelace"]["Quiz 2: Genetics status"] == "not released"
    assert by_name["Ada Lovelace"]["Course average grade"] == "96"
    assert by_name["Tim Berners-Lee"]["Quiz 2: Genetics grade"] == ""


def queued(stack: Any) -> int:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queue_urls["ReleaseQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_only_this_courses_instructor_with_the_pages_form_token_gets_in(stack: Any, demo: dict[str, Any]) -> None:
    url = demo["bio-101"].gradebook_url
    course = course_of(url)
    other_course = course_of(demo["chem-110"].gradebook_url)
    base = f"{stack.base_url}/gradebook/{course}"
    genuine = verified(url)
    student = forge_session(course, role="learner")
    elsewhere = forge_session(other_course)
    expired = forge_session(course, now=utcnow() - timedelta(hours=3))
    tampered = genuine.token[:-6] + ("AAAAAA" if not genuine.token.endswith("AAAAAA") else "BBBBBB")

    gets = [base, f"{base}/export.csv"]
    for target in gets:
        assert requests.get(target, timeout=30).status_code == 403  # no session at all
        for token in (student.token, elsewhere.token, expired.token, tampered, "not-a-token"):
            response = requests.get(target, cookies={SESSION_COOKIE: token}, timeout=30)
            assert response.status_code == 403, (target, token[:20])
            assert requests.post(target, data={"s": token}, timeout=30).status_code == 403, (target, token[:20])
        # A session in the URL does not count (a URL is what people paste): the cookie or the page's form does.
        assert requests.get(target, params={"s": genuine.token}, timeout=30).status_code == 403
        assert requests.get(target, cookies={SESSION_COOKIE: genuine.token}, timeout=30).status_code == 200
        assert requests.post(target, data={"s": genuine.token}, timeout=30).status_code == 200

    actions = {
        "release": {"activity": "bio-quiz-genetics"},
        "resync": {},
        "settings/policy": {"policy": "immediate"},
        "settings/gau": {},
    }
    for action, fields in actions.items():
        target = f"{base}/{action}"
        attempts = [
            {**fields},  # nothing
            {**fields, "s": genuine.token},  # a forged form: the session (say, riding a cookie), no CSRF value
            {**fields, "s": genuine.token, "csrf": "guessed"},
            {**fields, "s": genuine.token, "csrf": student.csrf},  # another session's value
            {**fields, "s": student.token, "csrf": student.csrf},  # a student, with their own session's value
            {**fields, "s": elsewhere.token, "csrf": elsewhere.csrf},  # another course's instructor
            {**fields, "s": expired.token, "csrf": expired.csrf},
        ]
        for form in attempts:
            response = requests.post(target, data=form, allow_redirects=False, timeout=30)
            assert response.status_code == 403, (action, sorted(form))
        cookie_only = requests.post(
            target, data=fields, cookies={SESSION_COOKIE: genuine.token}, allow_redirects=False, timeout=30
        )
        assert cookie_only.status_code == 403
        # The CSRF value in the query string does not count: only the page's own form carries it.
        in_query = requests.post(
            target,
            params={"csrf": genuine.csrf},
            data={**fields, "s": genuine.token},
            allow_redirects=False,
            timeout=30,
        )
        assert in_query.status_code == 403
    # Nothing was done: no job was queued, Quiz 2 is still not released, the policy is still manual.
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=stack.queue_urls["ReleaseQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    course_record = container.courses().get(course)
    assert course_record is not None
    assert course_record.activities["bio-quiz-genetics"].released_at is None
    assert course_record.release_policy.value == "manual"
    # The genuine page's own form works.
    page = browse(url).text
    fields = hidden_fields(page)
    assert fields["s"] == genuine.token
    assert fields["csrf"] == genuine.csrf
    asked = requests.post(f"{base}/resync", data={**fields, "scope": "course"}, allow_redirects=False, timeout=30)
    assert asked.status_code == 200  # a whole-course resync asks first, with numbers
    assert "Resync the whole course?" in asked.text
    assert re.search(r"This checks \d+ cells \(6 students x 4 links\) and sends \d+ released grades", asked.text)
    done = requests.post(
        f"{base}/resync", data={**fields, "scope": "course", "confirm": "yes"}, allow_redirects=False, timeout=30
    )
    assert done.status_code == 303
    assert done.headers["Location"].startswith(f"/gradebook/{course}?t=")


def test_release_grades_and_try_again_reach_the_lms(stack: Any, lms: Any, demo: dict[str, Any]) -> None:
    url = demo["bio-101"].gradebook_url
    course = course_of(url)
    base = f"{stack.base_url}/gradebook/{course}"
    fields = hidden_fields(browse(url).text)
    assert "bio-quiz-2" not in lms.gradebook()["bio-101"]["ada"]

    released = requests.post(
        f"{base}/release", data={**fields, "activity": "bio-quiz-genetics"}, allow_redirects=False, timeout=30
    )
    # Release Grades asks once, saying how many grades leave; nothing is queued before the confirmation.
    assert released.status_code == 200
    assert "Release the grades of Quiz 2: Genetics?" in released.text
    assert "This sends 5 grades of Quiz 2: Genetics to the LMS" in released.text
    assert "Release and send 5 grades" in released.text
    assert queued(stack) == 0
    released = requests.post(
        f"{base}/release",
        data={**fields, "activity": "bio-quiz-genetics", "confirm": "yes"},
        allow_redirects=False,
        timeout=30,
    )
    assert released.status_code == 303
    assert "done=released" in released.headers["Location"]
    assert "Release requested" in requests.get(stack.base_url + released.headers["Location"], timeout=30).text
    stack.drain()
    book = lms.gradebook()["bio-101"]
    assert {user: book[user].get("bio-quiz-2") for user in ("ada", "alan", "barbara", "edsger", "katherine")} == {
        "ada": 81.0,
        "alan": 74.0,
        "barbara": 90.0,
        "edsger": 69.0,
        "katherine": 100.0,
    }
    assert "bio-quiz-2" not in book["tim"]  # below the threshold: nothing to send
    # The course average now counts Quiz 2.
    assert book["ada"]["bio-home"] == pytest.approx((92 + 81 + 100) / 3, abs=1e-3)

    # The LMS refused Barbara's Quiz 1 grade; once it accepts grades again, Try again sends it.
    barbara = learner_ids(course)["barbara"]
    quiz_1 = link_ids(course)["bio-quiz-1"]
    assert "bio-quiz-1" not in book["barbara"]
    retried = requests.post(
        f"{base}/resync", data={**fields, "cell": f"{barbara} {quiz_1}"}, allow_redirects=False, timeout=30
    )
    assert retried.status_code == 303
    assert retried.headers["Location"].endswith(f"#r-{barbara}")
    stack.drain()
    assert lms.gradebook()["bio-101"]["barbara"]["bio-quiz-1"] == 88.0
    page = browse(url).text
    assert "synced" in text(cell_html(page, "Barbara Liskov", 0))
    assert "Release Grades<span" not in page  # every column is released now
    # A column, a homepage column and the whole course can be resynced too.
    home = link_ids(course)["bio-home"]
    for form in ({"activity": "bio-quiz-cells"}, {"link": home}, {"scope": "course", "confirm": "yes"}):
        assert (
            requests.post(f"{base}/resync", data={**fields, **form}, allow_redirects=False, timeout=30).status_code
            == 303
        )
    stack.drain()
    # Nonsense is refused without queueing anything.
    for form in ({"activity": "not-here"}, {"link": "l-nope"}, {"cell": f"{barbara} l-nope"}):
        assert (
            requests.post(f"{base}/resync", data={**fields, **form}, allow_redirects=False, timeout=30).status_code
            == 400
        )
    assert (
        requests.post(
            f"{base}/release", data={**fields, "activity": "x"}, allow_redirects=False, timeout=30
        ).status_code
        == 400
    )


def test_settings_change_the_policy_and_deadlines_or_say_why_not(stack: Any, demo: dict[str, Any]) -> None:
    url = demo["bio-101"].gradebook_url
    course = course_of(url)
    base = f"{stack.base_url}/gradebook/{course}"
    page = browse(url).text
    fields = hidden_fields(page)
    assert 'name="policy" value="manual" checked' in page
    indexes = dict(re.findall(r'<label for="(gau-\d+)">([^<]+)</label>', page))
    quiz_1 = next(field for field, title in indexes.items() if title == "Quiz 1: Cells")
    quiz_2 = next(field for field, title in indexes.items() if title == "Quiz 2: Genetics")

    saved = requests.post(
        f"{base}/settings/policy",
        data={**fields, "policy": "at_date", "release_date": "2031-05-01T09:30"},
        allow_redirects=False,
        timeout=30,
    )
    assert saved.status_code == 303
    record = container.courses().get(course)
    assert record is not None
    assert record.release_policy.value == "at_date"
    assert record.release_date is not None
    assert record.release_date.isoformat() == "2031-05-01T09:30:00+00:00"
    missing_date = requests.post(f"{base}/settings/policy", data={**fields, "policy": "at_date"}, timeout=30)
    assert missing_date.status_code == 400
    assert "needs a date" in missing_date.text
    assert 'role="alert"' in missing_date.text
    assert (
        requests.post(f"{base}/settings/policy", data={**fields, "policy": "whenever"}, timeout=30).status_code == 400
    )

    # A new deadline for Quiz 1; Quiz 2's (unchanged) stays as it is.
    quiz_2_value = re.search(rf'name="{quiz_2}" value="([^"]*)"', page)
    assert quiz_2_value is not None
    form = {**fields, quiz_1: "2031-06-01T12:00", quiz_2: quiz_2_value.group(1)}
    assert requests.post(f"{base}/settings/gau", data=form, allow_redirects=False, timeout=30).status_code == 303
    record = container.courses().get(course)
    assert record is not None
    gau = record.activities["bio-quiz-cells"].gau
    assert gau is not None
    assert gau.isoformat() == "2031-06-01T12:00:00+00:00"
    # A deadline in the past closes the activity: the page asks first, naming the zeros (all the demo's Quiz 2
    # work was done just now, after a deadline of yesterday: rule 7 makes every grade a zero), and nothing is
    # saved until the confirmation; once it passed, moving it is refused.
    past = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    asked = requests.post(f"{base}/settings/gau", data={**fields, quiz_2: past}, allow_redirects=False, timeout=30)
    assert asked.status_code == 200
    assert "Save a deadline in the past?" in asked.text
    assert "6 students of 6 get a zero" in asked.text
    assert "Save and give 6 zeros" in asked.text
    assert container.courses().get(course).activities["bio-quiz-genetics"].gau > utcnow()  # type: ignore[union-attr,operator]
    confirm = hidden_fields(asked.text.split('class="confirm"', 1)[1].split("</form>", 1)[0])
    assert confirm["confirm"] == "yes"
    assert confirm[quiz_2] == past
    done = requests.post(f"{base}/settings/gau", data=confirm, allow_redirects=False, timeout=30)
    assert done.status_code == 303
    assert container.courses().get(course).activities["bio-quiz-genetics"].gau <= utcnow()  # type: ignore[union-attr,operator]
    refused = requests.post(f"{base}/settings/gau", data={**fields, quiz_2: "2032-01-01T00:00"}, timeout=30)
    assert refused.status_code == 400
    assert "cannot be moved or removed" in refused.text
    assert "Not saved." in refused.text
    assert 'role="alert"' in refused.text
    bad = requests.post(f"{base}/settings/gau", data={**fields, quiz_2: "next tuesday"}, timeout=30)
    assert bad.status_code == 400
    assert "is not a date and time" in bad.text
    page = browse(url).text
    assert f'id="{quiz_2}" name="{quiz_2}" value="{past}" disabled' in page


def test_everything_shown_is_escaped(stack: Any, lms: Any) -> None:
    from stack_harness import activity, score

    stack.register_lti13(lms)
    lms.add_course("hostile", '<script>alert("title")</script>')
    lms.add_user("teacher", name="T", email="t@example.edu", roles=["instructor"])
    lms.add_user("eve", name='"><img src=x onerror=alert(1)>', email="eve@example.edu")
    lms.add_user("mallory", name='=HYPERLINK("http://evil.example","x")', email="m@example.edu")
    for user, role in (("teacher", "instructor"), ("eve", "student"), ("mallory", "student")):
        lms.enroll("hostile", user, role)
    lms.add_link("hostile", "quiz", title="Quiz", custom={"activity_id": "q-<b>"})
    stack.send_messages([activity("q-<b>", "<i>Quiz</i> & <u>more</u>")])
    stack.drain()
    url = stack.launch13(lms, "teacher", "hostile", "quiz").headers["Location"]
    for user in ("eve", "mallory"):
        stack.launch13(lms, user, "hostile", "quiz")
    stack.drain()
    stack.send_messages([score({"issuer": lms.issuer, "user_id": "eve"}, "q-<b>", 3, 50.0, utcnow())])
    stack.drain()
    html = browse(url).text
    assert '<script>alert("title")' not in html
    assert "<img" not in html
    assert "<i>Quiz" not in html
    assert "&lt;script&gt;alert(&quot;title&quot;)&lt;/script&gt;" in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;i&gt;Quiz&lt;/i&gt; &amp; &lt;u&gt;more&lt;/u&gt;" in html
    assert 'value="q-&lt;b&gt;"' in html or "q-&lt;b&gt;" in html
    exported = requests.post(
        f"{stack.base_url}/gradebook/{course_of(url)}/export.csv", data={"s": token_of(url)}, timeout=30
    ).content.decode("utf-8-sig")
    assert "'=HYPERLINK" in exported  # a spreadsheet shows it as text, never runs it


def test_a_gradebook_ticket_works_once(stack: Any, demo: dict[str, Any]) -> None:
    url = demo["bio-101"].gradebook_url
    first = requests.get(url, timeout=30)
    assert first.status_code == 200
    assert "s=" not in first.url
    assert "Barbara Liskov" in first.text
    # The same URL again, from a browser without the first one's cookie: spent.
    again = requests.get(url, timeout=30)
    assert again.status_code == 403
    assert "already used" in again.text
    assert "open the gradebook from your LMS" in again.text
    assert "Barbara Liskov" not in again.text
    # An expired ticket, and another course's ticket on this course's page.
    keys = container.tool_keys()
    genuine = session.verify(keys, hidden_fields(first.text)["s"], now=utcnow())
    old = session.ticket(keys, genuine, now=utcnow() - timedelta(minutes=6))
    expired = requests.get(url.split("?", 1)[0], params={"t": old}, timeout=30)
    assert expired.status_code == 403
    assert "expired" in expired.text
    chemistry = forge_session(course_of(demo["chem-110"].gradebook_url))
    foreign = session.ticket(keys, chemistry, now=utcnow())
    assert requests.get(url.split("?", 1)[0], params={"t": foreign}, timeout=30).status_code == 403


def test_a_gradebook_ticket_never_carries_the_pages_form_token(stack: Any, demo: dict[str, Any]) -> None:
    # A ticket is a signed, not encrypted, token in a URL that gets pasted into support tickets and
    # chats: whatever it carries is public. The CSRF value must not be among it, or a spent URL
    # plus the (partitioned) cookie is enough for a forged form inside the LMS's pages.
    url = demo["bio-101"].gradebook_url
    ticket = parse_qs(urlsplit(url).query)["t"][0]
    first = requests.get(url, timeout=30)
    assert first.status_code == 200
    page_csrf = hidden_fields(first.text)["csrf"]
    claims = jwt.decode(ticket, options={"verify_signature": False})
    assert "csrf" not in claims
    keys = container.tool_keys()
    current = session.verify(keys, hidden_fields(first.text)["s"], now=utcnow())
    again = session.ticket(keys, current, now=utcnow())  # what the 303 after an action carries
    assert "csrf" not in jwt.decode(again, options={"verify_signature": False})
    assert page_csrf not in json.dumps(jwt.decode(again, options={"verify_signature": False}))
    # Redeeming it gives a working session with a form token of its own.
    redeemed = session.redeem(keys, again, now=utcnow(), consume=lambda _jti, _until: True)
    assert redeemed.csrf
    assert redeemed.csrf != current.csrf
    assert session.verify(keys, redeemed.token, now=utcnow()).csrf == redeemed.csrf


def test_a_time_zone_the_launch_carries_is_the_pages_until_the_page_asks_for_another(stack: Any, lms: Any) -> None:
    stack.register_lti13(lms)
    lms.add_course("tz-course", "Evening class")
    lms.add_user("teacher", name="T", email="t@example.edu", roles=["instructor"])
    lms.enroll("tz-course", "teacher", "instructor")
    lms.add_link("tz-course", "quiz", title="Quiz", custom={"activity_id": "tz-quiz", "tz": "America/Chicago"})
    url = stack.launch13(lms, "teacher", "tz-course", "quiz").headers["Location"]
    browser = requests.Session()
    page = browser.get(url, timeout=30)
    assert (
        "times in America/Chicago (UTC\u221206:00)" in page.text
        or "times in America/Chicago (UTC\u221205:00)" in page.text
    )
    assert 'data-tz-auto="1"' in page.text  # nobody chose it: the browser's zone may still win
    fields = hidden_fields(page.text)
    chosen = browser.post(url.split("?", 1)[0], data={"s": fields["s"], "tz": "Europe/Paris"}, timeout=30)
    assert "times in Europe/Paris (UTC+0" in chosen.text
    assert 'data-tz-auto="0"' in chosen.text
    bogus = browser.post(url.split("?", 1)[0], data={"s": fields["s"], "tz": "../../etc/passwd"}, timeout=30)
    assert bogus.status_code == 200
    assert "times in America/Chicago" in bogus.text  # an unknown name is ignored
