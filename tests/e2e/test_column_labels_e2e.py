"""A renamed activity against a real `passback serve`: its LMS column follows, unless the LMS refuses PUT."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import requests

from conftest import Served, wait_for
from passback.emulator import LmsEmulator

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]
CONTEXT = f"labels-{RUN}"
QUIZ = f"cells-{RUN}"


@pytest.fixture(scope="module")
def lms(served: Served) -> Iterator[tuple[LmsEmulator, str]]:
    with LmsEmulator(mode="canvas") as emulator:
        client_id = f"passback-labels-{RUN}"
        base = served.base_url
        config = emulator.register_tool(
            client_id,
            login_url=f"{base}/lti13/login",
            launch_url=f"{base}/lti13/launch",
            jwks_url=f"{base}/.well-known/jwks.json",
            deployment_ids=["deployment-1"],
        )
        served.cli(
            "platforms", "add",
            "--issuer", config["issuer"],
            "--client-id", client_id,
            "--deployment-id", "deployment-1",
            "--login-url", config["login_url"],
            "--token-url", config["token_url"],
            "--jwks-url", config["jwks_url"],
            "--name", "Labels LMS",
        )  # fmt: skip
        yield emulator, client_id


def test_a_renamed_activity_renames_its_lms_column_and_a_refusing_lms_is_asked_once(
    served: Served, lms: tuple[LmsEmulator, str]
) -> None:
    emulator, client_id = lms
    served.cli("activities", "put", "--id", QUIZ, "--title", "Cell biology quiz")
    emulator.add_course(CONTEXT, "Biology 101")
    emulator.add_user("teacher", name="Tess Teacher", email=f"tess-{RUN}@example.edu", roles=["instructor"])
    emulator.enroll(CONTEXT, "teacher", "instructor")
    done = emulator.deep_link(requests.Session(), client_id, "teacher", CONTEXT, [QUIZ])
    assert done.status_code == 200, done.text[:300]
    [link] = emulator.links(CONTEXT)
    launched = emulator.lti13_launch(requests.Session(), client_id, "teacher", CONTEXT, link["resource_link_id"])
    assert launched.status_code == 303

    def label() -> str:
        [item] = emulator.line_items(CONTEXT)
        return str(item["label"])

    assert label() == "Cell biology quiz"
    served.cli("activities", "put", "--id", QUIZ, "--title", "Cells and membranes")
    wait_for(lambda: label() == "Cells and membranes", timeout=40, what="the new column label")

    # An LMS that does not let tools rename columns: one refused PUT, recorded, then nothing more.
    emulator.refuse_line_item_put(405)
    emulator.reset_counters()
    served.cli("activities", "put", "--id", QUIZ, "--title", "Cells, revised")
    wait_for(lambda: emulator.counters.get("lineitem_update_refused") == 1, timeout=40, what="the refused PUT")
    listed = wait_for(
        lambda: (out := served.cli("platforms", "list").stdout) and "refuses column label changes" in out and out,
        timeout=20,
        what="the refusal on the platform",
    )
    assert "HTTP 405" in listed
    served.cli("activities", "put", "--id", QUIZ, "--title", "Cells, revised again")
    served.cli("activities", "put", "--id", QUIZ, "--title", "Cells, final")
    time.sleep(3)  # not a timing assertion: room for a storm to show, were there one
    assert emulator.counters.get("lineitem_update_refused") == 1
    assert emulator.counters.get("lineitem_get", 0) == 1  # the one read before the refused PUT
    assert label() == "Cells and membranes"
