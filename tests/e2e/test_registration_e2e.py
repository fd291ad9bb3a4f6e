"""LTI Dynamic Registration against a real `passback serve`: the operator's invite from the CLI, the
LMS emulator (in this process) as the platform, then a launch with nothing registered by hand."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from conftest import Served
from passback.emulator import LmsEmulator
from passback.emulator.browser import parse_page

pytestmark = pytest.mark.e2e

RUN = uuid.uuid4().hex[:8]


def test_an_invite_from_the_cli_registers_an_lms_in_one_url_and_a_launch_then_works(served: Served) -> None:
    printed = served.cli("platforms", "invite", "--name", f"e2e {RUN}").stdout
    found = re.search(r"(http\S+/lti13/register\?invite=\S+)", printed)
    assert found, printed
    with LmsEmulator(mode="moodle") as lms:
        window = requests.get(lms.registration_url(found.group(1)), timeout=30)
        assert window.status_code == 200, window.text[:800]
        form = parse_page(window.text).forms[0]
        done = requests.post(form.action, data=dict(form.fields), timeout=30)
        assert done.status_code == 200, done.text[:800]
        assert "org.imsglobal.lti.close" in done.text
        listed = served.cli("platforms", "list").stdout
        [line] = [line for line in listed.splitlines() if lms.issuer in line]
        client_id = re.search(r"client=(\S+)", line)
        assert client_id, line
        assert f"deployments=dep-{client_id.group(1)}" in line

        lms.add_course(f"ctx-{RUN}", "Chemistry 101")
        lms.add_user("teacher", name="Tess Teacher", email=f"tess-{RUN}@example.edu", roles=["instructor"])
        lms.enroll(f"ctx-{RUN}", "teacher", "instructor")
        lms.add_link(f"ctx-{RUN}", "home", title="Passback")
        launched = lms.lti13_launch(requests.Session(), client_id.group(1), "teacher", f"ctx-{RUN}", "home", timeout=60)
        assert launched.status_code == 303, launched.text[:800]

        again = requests.get(lms.registration_url(found.group(1)), timeout=30)
        assert again.status_code == 403  # the invite worked once
