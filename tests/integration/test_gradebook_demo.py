"""`passback demo` as a newcomer runs it: a real process, the local stack, the LMS emulator, the tour."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e


def test_passback_demo_sets_up_the_tour_and_prints_the_gradebook(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PASSBACK_"))}
    state = tmp_path / "local.json"
    done = subprocess.run(
        [sys.executable, "-m", "passback.cli", "--state-file", str(state), "demo", "--port", "0", "--exit-after-setup"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**env, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])
    assert '"level"' not in out  # quiet unless --verbose: the banner is what a newcomer reads
    urls = re.findall(r"http://127\.0\.0\.1:\d+/gradebook/\w+\?s=[\w.-]+", out)
    assert len(urls) == 2
    assert "Biology 101 (LTI 1.1):" in out
    assert "Chemistry 110 (LTI 1.3):" in out
    # The summary table of what the emulated LMS received.
    assert re.search(r"Ada Lovelace\s+96\s+92\s+-\s+100", out)
    assert re.search(r"Edsger Dijkstra\s+89\s+-\s+-\s+100", out)  # never opened Quiz 1's link
    assert re.search(r"Dmitri Mendeleev\s+88\s+88\s+-", out)  # LTI 1.3 reaches him anyway
    assert re.search(r"Linus Pauling\s+-\s+-\s+-", out)  # dropped
    assert not state.exists()  # the stack stopped and cleaned up after itself
    with pytest.raises(requests.ConnectionError):
        requests.get(urls[0], timeout=2)
