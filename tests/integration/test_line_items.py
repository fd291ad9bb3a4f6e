"""Line items Passback manages: found (paged) or created once, a deleted column shown and recreated."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import requests

from course_setup import lti13_course
from gradebook_kit import hidden_fields
from moto_atomic import atomic_dynamodb
from passback import container
from passback.lms.line_items import LineItemsClient
from passback.services.launch import LaunchFacts
from passback.services.line_items import LineItemService
from stack_harness import CLIENT_ID, Stack, score

CONTEXT = "bio-101"


class Gradebook:
    """The instructor's gradebook page, opened by a launch, and its actions."""

    def __init__(self, stack: Stack, lms: Any, link: str = "link-quiz-1") -> None:
        location = stack.launch13(lms, "teacher", CONTEXT, link).headers["Location"]
        self.url = location if location.startswith("http") else stack.base_url + location
        self.base = self.url.split("?", 1)[0]
        self.text = requests.get(self.url, timeout=30).text
        self.fields = hidden_fields(self.text)

    def act(self, action: str, **form: str) -> requests.Response:
        return requests.post(f"{self.base}/{action}", data={**self.fields, **form}, allow_redirects=False, timeout=30)


def homepage_items(lms: Any) -> list[dict[str, Any]]:
    return [item for item in lms.line_items(CONTEXT) if item["resourceLinkId"] == "home"]


def test_a_homepage_launch_with_only_the_container_creates_its_column_once(stack: Stack, lms: Any) -> None:
    course = lti13_course(stack, lms)
    lms.add_link(CONTEXT, "home", title="Biology homepage", line_item="container_only")
    stack.launch13(lms, "teacher", CONTEXT, "home")
    stack.launch13(lms, "sam", CONTEXT, "home")  # the second launch uses the stored column
    [item] = homepage_items(lms)
    assert item["scoreMaximum"] == 100
    assert item["tag"] == "passback"
    assert item["resourceId"] == "homepage"
    assert item["label"] == "Biology homepage (average)"
    link = next(link for link in course.record().links.values() if link.resource_link_id == "home")
    assert link.line_item_url is not None
    assert link.line_item_url.endswith(f"/line_items/{item['id']}")


def test_the_column_is_found_on_a_later_page_of_a_container_that_ignores_filters(stack: Stack, lms: Any) -> None:
    lti13_course(stack, lms)
    for n in range(230):
        lms.lms.state.create_line_item(
            CONTEXT, label=f"Other {n}", score_maximum=10, resource_link_id=None, resource_id=None, tag=None
        )
    lms.lms.state.create_line_item(
        CONTEXT, label="Home", score_maximum=100, resource_link_id="home", resource_id="homepage", tag="passback"
    )
    lms.lms.state.line_item_filters = False
    lms.add_link(CONTEXT, "home", title="Biology homepage", line_item="container_only")
    lms.reset_counters()
    stack.launch13(lms, "teacher", CONTEXT, "home")
    assert lms.counters.get("lineitem_create", 0) == 0
    assert lms.counters["lineitem_get"] >= 3  # 100 per page: the column is on the third
    assert len(homepage_items(lms)) == 1


class RacingClient(LineItemsClient):
    """Both launches look before either creates: the race the claim must settle."""

    def __init__(self, inner: LineItemsClient, barrier: threading.Barrier) -> None:
        super().__init__(inner._ags)
        self._barrier = barrier
        self._first = threading.local()

    def find(self, *args: Any, **kwargs: Any) -> str | None:
        found = super().find(*args, **kwargs)
        if not getattr(self._first, "done", False):
            self._first.done = True
            self._barrier.wait(timeout=60)
        return found


def test_two_racing_launches_create_one_column_and_both_get_it(stack: Stack, lms: Any) -> None:
    course = lti13_course(stack, lms, students=())
    lms.add_link(CONTEXT, "home", title="Biology homepage", line_item=False)
    stack.launch13(lms, "teacher", CONTEXT, "home")  # no AGS claim at all: the link exists, no column
    record = course.record()
    link = next(link for link in record.links.values() if link.resource_link_id == "home")
    assert link.line_item_url is None
    lms.lms.state.link(CONTEXT, "home").line_item_mode = "container_only"
    claims = lms.base_claims(CLIENT_ID, "teacher", CONTEXT, "home", nonce="n")
    ags = claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"]
    facts = LaunchFacts(
        lti_version="1.3",
        platform_key=record.platform_key,
        context_id=CONTEXT,
        context_title=None,
        context_label=None,
        resource_link_id="home",
        resource_link_title=None,
        user_id="teacher",
        roles=(),
        client_id=CLIENT_ID,
        line_items_url=ags["lineitems"],
        ags_scopes=tuple(ags["scope"]),
    )
    shared = container.line_items()
    racing = LineItemService(shared.courses, shared.lms, RacingClient(shared.client, threading.Barrier(2)))
    results: list[str | None] = []
    threads = [
        threading.Thread(target=lambda: results.append(racing.find_or_create(record, link, facts))) for _ in range(2)
    ]
    with atomic_dynamodb():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert len(homepage_items(lms)) == 1
    assert len(results) == 2
    assert results[0] == results[1] is not None


def test_a_deleted_column_is_shown_costs_one_post_and_is_recreated_from_the_gradebook(
    stack: Stack, lms: Any, clock: Any
) -> None:
    course = lti13_course(stack, lms, students=("sam", "ria"))
    stack.send_messages([score(course.ref("sam"), "quiz-1", 2, 80.0, clock.now)])
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 80.0
    lms.delete_line_item(CONTEXT, "link-quiz-1")
    lms.reset_counters()
    later = clock.now + timedelta(seconds=2)  # the product's clock; Passback's stays (sessions are signed on it)
    stack.send_messages([score(course.ref("sam"), "quiz-1", 3, 90.0, later)])
    stack.drain()
    assert lms.counters.get("score", 0) == 1  # the 404 that tells Passback the column is gone
    stack.send_messages([score(course.ref("ria"), "quiz-1", 2, 60.0, later)])
    stack.drain()
    assert lms.counters.get("score", 0) == 1  # the link is marked: no other cell POSTs to it
    assert course.cell("sam", "link-quiz-1").status == "LMS column deleted"
    assert course.cell("ria", "link-quiz-1").status == "LMS column deleted"
    stack.sweep()
    stack.drain()
    assert lms.counters.get("score", 0) == 1  # not retried blindly

    page = Gradebook(stack, lms)
    assert "LMS column deleted" in page.text
    assert "Recreate column" in page.text
    assert page.act("recreate-column", link=next(iter(course.record().links))).status_code == 303
    stack.drain()
    assert course.lms_grade("sam", "link-quiz-1") == 90.0
    assert course.lms_grade("ria", "link-quiz-1") == 60.0
    [item] = [i for i in lms.line_items(CONTEXT) if i["resourceLinkId"] == "link-quiz-1"]
    assert item["scoreMaximum"] == 100
    assert item["label"] == "Activity quiz-1"
    assert course.cell("sam", "link-quiz-1").status == "synced"
