"""`passback demo` as a newcomer runs it, and its gradebook in Chromium: a real process running the local
stack `passback serve` runs (queue pollers, schedule) and the demo's LMS emulator, driven only through HTTP."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@dataclass
class Demo:
    process: subprocess.Popen[str]
    biology_url: str
    lms_url: str
    banner: str

    def lms_gradebook(self) -> dict[str, Any]:
        state = requests.get(f"{self.lms_url}/_control/state", timeout=5).json()
        return dict(state["gradebook"])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PASSBACK_"))}
    state = tmp_path_factory.mktemp("demo") / "local.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "passback.cli", "--state-file", str(state), "demo", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C to stop" in line:
            break
    out = "".join(lines)
    try:
        urls = re.findall(r"http://127\.0\.0\.1:\d+/gradebook/\w+\?t=[\w.-]+", out)
        lms = re.search(r"the emulated LMS on (http://127\.0\.0\.1:\d+)", out)
        assert urls, out[-3000:]
        assert lms, out[-3000:]
        yield Demo(process=process, biology_url=urls[0], lms_url=lms.group(1), banner=out)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=60)
    # Ctrl-C stops the whole stack and cleans up after itself.
    assert process.returncode == 0
    assert not state.exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(urls[0], timeout=2)


def test_passback_demo_prints_the_tour_quietly(demo: Demo) -> None:
    out = demo.banner
    assert '"level"' not in out  # quiet unless --verbose: the banner is what a newcomer reads
    assert len(re.findall(r"http://127\.0\.0\.1:\d+/gradebook/\w+\?t=[\w.-]+", out)) == 3
    assert "Biology 101 (LTI 1.1):" in out
    assert "Chemistry 110 (LTI 1.3):" in out
    # The summary table of what the emulated LMS received.
    assert re.search(r"Ada Lovelace\s+96\s+92\s+-\s+100", out)
    assert re.search(r"Edsger Dijkstra\s+89\s+-\s+-\s+100", out)  # never opened Quiz 1's link
    assert re.search(r"Dmitri Mendeleev\s+88\s+88\s+-", out)  # LTI 1.3 reaches him anyway
    assert re.search(r"Linus Pauling\s+-\s+-\s+-", out)  # dropped
    assert "Physics 120 (LTI 1.3):" in out  # set up by deep linking


def eventually(condition: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def cell(scope: Any, learner: str, column: int) -> Any:
    return scope.locator("tbody tr", has=scope.locator("th", has_text=learner)).locator("td").nth(column)


def test_served_gradebook_shows_the_marks_releases_a_column_and_a_retry_reaches_the_lms(demo: Demo, page: Any) -> None:
    page.goto(demo.biology_url)
    expect(cell(page, "Ada Lovelace", 0)).to_contain_text("synced")
    expect(cell(page, "Ada Lovelace", 1)).to_contain_text("not released")
    expect(cell(page, "Edsger Dijkstra", 0)).to_contain_text("no target")
    barbara = cell(page, "Barbara Liskov", 0)
    expect(barbara).to_contain_text("LMS error")
    expect(barbara.locator("summary")).to_have_attribute("title", re.compile("HTTP 403"))
    assert "bio-quiz-2" not in demo.lms_gradebook()["bio-101"]["ada"]

    # Release Grades: the column reaches the LMS through the release queue, polled by the served stack.
    page.get_by_role("button", name="Release Grades for Quiz 2: Genetics").click()
    page.get_by_role("button", name="Release and send 5 grades").click()
    expect(page.get_by_role("status")).to_contain_text("Release requested")
    released = ("ada", "alan", "barbara", "edsger", "katherine")
    received = eventually(
        lambda: (
            all((book := demo.lms_gradebook()["bio-101"])[u].get("bio-quiz-2") is not None for u in released) and book
        ),
        "the released column in the LMS",
    )
    assert {u: received[u].get("bio-quiz-2") for u in released} == {
        "ada": 81.0,
        "alan": 74.0,
        "barbara": 90.0,
        "edsger": 69.0,
        "katherine": 100.0,
    }
    assert "bio-quiz-2" not in received["tim"]  # one question answered of the three required

    # The LMS has since unlocked the column: Try again sends Barbara's grade.
    assert "bio-quiz-1" not in demo.lms_gradebook()["bio-101"]["barbara"]
    page.reload()
    barbara = cell(page, "Barbara Liskov", 0)
    barbara.locator("summary").click()
    barbara.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("status")).to_contain_text("Trying again")
    eventually(lambda: demo.lms_gradebook()["bio-101"]["barbara"].get("bio-quiz-1") == 88.0, "Barbara's grade")
    page.goto(demo.biology_url)
    expect(cell(page, "Barbara Liskov", 0)).to_contain_text("synced")
    expect(cell(page, "Ada Lovelace", 1)).to_contain_text("synced")


def test_the_served_gradebook_refuses_a_forged_session(demo: Demo, page: Any) -> None:
    forged = re.sub(r"\?t=[\w.-]+", "?t=" + "e" * 40, demo.biology_url)
    response = page.goto(forged)
    assert response is not None
    assert response.status in (401, 403)
    assert "Barbara Liskov" not in page.content()
