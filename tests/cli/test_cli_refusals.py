"""The CLI refuses nonsense: each mistake ends in one line that says what to type, exit status 2
(1 when the environment failed), no traceback, and nothing stored or queued."""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passback import container
from passback.cli import main, parser

UNKNOWN_COURSE = "c" + "a" * 20


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as exit_:  # argparse's usage errors
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def assert_refused(result: tuple[int, str, str], status: int, *fragments: str) -> None:
    code, _, err = result
    assert code == status, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.startswith("(acting on")]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def queued(aws: dict[str, str], name: str) -> int:
    from passback import aws as aws_clients

    sqs = aws_clients.sqs()
    url = aws[name]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return sum(int(found.get(k, "0")) for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"))


GOOD_PLATFORM = {
    "--issuer": "https://lms.example.edu",
    "--client-id": "10000000000001",
    "--deployment-id": "1:abc",
    "--login-url": "https://lms.example.edu/auth",
    "--token-url": "https://lms.example.edu/token",
    "--jwks-url": "https://lms.example.edu/jwks",
}


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--issuer", "not-a-url", "is not a URL"),
        ("--login-url", "ftp://x", "is not a URL"),
        ("--token-url", "http://insecure.example.edu/token", "is not https"),
        ("--jwks-url", "y", "is not a URL"),
        ("--client-id", "", "client id is empty"),
        ("--deployment-id", "has space", "not a valid deployment id"),
    ],
)
def test_platforms_add_refuses_a_bad_url_or_id_and_registers_nothing(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], option: str, value: str, says: str
) -> None:
    argv = [part for key, good in GOOD_PLATFORM.items() for part in (key, value if key == option else good)]
    assert_refused(run(capsys, "platforms", "add", *argv), 2, option, says, "--help")
    assert container.platforms().list_all() == []


def test_platforms_add_accepts_http_on_loopback_for_a_local_lms(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    local = {k: v.replace("https://lms.example.edu", "http://127.0.0.1:9001") for k, v in GOOD_PLATFORM.items()}
    status, out, _ = run(capsys, "platforms", "add", *[p for kv in local.items() for p in kv])
    assert status == 0
    assert "Registered http://127.0.0.1:9001" in out
    assert len(container.platforms().list_all()) == 1


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--id", "", "--title", "Quiz"], "activity id is empty"),
        (["--id", "quiz-1", "--title", ""], "title is empty"),
        (["--id", "quiz 1", "--title", "Quiz"], "no spaces"),
        (["--id", "quiz-1", "--title", "Quiz", "--min-questions", "-5"], "from 1 to 10000"),
        (["--id", "quiz-1", "--title", "Quiz", "--min-questions", "three"], "not a whole number"),
        (["--id", "quiz-1", "--title", "Quiz", "--product-url", "product"], "is not a URL"),
    ],
)
def test_activities_put_refuses_empty_ids_titles_and_out_of_range_numbers(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert_refused(run(capsys, "activities", "put", *argv), 2, says)
    assert container.catalog().list_all() == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["release", "--course", "nope", "--activity", "quiz-1"], "not a course id"),
        (["release", "--course", "Biology 101", "--activity", "quiz-1"], "passback courses find Biology 101"),
        (["release", "--course", UNKNOWN_COURSE, "--activity", "quiz-1"], f"no course {UNKNOWN_COURSE}"),
        (["resync", "--course", UNKNOWN_COURSE], "no course"),
        (["resync", "--course", UNKNOWN_COURSE, "--learner", "ada"], "not a learner id"),
        (["policy", "set", "--course", UNKNOWN_COURSE, "--policy", "manual"], "no course"),
        (["gau", "set", "--course", UNKNOWN_COURSE, "--activity", "quiz-1", "--clear"], "no course"),
        (["roster", "zero-fill", "--course", UNKNOWN_COURSE, "off"], "no course"),
        (["roster", "zero-fill", "--course", UNKNOWN_COURSE, "maybe"], "invalid choice"),
    ],
)
def test_course_verbs_refuse_a_missing_course_before_queueing_anything(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert_refused(run(capsys, *argv), 2, says)
    assert queued(aws, "PASSBACK_RELEASE_QUEUE_URL") == 0
    assert queued(aws, "PASSBACK_RELEASE_DLQ_URL") == 0


def test_release_refuses_an_activity_the_course_does_not_have(
    stack: Any, lms: Any, aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from stack_harness import activity

    course_id = launched_course(stack, lms, aws)
    stack.send_messages([activity("quiz-2", "Quiz 2")])
    stack.drain()
    assert_refused(run(capsys, "release", "--course", course_id, "--activity", "quiz-2"), 2, "not assigned", "quiz-1")
    assert queued(aws, "PASSBACK_RELEASE_QUEUE_URL") == 0
    status, out, _ = run(capsys, "release", "--course", course_id, "--activity", "quiz-1")
    assert status == 0
    assert "release queued" in out


def launched_course(stack: Any, lms: Any, aws: dict[str, str]) -> str:
    """An LTI 1.3 course 'Biology 101' (context bio-101:fall) with the activity quiz-1, opened by an instructor."""
    from stack_harness import activity

    stack.register_lti13(lms)
    stack.send_messages([activity("quiz-1", "Quiz 1")])
    stack.drain()
    lms.add_course("bio-101:fall", "Biology 101")
    lms.add_user("grace", name="Grace Hopper", email="grace@example.edu", roles=["instructor"])
    lms.add_user("ada", name="Ada Lovelace", email="ada@example.edu")
    lms.enroll("bio-101:fall", "grace", "instructor")
    lms.enroll("bio-101:fall", "ada", "student")
    lms.add_link("bio-101:fall", "quiz-link", title="Quiz 1", custom={"activity_id": "quiz-1"})
    response = stack.launch13(lms, "grace", "bio-101:fall", "quiz-link")
    assert response.status_code in (200, 302, 303), response.text[:300]
    stack.launch13(lms, "ada", "bio-101:fall", "quiz-link")
    stack.drain()
    platform = container.platforms().list_all()[0].platform_id
    return container.courses().list_for_platform(platform)[0]


def test_courses_list_refuses_an_unknown_platform(aws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(run(capsys, "courses", "list", "--platform-id", "nope"), 2, "not a platform id")
    assert_refused(run(capsys, "courses", "list", "--platform-id", "p" + "b" * 12), 2, "no platform", "platforms list")


def test_consumers_add_refuses_an_existing_key_and_keeps_its_secret(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "consumers", "add", "--key", "moodle-1", "--secret", "first-secret")[0] == 0
    assert_refused(
        run(capsys, "consumers", "add", "--key", "moodle-1", "--secret", "second"), 2, "already exists", "--rotate"
    )
    assert container.consumers().secret("moodle-1") == "first-secret"
    assert_refused(run(capsys, "consumers", "add", "--key", "", "--secret", "x"), 2, "consumer key is empty")
    assert_refused(run(capsys, "consumers", "add", "--key", "new", "--rotate-secret"), 2, "no consumer key new")


def test_a_consumer_rotation_accepts_both_secrets_until_the_grace_period_ends(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import timedelta

    from passback.clock import utcnow

    run(capsys, "consumers", "add", "--key", "moodle-1", "--secret", "old-secret")
    status, out, _ = run(
        capsys,
        "consumers",
        "add",
        "--key",
        "moodle-1",
        "--secret",
        "new-secret",
        "--rotate-secret",
        "--grace-hours",
        "2",
    )
    assert status == 0
    assert "accepted too until" in out
    repo = container.consumers()
    now = utcnow()
    assert repo.secrets("moodle-1", now) == ["new-secret", "old-secret"]
    assert repo.secrets("moodle-1", now + timedelta(hours=2, seconds=1)) == ["new-secret"]
    assert "previous secret valid until" in run(capsys, "consumers", "list")[1]


def test_an_lti11_launch_and_an_outcome_signed_with_the_previous_secret_work_during_the_grace_period(
    stack: Any, lms: Any, aws: dict[str, str], capsys: pytest.CaptureFixture[str], clock: Any
) -> None:
    from stack_harness import CONSUMER_KEY, CONSUMER_SECRET, activity, score

    stack.register_lti11(lms)  # the LMS keeps signing with CONSUMER_SECRET
    status, _, err = run(capsys, "consumers", "add", "--key", CONSUMER_KEY, "--secret", "rotated", "--rotate-secret")
    assert status == 0, err
    container.reset()
    stack.send_messages([activity("quiz-1", "Quiz 1")])
    stack.drain()
    lms.add_course("hist-1", "History")
    lms.add_user("ada", name="Ada Lovelace", email="ada@example.edu")
    lms.enroll("hist-1", "ada", "student")
    lms.add_link("hist-1", "quiz-link", title="Quiz 1", custom={"activity_id": "quiz-1"})
    response = stack.launch11(lms, "ada", "hist-1", "quiz-link", custom={"activity_id": "quiz-1"})
    assert response.status_code in (200, 302, 303), response.text[:300]
    stack.drain()
    learner = {"consumer_key": CONSUMER_KEY, "user_id": "ada"}
    stack.send_messages([score(learner, "quiz-1", 5, 80.0, clock.now)])
    stack.drain()
    assert lms.gradebook()["hist-1"]["ada"]["quiz-link"] == pytest.approx(80.0)
    assert CONSUMER_SECRET != "rotated"


def test_a_course_title_where_an_id_goes_is_refused_with_how_to_find_the_id(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert_refused(
        run(capsys, "policy", "set", "--course", "Biology 101", "--policy", "manual"),
        2,
        "not a course id",
        "courses find",
    )


def test_a_stack_without_a_region_is_refused_with_the_option_to_add(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "PASSBACK_GRADEBOOK_TABLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    assert_refused(run(capsys, "--stack", "prod", "platforms", "list"), 2, "needs a region", "--region")


def test_an_unknown_profile_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):  # the CLI sets them: undone after the test
        monkeypatch.setenv(name, "placeholder")
    assert_refused(
        run(capsys, "--stack", "prod", "--profile", "nobody", "--region", "eu-west-1", "platforms", "list"),
        1,
        "nobody",
        "--profile",
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_endpoint_is_one_line_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "PASSBACK_GRADEBOOK_TABLE": "passback-local-gradebook",
    }.items():
        monkeypatch.setenv(name, value)
    assert_refused(run(capsys, "activities", "list"), 1, "cannot reach", "passback serve")


def test_debug_shows_the_traceback(aws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exception, match="no course"):
        main(["--debug", "release", "--course", UNKNOWN_COURSE, "--activity", "quiz-1"])


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("verb", ["serve", "demo"])
def test_serve_and_demo_on_a_busy_port_say_so_and_start_nothing(
    verb: str, busy_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = children()
    state = tmp_path / "state.json"
    result = run(capsys, "--state-file", str(state), verb, "--port", str(busy_port))
    assert_refused(result, 2, f"port {busy_port}", "is in use", "--port 0")
    assert children() <= before, "a moto server child was left running"
    assert not state.exists()


def children() -> set[int]:
    """This process's live children (Linux /proc), to see that no moto server was left behind."""
    import os

    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def test_a_busy_aws_port_is_refused_before_the_moto_server_starts(
    busy_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run(capsys, "--state-file", str(tmp_path / "s.json"), "serve", "--port", "0", "--aws-port", str(busy_port))
    assert_refused(result, 2, f"port {busy_port}", "--aws-port")


def test_score_message_errors_name_fields_not_library_internals(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    messages = tmp_path / "scores.jsonl"
    messages.write_text(
        '{"type": "activity", "message_id": "m1", "activity_id": "a", "title": "t", "product_url": "x"}\n'
    )
    code, _, err = run(capsys, "scores", "send", str(messages))
    assert code == 2
    assert "product_url: must be an absolute http(s) URL" in err
    for internal in ("ProductEnvelope", "pydantic", "errors.pydantic.dev", "Traceback"):
        assert internal not in err
    assert queued(aws, "PASSBACK_SCORE_QUEUE_URL") == 0


def test_every_option_of_every_verb_has_help_text() -> None:
    missing: list[str] = []

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(parser(), "passback")
    assert missing == []


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["platforms", "list"], "no LTI 1.3 platforms registered yet"),
        (["consumers", "list"], "no LTI 1.1 consumers yet"),
        (["activities", "list"], "no activities in the catalog yet"),
        (["merges", "list"], "no merge requests"),
        (["courses", "find", "biology"], "no course matches 'biology'"),
        (["learners", "find", "ada@example.edu"], "no learner matches"),
        (["deadletters", "list"], "(empty)"),
    ],
)
def test_empty_lists_say_so(
    aws: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    status, out, _ = run(capsys, *argv)
    assert status == 0
    assert says in out


def test_cli_output_carries_no_log_lines(aws: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "activities", "put", "--id", "quiz-1", "--title", "Quiz 1")
    assert status == 0
    assert out == "quiz-1: Quiz 1 (grade registers at 1 questions)\n"


def test_a_launch_signed_with_a_secret_rotated_by_another_process_is_accepted_without_waiting_for_the_cache(
    stack: Any, lms: Any, aws: dict[str, str], clock: Any
) -> None:
    """The operator rotates from a laptop (another process) and the LMS admin pastes the new secret
    at once: a warm container, whose copy of the secrets is minutes old, still takes the launch."""
    from datetime import UTC, datetime, timedelta

    from passback.data.platforms import ConsumerRepository
    from passback.data.secret_store import SecretDocument
    from stack_harness import activity

    key = "rotating-lms"
    stack.register_lti11(lms, key=key, secret="before-rotation")
    stack.send_messages([activity("quiz-1", "Quiz 1")])
    stack.drain()
    lms.add_course("hist-1", "History")
    lms.add_user("ada", name="Ada Lovelace", email="ada@example.edu")
    lms.enroll("hist-1", "ada", "student")
    lms.add_link("hist-1", "quiz-link", title="Quiz 1", custom={"activity_id": "quiz-1"})
    warm = stack.launch11(lms, "ada", "hist-1", "quiz-link", custom={"activity_id": "quiz-1"}, key=key)
    assert warm.status_code in (200, 302, 303), warm.text[:300]  # this container now holds the secrets

    elsewhere = ConsumerRepository(SecretDocument(container.consumers()._secrets.secret_id))
    elsewhere.rotate(consumer_key=key, secret="after-rotation", now=datetime.now(UTC), grace=timedelta(hours=1))
    lms.register_tool(  # the LMS now signs with the new one (its admin pasted it)
        f"lti11-{key}",
        login_url=f"{stack.base_url}/lti13/login",
        launch_url=f"{stack.base_url}/lti13/launch",
        jwks_url=f"{stack.base_url}/.well-known/jwks.json",
        deployment_ids=["unused"],
        lti11_consumer_key=key,
        lti11_secret="after-rotation",
    )
    container.consumers()._secrets._loaded_at = time.monotonic() - 60  # read a minute ago: still cached
    assert "after-rotation" not in container.consumers().secrets(key, datetime.now(UTC))

    rotated = stack.launch11(lms, "ada", "hist-1", "quiz-link", custom={"activity_id": "quiz-1"}, key=key)
    assert rotated.status_code in (200, 302, 303), rotated.text[:300]
