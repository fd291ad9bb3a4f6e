"""LTI Dynamic Registration against a real Moodle 5.1 (the kit in /work/shared/moodle, see its README).

Skipped unless that Moodle is running (`./start.sh`) and its tree is at MOODLE_ROOT (default
/tmp/passback-moodle/moodle) with `php` on the PATH. The registration token is made the way Moodle's
"Tool URL > Add LTI Advantage" page makes it (mod/lti/startltiadvregistration.php): a JWT signed with
the site's LTI key, `scope` "reg" for a new tool or "reg-update" with the type id for an update.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from passback import container
from passback.emulator.browser import parse_page
from stack_harness import Stack

MOODLE_URL = os.environ.get("MOODLE_URL", "http://127.0.0.1:8081")
# The kit's documented place (its env.sh: PBM_WORK), not a temporary file of ours.
MOODLE_ROOT = os.environ.get("MOODLE_ROOT", "/tmp/passback-moodle/moodle")  # noqa: S108

PHP = r"""<?php
define('CLI_SCRIPT', true);
require(getenv('MOODLE_ROOT') . '/config.php');
require_once($CFG->dirroot . '/mod/lti/locallib.php');
use Firebase\JWT\JWT;
use mod_lti\local\ltiopenid\jwks_helper;
use mod_lti\local\ltiopenid\registration_helper;
[$script, $action, $arg] = $argv;
if ($action === 'token') {
    $update = $arg !== 'new';
    $now = time();
    $scope = $update ? registration_helper::REG_TOKEN_OP_UPDATE_REG : registration_helper::REG_TOKEN_OP_NEW_REG;
    $token = ['sub' => $update ? $arg : registration_helper::get()->new_clientid(),
              'scope' => $scope, 'iat' => $now, 'exp' => $now + HOURSECS];
    $key = jwks_helper::get_private_key();
    echo JWT::encode($token, $key['key'], 'RS256', $key['kid']);
} else {
    $type = $DB->get_record('lti_types', ['clientid' => $arg], '*', MUST_EXIST);
    echo json_encode(['id' => $type->id, 'state' => $type->state, 'name' => $type->name,
                      'config' => lti_get_type_config($type->id)]);
}
"""


def moodle_running() -> bool:
    if not shutil.which("php") or not Path(MOODLE_ROOT, "config.php").exists():
        return False
    try:
        return requests.get(f"{MOODLE_URL}/mod/lti/openid-configuration.php", timeout=3).status_code == 200
    except requests.RequestException:
        return False


pytestmark = pytest.mark.skipif(not moodle_running(), reason="no real Moodle running (see /work/shared/moodle)")


def php(script: Path, *args: str) -> str:
    done = subprocess.run(
        ["php", str(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "MOODLE_ROOT": MOODLE_ROOT},
    )
    return done.stdout


def register_from_moodle(stack: Stack, script: Path, invite: str, token_for: str) -> requests.Response:
    """What Moodle's admin page does with the pasted Tool URL, then the admin's click in Passback's page."""
    window = requests.get(
        f"{stack.base_url}/lti13/register",
        params={
            "invite": invite,
            "openid_configuration": f"{MOODLE_URL}/mod/lti/openid-configuration.php",
            "registration_token": php(script, "token", token_for),
        },
        timeout=30,
    )
    assert window.status_code == 200, window.text[:800]
    form = parse_page(window.text).forms[0]
    return requests.post(form.action, data=dict(form.fields), timeout=60)


def test_a_real_moodle_accepts_passbacks_registration_and_an_update_changes_the_same_tool(
    stack: Stack, clock: Any, tmp_path: Path
) -> None:
    script = tmp_path / "moodle_registration.php"
    script.write_text(PHP)
    invite = container.registrations().invite(clock.now, valid_for=timedelta(hours=1))
    done = register_from_moodle(stack, script, invite, "new")
    assert done.status_code == 200, done.text[:800]
    [platform] = container.platforms().for_issuer(MOODLE_URL)
    assert platform.login_url == f"{MOODLE_URL}/mod/lti/auth.php"
    assert platform.token_url == f"{MOODLE_URL}/mod/lti/token.php"
    assert platform.jwks_url == f"{MOODLE_URL}/mod/lti/certs.php"

    tool = json.loads(php(script, "show", platform.client_id))
    assert container.platforms().deployments(MOODLE_URL, platform.client_id) == [str(tool["id"])]
    config = tool["config"]
    assert config["toolurl"] == f"{stack.base_url}/lti13/launch"
    assert config["initiatelogin"] == f"{stack.base_url}/lti13/login"
    assert config["publickeyset"] == f"{stack.base_url}/.well-known/jwks.json"
    assert config["ltiservice_gradesynchronization"] == "2"  # grade sync and column management
    assert config["ltiservice_memberships"] == "1"  # names and roles
    assert (config["sendname"], config["sendemailaddr"]) == ("1", "1")  # always
    assert config["contentitem"] == "1"  # deep linking

    second = container.registrations().invite(clock.now, valid_for=timedelta(hours=1))
    again = register_from_moodle(stack, script, second, str(tool["id"]))
    assert again.status_code == 200, again.text[:800]
    assert "is updated" in again.text
    assert [p.client_id for p in container.platforms().for_issuer(MOODLE_URL)] == [platform.client_id]


def test_a_real_moodle_course_moves_from_lti11_to_lti13_and_continues(stack: Stack, clock: Any, tmp_path: Path) -> None:
    """Moodle sends no lti1p1 claim but keeps its ids: its 1.1 tool is updated in place to 1.3 by
    Dynamic Registration, the operator ties the registration to the 1.1 consumer, and the same
    activity, course and student continue, the next grade by AGS into the same Moodle grade item."""
    import sys

    from passback.ids import course_id, platform_key_lti11
    from stack_harness import activity, score

    sys.path.insert(0, "/work/shared/moodle")
    from browser_launch import launch  # the kit's Playwright launcher

    run = uuid.uuid4().hex[:6]
    key, secret = f"moodle-{run}", f"secret-{uuid.uuid4().hex}"
    provision = Path("/work/shared/moodle/moodle_provision.php")
    out = json.loads(
        subprocess.run(
            ["php", str(provision), f"--passback={stack.base_url}", f"--run={run}", "--activities=quiz-1",
             f"--lti11key={key}", f"--lti11secret={secret}"],
            capture_output=True, text=True, timeout=120, check=True, env={**os.environ, "MOODLE_ROOT": MOODLE_ROOT},
        ).stdout
    )  # fmt: skip
    container.consumers().add(consumer_key=key, secret=secret, name="real Moodle (1.1)", now=clock.now)
    stack.send_messages([activity("quiz-1", "Quiz 1")])
    stack.drain()
    student = out["users"]["student1"]
    cmid, instance = out["lti11"]["cmid"], out["lti11"]["instance"]

    def open_activity(tag: str) -> dict[str, Any]:
        return launch(MOODLE_URL, student["username"], student["password"], cmid, str(tmp_path / tag))

    def moodle_grade() -> float | None:
        got = subprocess.run(
            ["php", "/work/shared/moodle/moodle_grades.php", f"--course={out['course_id']}", f"--instance={instance}",
             f"--users={student['id']}"],
            capture_output=True, text=True, timeout=60, check=True, env={**os.environ, "MOODLE_ROOT": MOODLE_ROOT},
        )  # fmt: skip
        grade = json.loads(got.stdout)["grades"][str(student["id"])]["grade"]
        return None if grade is None else float(grade)

    first = open_activity("lti11")
    assert "/lti11/launch" in json.dumps(first["requests"]), first
    cid = course_id(platform_key_lti11(key), str(out["course_id"]))
    assert container.courses().get(cid) is not None
    stack.drain()
    stack.send_messages([score({"consumer_key": key, "user_id": str(student["id"])}, "quiz-1", 1, 60.0, clock.now)])
    stack.drain()
    assert moodle_grade() == pytest.approx(6.0)  # 60 % of 10 points, by Basic Outcomes

    script = tmp_path / "moodle_registration.php"
    script.write_text(PHP)
    invite = container.registrations().invite(clock.now, valid_for=timedelta(hours=1))
    done = register_from_moodle(stack, script, invite, str(out["lti11"]["type_id"]))  # Moodle's in-place update
    assert done.status_code == 200, done.text[:800]
    [platform] = [p for p in container.platforms().for_issuer(MOODLE_URL) if p.client_id != out["client_id"]]
    container.platforms().set_legacy_consumer(MOODLE_URL, platform.client_id, key)  # platforms link-legacy

    second = open_activity("lti13")
    assert "/lti13/launch" in json.dumps(second["requests"]), second
    course = container.courses().get(cid)
    assert course is not None
    assert course.lti13_issuer == MOODLE_URL  # the same Passback course continues
    assert container.courses().get(course_id(f"lti13:{MOODLE_URL}", str(out["course_id"]))) is None
    stack.drain()
    # Moodle refuses an AGS score older than the grade it holds (409): the work happens now, after the
    # 1.1 grade Moodle stamped with its own clock while the browser launches ran.
    clock.now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    stack.send_messages([score({"consumer_key": key, "user_id": str(student["id"])}, "quiz-1", 2, 90.0, clock.now)])
    stack.drain()
    assert moodle_grade() == pytest.approx(9.0)  # by AGS, into the same grade item
