"""Run the emulator as a child process (`python -m passback.emulator`) and get a client for it."""

from __future__ import annotations

import json
import select
import signal
import subprocess
import sys
import time
from types import TracebackType
from typing import Any

from .client import EmulatorClient

STARTUP_TIMEOUT_S = 15.0


class EmulatorProcess:
    """`with EmulatorProcess(mode="moodle") as proc: proc.client.add_course(...)`."""

    def __init__(self, *, port: int = 0, mode: str = "canvas", issuer: str | None = None) -> None:
        self._args = [sys.executable, "-m", "passback.emulator", "--port", str(port), "--mode", mode]
        if issuer:
            self._args += ["--issuer", issuer]
        self._proc: subprocess.Popen[str] | None = None
        self.config: dict[str, Any] = {}
        self.client: EmulatorClient | None = None

    def start(self) -> EmulatorProcess:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv: this interpreter and our own module
            self._args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._proc = proc
        line = _read_line(proc, STARTUP_TIMEOUT_S)
        if not line:
            self.stop()
            raise RuntimeError("the emulator process did not report its URL")
        self.config = json.loads(line)
        self.client = EmulatorClient(self.config["base_url"])
        return self

    def stop(self) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if self.client is not None:
            self.client.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        self._proc = None
        return proc.returncode

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.1)
        if ready:
            return proc.stdout.readline().strip()
        if proc.poll() is not None:
            return ""
    return ""
