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
from urllib.parse import parse_qs

import jwt
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
} else if ($action === 'accept-grades-always') {
    // The tool's Privacy > "Accept grades from the tool": Always (the kit saves "Delegate to teacher").
    [$typeid] = $args;
    $DB->set_field('lti_types_config', 'value', (string)LTI_SETTING_ALWAYS,
        ['typeid' => $typeid, 'name' => 'acceptgrades']);
    echo json_encode(lti_get_type_config($typeid)['acceptgrades']);
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
        // A column the tool made through AGS (POST line items) is a 'manual' grade item tied to the link;
        // the newest whose grade item still exists (deleting the grade item leaves its row here).
        $gbs = null;
        $tools = null;
        foreach ($DB->get_records('ltiservice_gradebookservices', ['ltilinkid' => $lti->id], 'id DESC') as $row) {
            $found = $row->gradeitemid ? grade_item::fetch(['id' => $row->gradeitemid]) : false;
            if ($gbs === null || ($found && !$tools)) {
                $gbs = $row;
                $tools = $found ?: null;
            }
        }
        $out[] = ['cmid' => (int)$cm->id, 'instance' => (int)$lti->id, 'name' => $lti->name,
            'typeid' => (int)$lti->typeid, 'toolurl' => $lti->toolurl, 'custom' => $lti->instructorcustomparameters,
            'grademax' => $gi ? (float)$gi->grademax : null, 'column_name' => $gi ? $gi->itemname : null,
            'resourceid' => $gbs ? $gbs->resourceid : null, 'tag' => $gbs ? $gbs->tag : null,
            'tool_column' => $tools ? ['id' => (int)$tools->id, 'itemtype' => $tools->itemtype,
                'grademax' => (float)$tools->grademax, 'label' => $tools->itemname] : null];
    }
    echo json_encode($out);
} else if ($action === 'grade') {
    [$courseid, $instance, $userid] = $args;
    $grades = grade_get_grades($courseid, 'mod', 'lti', $instance, [$userid]);
    $item = $grades->items[0] ?? null;
    $grade = $item ? ($item->grades[$userid]->grade ?? null) : null;
    echo json_encode($grade === null ? null : (float)$grade);
} else if ($action === 'deep-link-response') {
    // What contentitem_return.php does with the posted JWT (before its login and sesskey checks).
    [$typeid, $jwt] = $args;
    try {
        $params = lti_convert_from_jwt($typeid, $jwt);
        echo json_encode(lti_tool_configuration_from_content_item($typeid, $params['lti_message_type'] ?? '',
            $params['lti_version'] ?? '', $params['oauth_consumer_key'] ?? '', $params['content_items'] ?? ''));
    } catch (Exception $e) {
        echo json_encode(['refused' => $e->getMessage()]);
    }
} else if ($action === 'delete-column') {
    // The teacher deleting a grade item in Gradebook setup.
    [$itemid] = $args;
    echo json_encode(grade_item::fetch(['id' => $itemid])->delete('gradebook'));
} else if ($action === 'column-grade') {
    [$itemid, $userid] = $args;
    $grade = grade_grade::fetch(['itemid' => $itemid, 'userid' => $userid]);
    echo json_encode($grade && $grade->finalgrade !== null ? (float)$grade->finalgrade : null);
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
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
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
    # Moodle's roster names roles "Learner" and "Instructor" (not the spec's URIs): the teacher stays staff.
    assert enrolled[str(users["teacher"]["id"])].role == "instructor"
    assert {e.role for i, e in enrolled.items() if i in ids.values()} == {"learner"}
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
    # Two members a page, so Moodle's paging (`Link: <...?limit=2&from=2>; rel="next"`) is followed.
    monkeypatch.setattr("passback.lms.roster.PAGE_SIZE", 2)
    capsys.readouterr()
    assert cli_main(["roster", "sync", "--course", cid]) == 0
    assert "3 members in 2 page(s)" in capsys.readouterr().out  # the teacher and students 1 and 2
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
    sue = container.cells().for_learner(cid, after[ids["student3"]].learner_id)
    assert [c.status for c in sue.values()] == ["user not in course"]
    assert all(a.status is None for c in sue.values() for a in c.history)  # recorded before any POST
    assert moodle.grade(mid, link["instance"], users["student1"]["id"]) == pytest.approx(6.0)

    # The teacher's gradebook (the page the launch lands on) says so.
    again = browser_launch(users["teacher"], link["cmid"], tmp_path / "teacher-again")
    page = Path(again["html"]).read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr><th scope="row" id="r-(\w+)">(.*?)</tr>', page)}
    by_user = {lms: rows.get(e.learner_id, "") for lms, e in after.items()}
    assert "never opened Passback" in by_user[ids["student2"]], page[:2000]
    assert "user not in course" in by_user[ids["student3"]]
    assert "never opened Passback" not in by_user[ids["student1"]]


def select_content_in_moodle(
    teacher: dict[str, Any], course: int, typeid: int, pick: list[str], tool_base: str, shots: Path
) -> dict[str, Any]:
    """The teacher's "Add an activity > Passback > Select content" in headless Chromium: Moodle's own
    form opens Passback's picker in its dialogue (contentitem.php), the picker's answer goes to
    contentitem_return.php, Moodle's script fills the form, and "Save and return to course" saves it.
    Returns what the picker posted to Moodle and what Moodle answered."""
    from playwright.sync_api import Route, sync_playwright
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    seen: dict[str, Any] = {}

    def record_return(route: Route) -> None:
        seen["posted"] = route.request.post_data or ""
        answer = route.fetch()
        seen["status"], seen["answer"] = answer.status, answer.text()
        route.fulfill(response=answer)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.route("**/mod/lti/contentitem_return.php*", record_return)
            page.goto(f"{MOODLE_URL}/login/index.php")
            page.fill("#username", teacher["username"])
            page.fill("#password", teacher["password"])
            page.click("#loginbtn")
            page.wait_for_load_state("domcontentloaded")
            page.goto(f"{MOODLE_URL}/course/modedit.php?add=lti&course={course}&section=1&return=0&typeid={typeid}")
            page.click("#id_selectcontent")
            picker = None
            for _ in range(120):
                picker = next((f for f in page.frames if f.url.startswith(f"{tool_base}/lti13/")), None)
                if picker is not None and picker.query_selector("button[value=add]") is not None:
                    break
                page.wait_for_timeout(250)
            assert picker is not None, [f.url for f in page.frames]
            seen["picker_text"] = picker.inner_text("body")
            for choice in pick:  # an activity id, or "home" for the homepage link
                picker.check("#home" if choice == "home" else f'input[value="a:{choice}"]')
            picker.click("button[value=add]")
            # One item fills the form; several make Moodle's script post the form once per item on save.
            filled = (
                "document.querySelector('#id_submitbutton2').onclick !== null || "
                "document.querySelector('#id_selectcontentindicator').innerText.trim().length > 0"
            )
            try:
                page.wait_for_function(filled)
            except PlaywrightTimeout:
                page.screenshot(path=str(shots / "refused.png"), full_page=True)
                errors = re.findall(r'class="errormessage">(.*?)</', seen.get("answer", ""))
                said = errors or seen.get("answer", "")[:500]
                raise AssertionError(f"Moodle did not take the selection: {said}") from None
            seen["form_name"] = page.input_value("#id_name")
            page.screenshot(path=str(shots / "form.png"), full_page=True)
            page.click("#id_submitbutton2")
            page.wait_for_url("**/course/view.php*")
        finally:
            browser.close()
    return seen


def test_moodles_select_content_deep_links_an_activity_whose_column_gets_the_students_grade(
    stack: Stack, tmp_path: Path
) -> None:
    script = tmp_path / "moodle_advantage.php"
    script.write_text(PHP)
    moodle = Moodle(script)
    run = uuid.uuid4().hex[:6]
    chosen = f"genetics-{run}"
    out = moodle.provision(stack.base_url, run, "quiz-1")
    register(out)
    stack.send_messages([activity("quiz-1", "Quiz 1"), activity(chosen, f"Genetics quiz {run}", 2)])
    stack.drain()
    typeid, mid = int(out["deployment_id"]), out["course_id"]
    assert moodle.do("deep-linking-on", str(typeid)) == "1"

    teacher, student = out["users"]["teacher"], out["users"]["student1"]
    seen = select_content_in_moodle(teacher, mid, typeid, [chosen], stack.base_url, tmp_path)
    assert f"Genetics quiz {run}" in seen["picker_text"]  # the picker ran in Moodle's dialogue, for the teacher

    # What Passback posted: a signed LtiDeepLinkingResponse, iss the client id, aud Moodle (the issuer).
    token = parse_qs(seen["posted"])["JWT"][0]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == out["client_id"]
    assert claims["aud"] in (MOODLE_URL, [MOODLE_URL])
    assert claims[DL + "message_type"] == "LtiDeepLinkingResponse"
    assert claims[DL + "deployment_id"] == out["deployment_id"]
    # Moodle accepted it: it verified the signature against Passback's JWKS and handed the item to its form.
    assert seen["status"] == 200
    assert "Successfully fetched tool configuration from the selected content" in seen["answer"]
    item = returned_item(seen["answer"])
    assert item["instructorcustomparameters"] == f"activity_id={chosen}"
    assert item["toolurl"] == f"{stack.base_url}/lti13/launch"
    assert (item["grade_modgrade_point"], item["lineitemresourceid"], item["lineitemtag"]) == (100, chosen, "passback")
    assert seen["form_name"] == f"Genetics quiz {run}"

    # Saved by Moodle's own form: the activity names the Passback activity, its grade item is out of 100.
    [made] = [link for link in moodle.do("links", str(mid)) if link["custom"] == f"activity_id={chosen}"]
    assert (made["typeid"], made["grademax"]) == (typeid, 100.0)
    assert (made["resourceid"], made["tag"]) == (chosen, "passback")

    # A student opens it and her grade reaches the column Moodle made for it.
    opened = browser_launch(student, made["cmid"], tmp_path / "student")
    assert "/lti13/launch" in json.dumps(opened["requests"]), opened
    stack.drain()
    worked = datetime.now(UTC) - timedelta(seconds=5)
    stack.send_messages([score({"issuer": MOODLE_URL, "user_id": str(student["id"])}, chosen, 3, 75.0, worked)])
    stack.drain()
    assert moodle.grade(mid, made["instance"], student["id"]) == pytest.approx(75.0)


def recreate_column_in_moodle(teacher: dict[str, Any], cmid: int, tool_base: str) -> tuple[str, str]:
    """The teacher opens the activity in Moodle (Passback's gradebook in Moodle's iframe), opens the
    "LMS column deleted" mark and presses Recreate column. Returns the frame's text before and after."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{MOODLE_URL}/login/index.php")
            page.fill("#username", teacher["username"])
            page.fill("#password", teacher["password"])
            page.click("#loginbtn")
            page.wait_for_load_state("domcontentloaded")
            page.goto(f"{MOODLE_URL}/mod/lti/view.php?id={cmid}")
            frame = page.frame_locator("#contentframe")
            button = frame.locator('button[formaction$="/recreate-column"]').first
            button.wait_for(state="attached")
            before = frame.locator("body").inner_text()
            frame.locator('details:has(button[formaction$="/recreate-column"]) summary').first.click()
            button.click()
            frame.locator("body").filter(has_not_text="Recreate column").wait_for()
            after = frame.locator("body").inner_text()
            assert all(f.url.startswith((tool_base, MOODLE_URL, "about:")) for f in page.frames)
        finally:
            browser.close()
    return before, after


DL = "https://purl.imsglobal.org/spec/lti/claim/"


def returned_item(page: str) -> dict[str, Any]:
    """The item data contentitem_return.php hands to the activity form (its `mod_lti/contentitem_return` init)."""
    start = page.index("mod_lti/contentitem_return")
    start = page.index("amd.init(", start) + len("amd.init(")
    data, _ = json.JSONDecoder().raw_decode(page[start:])
    return dict(data)


def test_moodle_takes_several_deep_linked_items_and_passback_makes_the_homepage_links_column(
    stack: Stack, tmp_path: Path
) -> None:
    """Moodle accepts multiple items (accept_multiple): two activities and the homepage link in one
    selection become three activities. The homepage link has no Moodle grade item (no lineItem);
    its first launch carries only the line items URL, and Passback makes its column through AGS."""
    script = tmp_path / "moodle_advantage.php"
    script.write_text(PHP)
    moodle = Moodle(script)
    run = uuid.uuid4().hex[:6]
    cells, genes = f"cells-{run}", f"genes-{run}"
    out = moodle.provision(stack.base_url, run, "quiz-1")
    register(out)
    stack.send_messages([activity(cells, f"Cell quiz {run}"), activity(genes, f"Gene quiz {run}")])
    stack.drain()
    typeid, mid = int(out["deployment_id"]), out["course_id"]
    assert moodle.do("deep-linking-on", str(typeid)) == "1"
    teacher, student = out["users"]["teacher"], out["users"]["student1"]

    seen = select_content_in_moodle(teacher, mid, typeid, [cells, genes, "home"], stack.base_url, tmp_path)
    assert "Successfully fetched tool configuration from the selected content" in seen["answer"]
    items = returned_item(seen["answer"])["multiple"]
    custom = [i.get("instructorcustomparameters", "") for i in items]
    assert custom == [f"activity_id={cells}", f"activity_id={genes}", ""]  # the homepage link names no activity
    links = {link["custom"]: link for link in moodle.do("links", str(mid))}
    assert links[f"activity_id={cells}"]["grademax"] == 100.0
    assert links[f"activity_id={genes}"]["resourceid"] == genes
    home = links[""]
    assert home["grademax"] is None  # no lineItem, no Moodle grade item

    # The student opens the homepage link and one activity; Passback makes the homepage column in Moodle.
    for cmid, tag in ((home["cmid"], "home"), (links[f"activity_id={cells}"]["cmid"], "cells")):
        opened = browser_launch(student, cmid, tmp_path / tag)
        assert "/lti13/launch" in json.dumps(opened["requests"]), opened
    stack.drain()
    worked = datetime.now(UTC) - timedelta(seconds=5)
    stack.send_messages([score({"issuer": MOODLE_URL, "user_id": str(student["id"])}, cells, 3, 80.0, worked)])
    stack.drain()
    after = {link["custom"]: link for link in moodle.do("links", str(mid))}
    assert moodle.grade(mid, after[f"activity_id={cells}"]["instance"], student["id"]) == pytest.approx(80.0)
    column = after[""]["tool_column"]
    assert (column["itemtype"], column["grademax"]) == ("manual", 100.0), column
    assert moodle.do("column-grade", str(column["id"]), str(student["id"])) == pytest.approx(80.0)

    # The product renames an activity: Moodle takes the new label on the column deep linking made (PUT).
    stack.send_messages([activity(cells, f"Cell biology quiz {run}")])
    stack.drain()
    renamed = {link["custom"]: link for link in moodle.do("links", str(mid))}
    assert renamed[f"activity_id={cells}"]["column_name"] == f"Cell biology quiz {run}"
    assert renamed[f"activity_id={genes}"]["column_name"] == f"Gene quiz {run}"

    # The teacher deletes the homepage column in Moodle's gradebook: Moodle answers the next grade with 404,
    # Passback shows "LMS column deleted", and its Recreate column button makes a new one the grade reaches.
    assert moodle.do("delete-column", str(column["id"])) is True
    later = datetime.now(UTC) - timedelta(seconds=1)
    stack.send_messages([score({"issuer": MOODLE_URL, "user_id": str(student["id"])}, cells, 4, 90.0, later)])
    stack.drain()
    cid = course_id(platform_key_lti13(MOODLE_URL), str(mid))
    course = container.courses().get(cid)
    assert course is not None
    [home_link] = [link for link in course.links.values() if link.resource_link_id == str(home["instance"])]
    assert home_link.column_deleted
    before, after_click = recreate_column_in_moodle(teacher, home["cmid"], stack.base_url)
    assert "LMS column deleted" in before
    assert "Recreate column" not in after_click
    stack.drain()
    made = {link["custom"]: link for link in moodle.do("links", str(mid))}[""]["tool_column"]
    assert made is not None
    assert made["id"] != column["id"]
    assert moodle.do("column-grade", str(made["id"]), str(student["id"])) == pytest.approx(90.0)


def test_moodle_takes_passbacks_jwts_when_passbacks_clock_runs_ahead_of_moodles(stack: Stack, tmp_path: Path) -> None:
    """Moodle checks `iat` with no leeway ("Cannot handle token with iat prior to ..."): Passback dates
    what it signs a little early, so a tool clock some seconds ahead of Moodle's still gets an access
    token (client assertion) and a deep-linking response accepted."""
    from passback.emulator.browser import parse_page
    from passback.lms.roster import NRPS_SCOPE
    from passback.lms.tokens import TokenEndpoint
    from passback.lti import deep_linking
    from passback.lti.deep_linking import Choice, DeepLinkingRequest

    script = tmp_path / "moodle_advantage.php"
    script.write_text(PHP)
    moodle = Moodle(script)
    out = moodle.provision(stack.base_url, uuid.uuid4().hex[:6], "quiz-1")
    register(out)
    ahead = datetime.now(UTC) + timedelta(seconds=20)

    endpoint = TokenEndpoint(platform_id="real-moodle", token_url=out["token_url"], client_id=out["client_id"])
    assert container.tokens().token(endpoint, (NRPS_SCOPE,), now=ahead)

    request = DeepLinkingRequest(
        issuer=MOODLE_URL,
        client_id=out["client_id"],
        deployment_id=out["deployment_id"],
        context_id=str(out["course_id"]),
        context_title=out["course_name"],
        user_id=str(out["users"]["teacher"]["id"]),
        roles=("http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor",),
        return_url=f"{MOODLE_URL}/mod/lti/contentitem_return.php?course={out['course_id']}&id={out['deployment_id']}",
        accept_multiple=True,
    )
    form = deep_linking.response_form(
        request, [Choice("quiz-1", "Quiz 1")], container.tool_keys(), f"{stack.base_url}/lti13/launch", ahead
    )
    taken = moodle.do("deep-link-response", out["deployment_id"], parse_page(form).forms[0].fields["JWT"])
    assert taken.get("instructorcustomparameters") == "activity_id=quiz-1", taken


def test_with_accept_grades_always_moodle_gives_the_deep_linked_homepage_link_its_own_column(
    stack: Stack, tmp_path: Path
) -> None:
    """ "Accept grades from the tool: Always": Moodle makes a 100-point grade item even for the homepage
    link (no lineItem); its launch carries that line item, and the course average reaches it."""
    script = tmp_path / "moodle_advantage.php"
    script.write_text(PHP)
    moodle = Moodle(script)
    run = uuid.uuid4().hex[:6]
    out = moodle.provision(stack.base_url, run, "quiz-1")
    register(out)
    stack.send_messages([activity("quiz-1", "Quiz 1")])
    stack.drain()
    typeid, mid = int(out["deployment_id"]), out["course_id"]
    assert moodle.do("deep-linking-on", str(typeid)) == "1"
    assert moodle.do("accept-grades-always", str(typeid)) == "1"
    teacher, student = out["users"]["teacher"], out["users"]["student1"]

    seen = select_content_in_moodle(teacher, mid, typeid, ["home"], stack.base_url, tmp_path)
    assert returned_item(seen["answer"])["grade_modgrade_point"] == 100
    home = {link["custom"]: link for link in moodle.do("links", str(mid))}[""]
    assert home["grademax"] == 100.0  # Moodle's own grade item for the link

    for cmid, tag in ((home["cmid"], "home"), (out["lti13"]["quiz-1"]["cmid"], "quiz")):
        opened = browser_launch(student, cmid, tmp_path / tag)
        assert "/lti13/launch" in json.dumps(opened["requests"]), opened
    stack.drain()
    worked = datetime.now(UTC) - timedelta(seconds=5)
    stack.send_messages([score({"issuer": MOODLE_URL, "user_id": str(student["id"])}, "quiz-1", 2, 60.0, worked)])
    stack.drain()
    assert moodle.grade(mid, out["lti13"]["quiz-1"]["instance"], student["id"]) == pytest.approx(6.0)
    assert moodle.grade(mid, home["instance"], student["id"]) == pytest.approx(60.0)  # the average, out of 100
    column = {link["custom"]: link for link in moodle.do("links", str(mid))}[""]["tool_column"]
    assert column is None or column["itemtype"] == "mod"  # Moodle's column; Passback made none of its own
