"""The local stack keeps its data: `passback serve` killed with SIGKILL while scores stream in comes
back with the platform, the course and its learners, and every score the queue accepted reaches
the LMS (the latest accepted value of each learner is what the LMS holds)."""

from __future__ import annotations

import json
import signal
import socket
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import Served, start_serve, stop_serve, wait_for
from passback.emulator import LmsEmulator

pytestmark = pytest.mark.e2e

STUDENTS = ("s1", "s2", "s3", "s4", "s5")
CONTEXT = "restart-101"
LINK = "quiz-link"
MESSAGES = 200
KILL_AFTER = 80


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def set_up(served: Served, lms: LmsEmulator) -> None:
    base = served.base_url
    config = lms.register_tool(
        "restart-tool",
        login_url=f"{base}/lti13/login",
        launch_url=f"{base}/lti13/launch",
        jwks_url=f"{base}/.well-known/jwks.json",
        deployment_ids=["d1"],
    )
    served.cli(
        "platforms", "add", "--issuer", config["issuer"], "--client-id", "restart-tool", "--deployment-id", "d1",
        "--login-url", config["login_url"], "--token-url", config["token_url"], "--jwks-url", config["jwks_url"],
    )  # fmt: skip
    served.cli("activities", "put", "--id", "quiz-r", "--title", "Restart quiz")
    lms.add_course(CONTEXT, "Restart 101")
    lms.add_user("teacher", name="Tess Teacher", email="tess@example.edu", roles=["instructor"])
    lms.enroll(CONTEXT, "teacher", "instructor")
    lms.add_link(CONTEXT, LINK, title="Restart quiz", custom={"activity_id": "quiz-r"})
    for user in ("teacher", *STUDENTS):
        if user != "teacher":
            lms.add_user(user, name=f"Student {user}", email=f"{user}@example.edu")
            lms.enroll(CONTEXT, user, "student")
        # A generous timeout: the first launches on a loaded machine are slow, and this test is not about them.
        response = lms.lti13_launch(requests.Session(), "restart-tool", user, CONTEXT, LINK, timeout=60)
        assert response.status_code in (200, 303), response.text[:300]


def stream(served: Served, issuer: str, accepted: dict[str, float], kill: threading.Event) -> None:
    """Send scores one by one until the stack stops answering; `accepted` holds, per learner, the
    latest value the queue acknowledged. Sets `kill` after KILL_AFTER messages."""
    sqs = served.client("sqs")
    url = served.info["queues"]["ScoreQueue"]
    start = datetime.now(UTC)
    for i in range(MESSAGES):
        user, value = STUDENTS[i % len(STUDENTS)], float((i * 7) % 101)
        body = {
            "type": "score",
            "message_id": uuid.uuid4().hex,
            "learner": {"issuer": issuer, "user_id": user},
            "activity_id": "quiz-r",
            "answered": 3,
            "score": value,
            "occurred_at": (start + timedelta(milliseconds=i)).isoformat(),
        }
        try:
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
        except Exception:  # the stack was killed: this one and the rest were never accepted
            return
        accepted[user] = value
        if i + 1 == KILL_AFTER:
            kill.set()


@pytest.mark.timeout(900)
def test_serve_killed_mid_stream_comes_back_with_its_data_and_every_accepted_score_arrives(tmp_path: Path) -> None:
    port = str(free_port())  # the same API port after the restart: the LMS has the tool's URLs
    extra = ("--port", port, "--schedule-seconds", "2")
    served = start_serve(tmp_path, *extra)
    with LmsEmulator(mode="canvas") as lms:
        set_up(served, lms)
        accepted: dict[str, float] = {}
        kill = threading.Event()
        sender = threading.Thread(target=stream, args=(served, lms.issuer, accepted, kill))
        sender.start()
        assert kill.wait(120), "the scores did not go out"
        served.process.send_signal(signal.SIGKILL)
        served.process.wait(timeout=60)
        sender.join(timeout=60)
        assert len(accepted) == len(STUDENTS)
        held_at_kill = lms.gradebook().get(CONTEXT, {})
        owed = [u for u, value in accepted.items() if held_at_kill.get(u, {}).get(LINK) != value]
        assert owed, "everything had arrived before the kill: the restart had nothing to prove"
        served.state_file.unlink()  # what a crash leaves behind; start_serve waits for a new one

        again = start_serve(tmp_path, *extra)
        try:
            platforms = again.cli("platforms", "list").stdout
            assert "restart-tool" in platforms
            found = again.cli("courses", "find", "restart").stdout
            assert "Restart 101" in found
            assert "quiz-r" in again.cli("activities", "list").stdout
            assert "s3@example.edu" in again.cli("learners", "find", "s3@example.edu").stdout

            def arrived() -> bool:
                held: dict[str, Any] = lms.gradebook().get(CONTEXT, {})
                return all(held.get(user, {}).get(LINK) == value for user, value in accepted.items())

            try:
                wait_for(arrived, timeout=120, interval=0.5, what="every learner's latest accepted score")
            except AssertionError:
                held = lms.gradebook().get(CONTEXT, {})
                table = again.info["tables"]["GradebookTable"]
                items = again.client("dynamodb").scan(TableName=table)["Items"]  # diagnosis only
                cells = [
                    {k: next(iter(v.values())) for k, v in i.items() if k not in ("history",)}
                    for i in items
                    if i["sk"]["S"].startswith(("X#", "P#", "E#"))
                ]
                raise AssertionError(f"accepted {accepted}, the LMS holds {held}; items: {cells}") from None
        finally:
            stop_serve(again)


def test_fresh_starts_with_no_data(tmp_path: Path) -> None:
    served = start_serve(tmp_path)
    served.cli("activities", "put", "--id", "kept", "--title", "Kept")
    assert stop_serve(served) == 0
    again = start_serve(tmp_path)
    try:
        assert "kept" in again.cli("activities", "list").stdout
    finally:
        stop_serve(again)
    fresh = start_serve(tmp_path, "--fresh")
    try:
        assert "no activities in the catalog yet" in fresh.cli("activities", "list").stdout
    finally:
        stop_serve(fresh)
