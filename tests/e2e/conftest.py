"""End-to-end fixtures: `passback serve` as a real subprocess, and the LMS emulator beside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    state_file: Path
    info: dict[str, Any]
    log: Path

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    def client(self, service: str) -> Any:
        return boto3.session.Session(
            region_name=self.info["region"], aws_access_key_id="local", aws_secret_access_key="local"
        ).client(service, endpoint_url=self.info["aws_endpoint_url"])

    def cli(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "passback.cli", "--state-file", str(self.state_file), *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            env=clean_env(),
            timeout=120,
        )


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PASSBACK_"))}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_serve(tmp: Path, *extra: str) -> Served:
    state_file = tmp / "local.json"
    log = tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "passback.cli",
                "--state-file",
                str(state_file),
                "serve",
                "--port",
                "0",
                "--schedule-seconds",
                "0",
                "--retry-delay",
                "1",
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(),
        )
    deadline = time.monotonic() + 60
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"passback serve did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    time.sleep(0.2)
    return Served(process=process, state_file=state_file, info=json.loads(state_file.read_text()), log=log)


def stop_serve(served: Served) -> int:
    served.process.send_signal(signal.SIGINT)
    try:
        return served.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        served.process.kill()
        raise


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `passback serve` for the e2e tests; each test uses its own ids, so they do not collide."""
    stack = start_serve(tmp_path_factory.mktemp("serve"))
    yield stack
    stop_serve(stack)


def wait_for(condition: Any, timeout: float = 20.0, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
