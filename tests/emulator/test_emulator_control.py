"""The control API and `EmulatorClient`, against `python -m passback.emulator` in a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

import jwt
import pytest
import requests
from emulator_testkit import (
    CLIENT_ID,
    CONSUMER_KEY,
    COURSE,
    LINK,
    STUDENT,
    FakeTool,
    request_token,
    seed,
)

from passback.emulator import EmulatorClient, EmulatorError, EmulatorProcess, LmsEmulator
from passback.emulator.ags import SCORE_TYPE
from passback.emulator.claims import LTI


@pytest.fixture(scope="module")
def process() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(mode="canvas") as proc:
        yield proc


@pytest.fixture
def client(process: EmulatorProcess, fake_tool: FakeTool) -> EmulatorClient:
    assert process.client is not None
    client = process.client
    client.faults.clear()
    seed(client, fake_tool)  # re-registering and re-seeding is idempotent
    client.reset_counters()
    return client


def test_main_prints_its_config_as_one_json_line_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "passback.emulator", "--port", "0", "--mode", "moodle"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        config = json.loads(proc.stdout.readline())
        assert config["mode"] == "moodle"
        assert config["base_url"].startswith("http://127.0.0.1:")
        assert config["issuer"] == config["base_url"]
        assert config["token_url"] == config["base_url"] + "/token"
        assert requests.get(config["jwks_url"], timeout=5).json()["keys"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=60)


def test_full_scenario_through_the_control_api(client: EmulatorClient, fake_tool: FakeTool) -> None:
    assert client.platform_config(CLIENT_ID)["token_url"] == client.token_url

    response = client.lti13_launch(requests.Session(), CLIENT_ID, STUDENT, COURSE, LINK)
    assert response.status_code == 200
    id_token = fake_tool.launches[-1].id_token
    key = jwt.PyJWKSet.from_dict(requests.get(client.jwks_url, timeout=5).json())[
        jwt.get_unverified_header(id_token)["kid"]
    ]
    claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=CLIENT_ID, issuer=client.issuer)
    line_item_url = claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"]["lineitem"]
    assert claims[LTI + "custom"] == {"activity_id": "quiz-1"}

    token = request_token(client, fake_tool)
    score = {
        "userId": STUDENT,
        "scoreGiven": 9,
        "scoreMaximum": 10,
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
        "timestamp": datetime.now(UTC).isoformat(),
    }
    headers = {"Authorization": f"Bearer {token}", "Content-Type": SCORE_TYPE}
    client.faults.fail(500, count=1, target="score")
    assert requests.post(line_item_url + "/scores", json=score, headers=headers, timeout=5).status_code == 500
    assert requests.post(line_item_url + "/scores", json=score, headers=headers, timeout=5).status_code == 200

    latest = [s for s in client.scores(COURSE) if s["line_item_url"] == line_item_url]
    assert latest[-1]["score_given"] == 9
    assert client.gradebook()[COURSE][STUDENT][LINK] == 90.0
    counters = client.counters
    assert (counters["score"], counters["faults_injected"], counters["auth"]) == (2, 1, 1)
    assert client.max_concurrent("score") == 1
    assert [r.status for r in client.requests if r.path.endswith("/scores")] == [500, 200]


def test_client_mirrors_the_hostile_building_blocks(client: EmulatorClient) -> None:
    claims = client.base_claims(CLIENT_ID, STUDENT, COURSE, LINK, nonce="n-1")
    assert claims["nonce"] == "n-1"
    unsigned = client.sign_id_token(claims, alg="none")
    assert unsigned.endswith(".")
    confused = client.sign_id_token(claims, alg="HS256", key=client.public_key_pem())
    assert jwt.get_unverified_header(confused)["alg"] == "HS256"
    old_kid = jwt.get_unverified_header(client.sign_id_token(claims))["kid"]
    new_kid = client.rotate_key(keep_old=True)
    kids = [k["kid"] for k in requests.get(client.jwks_url, timeout=5).json()["keys"]]
    assert old_kid in kids
    assert new_kid in kids


def test_lti11_params_through_the_client(client: EmulatorClient, fake_tool: FakeTool) -> None:
    params = client.lti11_launch_params(CONSUMER_KEY, fake_tool.lti11_url, STUDENT, COURSE, LINK)
    assert params["lis_outcome_service_url"] == client.outcomes_url
    assert params["oauth_consumer_key"] == CONSUMER_KEY


def test_control_errors_are_reported(client: EmulatorClient) -> None:
    with pytest.raises(EmulatorError, match="no link"):
        client.lti13_login_params(CLIENT_ID, STUDENT, COURSE, "missing-link")
    with pytest.raises(EmulatorError, match="target"):
        client.faults.fail(target="everything")
    with pytest.raises(EmulatorError, match="unexpected keyword"):
        client.call("add_course", context_id="c", title="t", colour="red")
    with pytest.raises(EmulatorError):
        client.call("no_such_action")


def test_in_process_and_remote_share_one_interface(emu: LmsEmulator, client: EmulatorClient) -> None:
    public = {name for name in dir(emu) if not name.startswith("_")}
    remote = {name for name in dir(client) if not name.startswith("_")}
    wanted = {
        "register_tool",
        "platform_config",
        "add_course",
        "add_user",
        "enroll",
        "drop",
        "add_link",
        "lti13_login_params",
        "lti13_launch",
        "start_login",
        "base_claims",
        "sign_id_token",
        "rotate_key",
        "lti11_launch_params",
        "lti11_launch",
        "scores",
        "score_history",
        "gradebook",
        "counters",
        "requests",
        "reset_counters",
        "max_concurrent",
        "faults",
    }
    assert wanted <= public
    assert wanted <= remote
