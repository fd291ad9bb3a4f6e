"""The gradebook in a real browser: headless Chromium against the in-process stack and LMS emulator.

The LMS's course page is played by a page on the emulator's origin (Playwright answers for it)
that launches Passback into an iframe, as an LMS does. The data is `passback demo`'s story.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from gradebook_kit import course_of, forge_session, play_demo, token_of, verified
from passback import container
from passback.cli.demo import CONSUMER_KEY, INSTRUCTOR, LMS_ERROR_BODY
from passback.clock import utcnow
from passback.web import session
from stack_harness import score

pytestmark = pytest.mark.browser

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "img" / "gradebook.png"
# Read at import: the `aws` fixture clears PASSBACK_* variables before the test runs.
UPDATE_SCREENSHOT = bool(os.environ.get("PASSBACK_UPDATE_SCREENSHOT"))


def lms_course_page(lms: Any, base_url: str, context_id: str, link: str) -> str:
    """The LMS's page: a signed LTI 1.1 launch form that targets the tool's iframe."""
    params = lms.lti11_launch_params(
        CONSUMER_KEY, f"{base_url}/lti11/launch", INSTRUCTOR.user_id, context_id, link, roles="Instructor"
    )
    fields = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
    )
    return (
        "<!doctype html><title>Emulated LMS</title><h1>Biology 101 (the LMS)</h1>"
        f'<form method="post" action="{base_url}/lti11/launch" target="tool">{fields}'
        "<button>Open Passback</button></form>"
        '<iframe name="tool" title="Passback" style="width:1240px;height:760px"></iframe>'
    )


def open_html(page: Any, origin: str, body: str) -> None:
    """Show `body` as a page of `origin`: load a real page of that server, then replace its document.

    (A page Playwright made up would count as a public site, and Chromium's local network access
    rules would then stop it from reaching the tool on loopback at all.)
    """
    page.goto(f"{origin}/return")
    page.set_content(body)


def cell(scope: Any, learner: str, column: int) -> Any:
    return scope.locator("tbody tr", has=scope.locator("th", has_text=learner)).locator("td").nth(column)


def cross_site(url: str) -> str:
    """The same server under another site's name (localhost is not 127.0.0.1 to a browser)."""
    return url.replace("127.0.0.1", "localhost")


def serve_lms_from(course_id: str, origin: str) -> None:
    """Record the course's LMS as living on `origin` (its launches would have said so), so it may frame the page."""
    from passback.data.gradebook_models import Course

    item = Course.get(f"C#{course_id}", "#META")
    item.update(actions=[Course.lms_origin.set(origin)])


def no_session_cookie(page: Any) -> bool:
    return not [c for c in page.context.cookies() if c["name"] == "pb_session"]


def test_instructor_launch_marks_and_release_grades_inside_the_lms_iframe(
    stack: Any, lms: Any, page: Any, tmp_path: Path
) -> None:
    demo = play_demo(stack, lms)
    course = course_of(demo["bio-101"].gradebook_url)
    # The LMS is another site than the tool, and the browser blocks third-party cookies (conftest):
    # the session must live in the page.
    lms_site = cross_site(lms.base_url)
    serve_lms_from(course, lms_site)
    open_html(page, lms_site, lms_course_page(lms, stack.base_url, "bio-101", "bio-home"))
    page.get_by_role("button", name="Open Passback").click()
    frame = page.frame_locator('iframe[name="tool"]')
    expect(frame.get_by_role("heading", level=1)).to_contain_text("Biology 101")
    table = frame.get_by_role("table", name="Grades and their sync status")
    expect(table).to_be_visible()
    assert no_session_cookie(page)  # a third-party cookie: blocked

    # Synced, not released, no target, LMS error: each a visible mark in words, its message on hover and on demand.
    synced = cell(frame, "Ada Lovelace", 0)
    expect(synced).to_contain_text("92")
    expect(synced).to_contain_text("synced")
    expect(synced).to_contain_text("92 %")  # a percentage, with its sign
    sent = re.compile(r"^Synced: the LMS has 92 %, acknowledged \d{4}-\d\d-\d\d \d\d:\d\d UTC\.$")
    expect(synced.locator("summary")).to_have_attribute("title", sent)

    not_released = cell(frame, "Ada Lovelace", 1)
    expect(not_released).to_contain_text("not released")
    expect(not_released).to_contain_text("release to send")
    expect(not_released.locator("summary")).to_have_attribute(
        "title", "Not released: release the activity's grades to send them."
    )

    no_target = cell(frame, "Edsger Dijkstra", 0)
    expect(no_target).to_contain_text("no target")
    message = no_target.get_by_text("this student must open this link once from the LMS")
    expect(message).to_be_hidden()
    no_target.locator("summary").click()
    expect(message).to_be_visible()

    lms_error = cell(frame, "Barbara Liskov", 0)
    expect(lms_error).to_contain_text("LMS error")
    expect(lms_error.locator("summary")).to_have_attribute(
        "title",
        f"The LMS answered: HTTP 403: {LMS_ERROR_BODY}. "
        + (
            "Passback does not retry this by itself. Usually the LMS's administrators can correct it; once they have, "
            "click Try again."
        ),
    )
    # By keyboard: focus the mark, Enter opens it, the LMS's words and the button are there.
    lms_error.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(lms_error.locator("details > p", has_text=LMS_ERROR_BODY)).to_be_visible()
    expect(lms_error.get_by_role("button", name="Try again")).to_be_visible()

    # The screenshot for docs/gradebook.md, of this very page (the no-target and LMS-error marks open).
    gradebook_screenshot(page, demo["bio-101"].gradebook_url, tmp_path / "gradebook.png")

    # Third-party cookies blocked: the session travels in the page's forms, so the actions still work.
    # Release Grades asks once, saying how many grades leave.
    assert "bio-quiz-2" not in lms.gradebook()["bio-101"]["ada"]
    frame.get_by_role("button", name="Release Grades for Quiz 2: Genetics").click()
    expect(frame.get_by_role("heading", name="Release the grades of Quiz 2: Genetics?")).to_be_visible()
    expect(frame.get_by_text("This sends 5 grades of Quiz 2: Genetics to the LMS")).to_be_visible()
    save_shot(page.frame(name="tool"), "gradebook-confirm-release.png", tmp_path)
    frame.get_by_role("button", name="Release and send 5 grades").click()
    expect(frame.get_by_role("status")).to_contain_text("Release requested")
    expect(cell(frame, "Ada Lovelace", 1)).to_contain_text("not released")  # the release job has not run yet
    stack.drain()
    received = lms.gradebook()["bio-101"]
    assert {u: received[u].get("bio-quiz-2") for u in ("ada", "alan", "barbara", "edsger", "katherine")} == {
        "ada": 81.0,
        "alan": 74.0,
        "barbara": 90.0,
        "edsger": 69.0,
        "katherine": 100.0,
    }
    # Live: the column turns synced, and its Release Grades button goes, without a reload.
    expect(cell(frame, "Ada Lovelace", 1)).to_contain_text("synced")
    expect(cell(frame, "Katherine Johnson", 1)).to_contain_text("synced")
    expect(frame.get_by_role("button", name="Release Grades for Quiz 2: Genetics")).to_have_count(0)
    expect(frame.locator("#live")).to_contain_text("updated")  # said politely to screen readers
    save_shot(page.frame(name="tool"), "gradebook-live-released.png", tmp_path)
    tool = page.frame(name="tool")
    assert tool is not None
    assert course in tool.url
    assert "s=" not in tool.url  # never a session in the URL


def save_shot(scope: Any, name: str, tmp_path: Path, **options: Any) -> None:
    """A screenshot of a page or frame for docs/gradebook.md (written there with PASSBACK_UPDATE_SCREENSHOT=1)."""
    assert scope is not None
    shot = tmp_path / name
    target = scope.locator("main") if hasattr(scope, "parent_frame") else scope
    target.screenshot(path=str(shot), **options)
    if UPDATE_SCREENSHOT:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT.parent / name)


def gradebook_screenshot(page: Any, url: str, path: Path) -> None:
    shot = page.context.new_page()
    shot.set_viewport_size({"width": 1240, "height": 1700})  # tall enough for the whole table
    shot.goto(url)
    for learner in ("Edsger Dijkstra", "Barbara Liskov"):
        cell(shot, learner, 0).locator("summary").click()
    box = shot.locator(".scroll").bounding_box()
    assert box is not None
    shot.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": 1240, "height": box["y"] + box["height"] + 16})
    if UPDATE_SCREENSHOT:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOT)
    shot.close()


def test_try_again_after_the_lms_recovers_shows_synced_without_a_reload(
    stack: Any, lms: Any, clock: Any, page: Any, tmp_path: Path
) -> None:
    demo = play_demo(stack, lms)
    url = demo["chem-110"].gradebook_url
    lms.faults.fail(status=500, target="score")
    clock.advance(seconds=1)  # the new attempt is newer than the demo's (the test clock stands still)
    stack.send_messages([score({"issuer": lms.issuer, "user_id": "marie"}, "chem-lab-1", 2, 96.0, utcnow())])
    stack.drain()
    page.goto(url)
    lab = cell(page, "Marie Curie", 0)
    expect(lab).to_contain_text("96")
    expect(lab).to_contain_text("retrying")
    expect(lab.locator("summary")).to_have_attribute("title", re.compile(re.escape("HTTP 500: injected failure")))
    assert lms.gradebook()["chem-110"]["marie"]["chem-lab"] == 95.0  # the LMS still has the old grade
    # Every step is in the cell's details: the attempts (when, what was sent, the LMS's answer), the last yes.
    lab.locator("summary").click()
    expect(lab.locator(".hist li").first).to_contain_text("sent 96 %, retryable (HTTP 500: injected failure)")
    expect(lab.get_by_text("LMS acknowledged")).to_be_visible()
    expect(lab).to_contain_text("95 %")  # what the LMS last acknowledged
    save_shot(lab, "gradebook-cell-details.png", tmp_path)

    lms.faults.clear()
    lab.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("status")).to_contain_text("Trying again")
    stack.drain()
    assert lms.gradebook()["chem-110"]["marie"]["chem-lab"] == 96.0
    expect(cell(page, "Marie Curie", 0)).to_contain_text("synced")  # no reload: the page updated itself
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_students_forged_forms_and_strange_frames_are_refused(stack: Any, lms: Any, page: Any) -> None:
    demo = play_demo(stack, lms)
    url = demo["bio-101"].gradebook_url
    course = course_of(url)
    gradebook = f"{stack.base_url}/gradebook/{course}"
    # A student's session (genuinely signed, for this course) cannot load the page...
    student = forge_session(course, role="learner")
    response = page.goto(f"{gradebook}?t={session.ticket(container.tool_keys(), student, now=utcnow())}")
    assert response is not None
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    # ...nor act, even with the CSRF value of its own session.
    forged = (
        '<!doctype html><form method="post" action="{action}">'
        '<input type="hidden" name="s" value="{token}"><input type="hidden" name="csrf" value="{csrf}">'
        '<input type="hidden" name="activity" value="bio-quiz-genetics"><button>Go</button></form>'
    )
    # Another site: the emulator's server under another name (localhost is not 127.0.0.1 to a browser).
    evil = lms.base_url.replace("127.0.0.1", "localhost")
    open_html(page, evil, forged.format(action=f"{gradebook}/release", token=student.token, csrf=student.csrf))
    with page.expect_navigation():
        page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    # A forged form from another site with the instructor's session but without the page's CSRF value: refused.
    open_html(page, evil, forged.format(action=f"{gradebook}/release", token=token_of(url), csrf=""))
    with page.expect_navigation():
        page.get_by_role("button", name="Go").click()
    expect(page.get_by_text("did not come from the gradebook page")).to_be_visible()
    stack.drain()
    assert "bio-quiz-2" not in lms.gradebook()["bio-101"]["ada"]  # nothing was released
    # Another site cannot frame the page (frame-ancestors names only the course's LMS).
    # (a fresh one-time URL, so only the framing rule can stop it)
    fresh = f"{gradebook}?t={session.ticket(container.tool_keys(), verified(url), now=utcnow())}"
    open_html(page, evil, f'<!doctype html><iframe name="x" src="{html.escape(fresh)}"></iframe>')
    page.wait_for_timeout(500)
    framed = page.frame(name="x")
    assert framed is not None
    assert "Biology 101" not in framed.content()


def test_a_copied_gradebook_url_opened_in_a_fresh_browser_context_can_neither_read_nor_act(
    stack: Any, lms: Any, page: Any, fresh_context: Any
) -> None:
    demo = play_demo(stack, lms)
    url = demo["bio-101"].gradebook_url
    page.goto(url)
    expect(cell(page, "Ada Lovelace", 0)).to_contain_text("synced")
    # The instructor acts; the page they land on has a URL too (say, pasted into a support ticket).
    cell(page, "Barbara Liskov", 0).locator("summary").click()
    cell(page, "Barbara Liskov", 0).get_by_role("button", name="Try again").click()
    expect(page.get_by_role("status")).to_contain_text("Trying again")
    copied = [url, page.url]
    assert all("s=" not in u for u in copied)
    other = fresh_context.new_page()
    for address in copied:
        response = other.goto(address)
        assert response is not None
        assert response.status == 403
        expect(other.get_by_text("open the gradebook from your LMS")).to_be_visible()
        assert "Barbara Liskov" not in other.content()
        assert other.get_by_role("button").count() == 0  # nothing to act with
    # Nor can the other browser act: the instructor's forms need the session the page holds.
    gradebook = f"{stack.base_url}/gradebook/{course_of(url)}"
    open_html(
        other,
        stack.base_url,
        f'<!doctype html><form method="post" action="{gradebook}/release">'
        '<input type="hidden" name="activity" value="bio-quiz-genetics"><button>Go</button></form>',
    )
    with other.expect_navigation():
        other.get_by_role("button", name="Go").click()
    expect(other.get_by_role("heading", name="Not allowed")).to_be_visible()
    stack.drain()
    assert "bio-quiz-2" not in lms.gradebook()["bio-101"]["ada"]  # nothing was released
    # The instructor's own browser still reads it (its cookie: first-party here).
    page.reload()
    expect(cell(page, "Ada Lovelace", 0)).to_contain_text("synced")
