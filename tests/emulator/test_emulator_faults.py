"""Fault switches, request accounting and in-flight concurrency."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from emulator_testkit import CLIENT_ID, COURSE, LINK, STUDENT, FakeTool

from passback.emulator import LmsEmulator
from passback.emulator.ags import SCORE_TYPE

GetToken = Callable[..., str]


class Scorer:
    """Posts scores with strictly increasing timestamps, so only faults can refuse them."""

    def __init__(self, emu: LmsEmulator, token: str) -> None:
        url = emu.line_item_url(COURSE, LINK, CLIENT_ID)
        assert url is not None
        self.url = url + "/scores"
        self.token = token
        self._start = datetime.now(UTC)
        self._n = 0
        self._lock = threading.Lock()

    def post(self, timeout: float = 5) -> requests.Response:
        with self._lock:
            self._n += 1
            stamp = self._start + timedelta(seconds=self._n)
        body: dict[str, Any] = {
            "userId": STUDENT,
            "scoreGiven": 5,
            "scoreMaximum": 10,
            "activityProgress": "Completed",
            "gradingProgress": "FullyGraded",
            "timestamp": stamp.isoformat(),
        }
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": SCORE_TYPE}
        return requests.post(self.url, json=body, headers=headers, timeout=timeout)


@pytest.fixture
def scorer(emu: LmsEmulator, get_token: GetToken) -> Scorer:
    return Scorer(emu, get_token(emu))


def test_fail_with_a_count_then_recovers(emu: LmsEmulator, scorer: Scorer) -> None:
    emu.faults.fail(status=503, count=2, body="maintenance", target="score")
    first, second, third = scorer.post(), scorer.post(), scorer.post()
    assert (first.status_code, first.text) == (503, "maintenance")
    assert second.status_code == 503
    assert third.status_code == 200
    counters = emu.counters
    assert (counters["score"], counters["score_accepted"], counters["faults_injected"]) == (3, 1, 2)
    assert len(emu.scores()) == 1


def test_fail_until_cleared_and_targets_are_separate(
    emu: LmsEmulator, scorer: Scorer, fake_tool: FakeTool, get_token: GetToken
) -> None:
    emu.faults.fail(500, target="score")
    assert [scorer.post().status_code for _ in range(3)] == [500, 500, 500]
    get_token(emu)  # the token endpoint is not a "score" target
    emu.faults.clear()
    assert scorer.post().status_code == 200


def test_rate_limit_answers_429_with_retry_after(emu: LmsEmulator, scorer: Scorer, fake_tool: FakeTool) -> None:
    emu.faults.rate_limit(retry_after=7, count=1, target="all")
    limited = scorer.post()
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert scorer.post().status_code == 200


def test_token_endpoint_faults(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    emu.faults.fail(502, count=1, target="token")
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": fake_tool.client_assertion(emu.token_url),
        "scope": "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    }
    assert requests.post(emu.token_url, data=data, timeout=5).status_code == 502
    data["client_assertion"] = fake_tool.client_assertion(emu.token_url)
    assert requests.post(emu.token_url, data=data, timeout=5).status_code == 200
    assert emu.counters["token"] == 2


def test_hang_makes_the_client_time_out_and_the_request_still_lands(emu: LmsEmulator, scorer: Scorer) -> None:
    emu.faults.hang(0.6, count=1, target="score")
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        scorer.post(timeout=0.2)
    assert time.monotonic() - started < 0.5
    # Like a slow LMS, the hung request is processed once the hang is over.
    deadline = time.monotonic() + 3
    while not emu.scores() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(emu.scores()) == 1
    assert scorer.post().status_code == 200


def test_delay_adds_latency_to_every_answer(emu: LmsEmulator, scorer: Scorer) -> None:
    emu.faults.delay_ms(120, target="score")
    for _ in range(2):
        started = time.monotonic()
        assert scorer.post().status_code == 200
        assert time.monotonic() - started >= 0.12
    emu.faults.delay_ms(0, target="score")
    started = time.monotonic()
    scorer.post()
    assert time.monotonic() - started < 0.12


def test_max_concurrent_counts_parallel_score_requests(emu: LmsEmulator, scorer: Scorer) -> None:
    emu.reset_counters()  # forget the token request the fixture made
    emu.faults.delay_ms(250, target="score")
    threads = [threading.Thread(target=scorer.post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert emu.max_concurrent("score") == 4
    assert emu.max_concurrent("all") == 4
    assert emu.max_concurrent("token") == 0
    emu.reset_counters()
    assert emu.max_concurrent("score") == 0
    assert emu.counters["score"] == 0
    scorer.post()
    scorer.post()
    assert emu.max_concurrent("score") == 1


def test_every_request_is_recorded(emu: LmsEmulator, scorer: Scorer) -> None:
    emu.reset_counters()
    requests.get(emu.jwks_url, timeout=5)
    requests.get(f"{emu.base_url}/nowhere", timeout=5)
    scorer.post()
    records = emu.requests
    assert [(r.method, r.path.split("?")[0].rsplit("/", 1)[-1], r.status) for r in records] == [
        ("GET", "jwks", 200),
        ("GET", "nowhere", 404),
        ("POST", "scores", 200),
    ]
    assert all(records[i].time <= records[i + 1].time for i in range(len(records) - 1))
    assert emu.counters["requests"] == 3


def test_fault_arguments_are_validated(emu: LmsEmulator) -> None:
    with pytest.raises(ValueError, match="target"):
        emu.faults.fail(target="jwks")
    with pytest.raises(ValueError, match="status"):
        emu.faults.fail(status=42)
    with pytest.raises(ValueError, match="count"):
        emu.faults.rate_limit(count=0)
    with pytest.raises(ValueError, match="negative"):
        emu.faults.hang(-1)
    assert emu.faults.active() == []


def test_stop_cuts_a_hang_short(fake_tool: FakeTool) -> None:
    from emulator_testkit import request_token, seed

    with LmsEmulator() as emu:
        seed(emu, fake_tool)
        scorer = Scorer(emu, request_token(emu, fake_tool))
        emu.faults.hang(30, target="score")

        def post_quietly() -> None:
            with contextlib.suppress(requests.RequestException):
                scorer.post(timeout=5)

        worker = threading.Thread(target=post_quietly)
        worker.start()
        time.sleep(0.2)
        started = time.monotonic()
    assert time.monotonic() - started < 2
    worker.join(timeout=6)
