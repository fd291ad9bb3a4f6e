"""LTI Advantage against a real Moodle 5.1 (the kit in /work/shared/moodle, see its README): the
course roster (NRPS) and Deep Linking 2.0, as Moodle itself sends and accepts them.

Skipped unless that Moodle is running (`./start.sh`) with its tree at MOODLE_ROOT (default
/tmp/passback-moodle/moodle) and `php` on the PATH. The kit's `moodle_provision.php` registers
Passback as an LTI 1.3 tool (AGS column management, NRPS) in a new course with a teacher and two
students; the PHP below adds a third student, suspends an enrolment, turns on the tool type's
"Supports Deep Linking" and reads back what Moodle stored, all through Moodle's own API.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from passback import container
from passback.cli import main as cli_main
from passback.ids import course_id, platform_key_lti13
from stack_harness import Stack, activity, score

MOODLE_URL = os.environ.get("MOODLE_URL", "http://127.0.0.1:8081")
# The kit's documented place (its env.sh: PBM_WORK), not a temporary file of ours.
MOODLE_ROOT = os.environ.get("MOODLE_ROOT", "/tmp/passback-moodle/moodle")  # noqa: S108
KIT = Path(os.environ.get("PASSBACK_MOODLE_KIT", "/work/shared/moodle"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update"]

PHP = r"""<?php
define('CLI_SCRIPT', true);
require(getenv('MOODLE_ROOT') . '/config.php');
require_once($CFG->dirroot . '/mod/lti/locallib.php');
require_once($CFG->dirroot . '/user/lib.php');
require_once($CFG->libdir . '/gradelib.php');
$args = array_slice($argv, 1);
$action = array_shift($args);
\core\session\manager::set_user(get_admin());
if ($action === 'deep-linking-on') {
    // What "Supports Deep Linking (Content-Item Message)" saves on the tool's settings page.
    [$typeid] = $args;
    $row = $DB->get_record('lti_types_config', ['typeid' => $typeid, 'name' => 'contentitem']);
    if ($row) {
        $DB->set_field('lti_types_config', 'value', '1', ['id' => $row->id]);
    } else {
        $DB->insert_record('lti_types_config', (object)['typeid' => $typeid, 'name' => 'contentitem', 'value' => '1']);
    }
    echo json_encode(lti_get_type_config($typeid)['contentitem']);
} else if ($action === 'student') {
    [$courseid, $username] = $args;
    $u = (object)['username' => $username, 'password' => 'Passw0rd!-' . $username, 'firstname' => 'Sue',
        'lastname' => 'Spended', 'email' => "$username@example.edu", 'auth' => 'manual', 'confirmed' => 1,
        'mnethostid' => $CFG->mnet_localhost_id];
    $u->id = user_create_user($u, true, false);
    enrol_try_internal_enrol($courseid, $u->id, $DB->get_field('role', 'id', ['shortname' => 'student']));
    echo json_encode(['id' => (int)$u->id, 'username' => $username, 'password' => 'Passw0rd!-' . $username]);
} else if ($action === 'suspend') {
    // The teacher's "Edit enrolment > Status: Suspended" on the course's participants page.
    [$courseid, $userid] = $args;
    $instance = $DB->get_record('enrol', ['courseid' => $courseid, 'enrol' => 'manual'], '*', MUST_EXIST);
    enrol_get_plugin('manual')->update_user_enrol($instance, $userid, ENROL_USER_SUSPENDED);
    echo json_encode(is_enrolled(context_course::instance($courseid), $userid, '', true));
} else if ($action === 'links') {
    // Every External tool activity of the course, as Moodle stored it, with its grade item and the
    // line item facts (resourceId, tag) AGS column management keeps for it.
    [$courseid] = $args;
    $out = [];
    foreach ($DB->get_records('lti', ['course' => $courseid], 'id') as $lti) {
        $cm = get_coursemodule_from_instance('lti', $lti->id, $courseid, false, MUST_EXIST);
        $gi = grade_item::fetch(['itemtype' => 'mod', 'itemmodule' => 'lti', 'iteminstance' => $lti->id,
            'courseid' => $courseid, 'itemnumber' => 0]);
        $gbs = $DB->get_record('ltiservice_gradebookservices', ['ltilinkid' => $lti->id]);
        $out[] = ['cmid' => (int)$cm->id, 'instance' => (int)$lti->id, 'name' => $lti->name,
            'typeid' => (int)$lti->typeid, 'toolurl' => $lti->toolurl, 'custom' => $lti->instructorcustomparameters,
            'grademax' => $gi ? (float)$gi->grademax : null,
            'resourceid' => $gbs ? $gbs->resourceid : null, 'tag' => $gbs ? $gbs->tag : null];
    }
    echo json_encode($out);
} else if ($action === 'grade') {
    [$courseid, $instance, $userid] = $args;
    $grades = grade_get_grades($courseid, 'mod', 'lti', $instance, [$userid]);
    $item = $grades->items[0] ?? null;
    $grade = $item ? ($item->grades[$userid]->grade ?? null) : null;
    echo json_encode($grade === null ? null : (float)$grade);
}
"""


def moodle_running() -> bool:
    if not shutil.which("php") or not Path(MOODLE_ROOT, "config.php").exists() or not KIT.is_dir():
        return False
    try:
        return requests.get(f"{MOODLE_URL}/mod/lti/openid-configuration.php", timeout=3).status_code == 200
    except requests.RequestException:
        return False


pytestmark = pytest.mark.skipif(not moodle_running(), reason="no real Moodle running (see /work/shared/moodle)")


class Moodle:
    """The real Moodle through its own PHP API (the kit's scripts and the snippet above)."""

    def __init__(self, script: Path) -> None:
        self.script = script

    def php(self, script: Path, *args: str) -> Any:
        done = subprocess.run(
            ["php", str(script), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            env={**os.environ, "MOODLE_ROOT": MOODLE_ROOT},
        )
        return json.loads(done.stdout)

    def do(self, *args: str) -> Any:
        return self.php(self.script, *args)

    def provision(self, base_url: str, run: str, activities: str) -> dict[str, Any]:
        return dict(self.php(KIT / "moodle_provision.php", f"--passback={base_url}", f"--run={run}",
                             f"--activities={activities}"))  # fmt: skip

    def grade(self, course: int, instance: int, user: int) -> float | None:
        got = self.do("grade", str(course), str(instance), str(user))
        return None if got is None else float(got)


def register(out: dict[str, Any]) -> None:
    """The operator's `passback platforms add` with what Moodle's tool page shows."""
    container.platforms().add(
        issuer=out["issuer"],
        client_id=out["client_id"],
        deployment_ids=[out["deployment_id"]],
        login_url=out["auth_url"],
        token_url=out["token_url"],
        jwks_url=out["jwks_url"],
        name="real Moodle 5.1",
        token_audience=None,
        now=datetime.now(UTC),
    )


def browser_launch(user: dict[str, Any], cmid: int, prefix: Path) -> dict[str, Any]:
    sys.path.insert(0, str(KIT))
    from browser_launch import launch  # the kit's Playwright launcher: Moodle does the LTI work

    return dict(launch(MOODLE_URL, user["username"], user["password"], cmid, str(prefix)))


def test_moodles_roster_enrolls_the_learner_who_never_launched_and_excludes_the_suspended_one(
    stack: Stack, tmp_path: Path
) -> None:
    """NRPS from a real Moodle: the teacher's first launch reads the course's memberships; a student
    who never opened Passback is in the gradebook and gets the deadline zero through AGS; a
    suspended student (Moodle leaves them out of the roster) is "user not in course" and costs no POST."""
    script = tmp_path / "moodle_advantage.php"
    script.write_text(PHP)
    moodle = Moodle(script)
    run = uuid.uuid4().hex[:6]
    out = moodle.provision(stack.base_url, run, "quiz-1")
    register(out)
    stack.send_messages([activity("quiz-1", "Quiz 1")])
    stack.drain()
    users = out["users"]
    mid = out["course_id"]
    link = out["lti13"]["quiz-1"]
    leaver = moodle.do("student", str(mid), f"student3-{run}")

    # The teacher's first launch offers the roster (the NRPS claim); its read is a queued course job.
    first = browser_launch(users["teacher"], link["cmid"], tmp_path / "teacher")
    assert "/lti13/launch" in json.dumps(first["requests"]), first
    cid = course_id(platform_key_lti13(MOODLE_URL), str(mid))
    stack.drain()
    enrolled = {e.lms_user_id: e for e in container.enrollments().page(cid, None, 100)[0]}
    ids = {who: str(users[who]["id"]) for who in ("student1", "student2")} | {"student3": str(leaver["id"])}
    assert set(ids.values()) <= set(enrolled), enrolled
    assert all(enrolled[i].launched is False for i in ids.values())  # known from the roster only
    assert enrolled[ids["student2"]].email == users["student2"]["email"]  # Moodle shares name and email

    for who, user in (("student1", users["student1"]), ("student3", leaver)):
        opened = browser_launch(user, link["cmid"], tmp_path / who)
        assert "/lti13/launch" in json.dumps(opened["requests"]), opened
    stack.drain()
    issuer_learner = {"issuer": MOODLE_URL}
    worked = datetime.now(UTC) - timedelta(minutes=10)  # before the deadline set below
    stack.send_messages([score({**issuer_learner, "user_id": ids["student1"]}, "quiz-1", 2, 60.0, worked)])
    stack.drain()
    assert moodle.grade(mid, link["instance"], users["student1"]["id"]) == pytest.approx(6.0)  # 60 % of 10

    # Sue is suspended in Moodle: Moodle's roster leaves her out; `passback roster sync` marks her gone.
    assert moodle.do("suspend", str(mid), str(leaver["id"])) is False
    assert cli_main(["roster", "sync", "--course", cid]) == 0
    after = {e.lms_user_id: e for e in container.enrollments().page(cid, None, 100)[0]}
    assert after[ids["student3"]].in_course is False
    assert after[ids["student2"]].in_course is True
    assert after[ids["student2"]].launched is False

    # A past deadline: zeros for who has no grade. Student 2 (never launched) gets hers through AGS;
    # Sue, not in course, costs no POST (Moodle's gradebook has nothing for her).
    stack.send_messages([score({**issuer_learner, "user_id": ids["student3"]}, "quiz-1", 2, 40.0, worked)])
    past = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0).isoformat()
    assert cli_main(["gau", "set", "--course", cid, "--activity", "quiz-1", "--at", past, "--yes"]) == 0
    stack.sweep()
    stack.drain()
    assert moodle.grade(mid, link["instance"], users["student2"]["id"]) == pytest.approx(0.0)
    assert moodle.grade(mid, link["instance"], leaver["id"]) is None
    assert moodle.grade(mid, link["instance"], users["student1"]["id"]) == pytest.approx(6.0)

    # The teacher's gradebook (the page the launch lands on) says so.
    again = browser_launch(users["teacher"], link["cmid"], tmp_path / "teacher-again")
    page = Path(again["html"]).read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr><th scope="row" id="r-(\w+)">(.*?)</tr>', page)}
    by_user = {lms: rows.get(e.learner_id, "") for lms, e in after.items()}
    assert "never opened Passback" in by_user[ids["student2"]], page[:2000]
    assert "user not in course" in by_user[ids["student3"]]
    assert "never opened Passback" not in by_user[ids["student1"]]
