"""Several worker processes against one moto server: the concurrency suite's and bench's stack.

The test process hosts moto's server (a subprocess), the API gateway (launches, in threads) and
the retry function (sweeps, called on demand); `processes` worker processes (`worker.py`) each
run the score and release handlers, polling the same queues as concurrent Lambda instances do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from passback import container
from passback.local.stack import LOCAL_CREDENTIALS, MotoServer, create_resources, free_port, function_environment
from passback.local.template import Template, default_template_path
from stack_harness import AWS_PLACEHOLDERS, Stack

WORKER = Path(__file__).with_name("worker.py")
QUEUES = ("ScoreQueue", "ReleaseQueue")


@dataclass
class Cluster:
    stack: Stack
    workers: list[subprocess.Popen[str]]
    logs: list[Path]
    results: list[dict[str, Any]] = field(default_factory=list)

    def queue_depth(self) -> int:
        total = 0
        for name in QUEUES:
            attributes = self.stack.sqs.get_queue_attributes(
                QueueUrl=self.stack.queue_urls[name],
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            total += int(attributes["ApproximateNumberOfMessages"]) + int(
                attributes["ApproximateNumberOfMessagesNotVisible"]
            )
        return total

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until both queues are empty, nothing in flight, twice in a row; fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            if time.monotonic() > deadline:
                raise AssertionError(f"the workers did not drain the queues within {timeout:.0f} s")
            quiet = quiet + 1 if self.queue_depth() == 0 else 0
            time.sleep(0.2)

    def stop(self) -> None:
        if self.results:
            return
        for worker in self.workers:
            if worker.stdin is not None and not worker.stdin.closed:
                worker.stdin.close()
        for worker in self.workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        for log in self.logs:
            done = log.with_suffix(".json")
            self.results.append(json.loads(done.read_text()) if done.exists() else {"delivered": 0, "failed": 0})

    def failures_logged(self) -> list[str]:
        """Lines the workers logged about failed invocations (a batch returned to the queue)."""
        found = []
        for log in self.logs:
            found.extend(line for line in log.read_text(errors="replace").splitlines() if "invocation failed" in line)
        return found


@contextmanager
def cluster(env: Any, tmp: Path, *, processes: int, per_queue: int = 1) -> Iterator[Cluster]:
    """moto's server, the template's resources, the gateway here and `processes` worker processes."""
    moto = MotoServer("127.0.0.1", free_port())
    moto.start()
    made: Cluster | None = None
    stack: Stack | None = None
    workers: list[subprocess.Popen[str]] = []
    try:
        for name in list(os.environ):
            if name.startswith(("PASSBACK_", "AWS_")):
                env.delenv(name)
        for name, value in {**AWS_PLACEHOLDERS, **LOCAL_CREDENTIALS}.items():
            env.setenv(name, value)
        env.setenv("AWS_ENDPOINT_URL", moto.url)
        env.setenv("AWS_REGION", "us-east-1")
        template = Template(default_template_path())
        created = create_resources(template, base_url="http://127.0.0.1:9", endpoint_url=moto.url)
        for name, value in function_environment(template, created.refs).items():
            env.setenv(name, value)
        env.setenv("PASSBACK_MAIL_DIR", str(tmp / "mail"))
        container.reset()
        container.tool_keys().ensure_key(datetime.now(UTC))
        stack = Stack(dict(os.environ))
        env.setenv("PASSBACK_BASE_URL", stack.base_url)
        container.reset()
        logs = [tmp / f"worker-{n}.log" for n in range(processes)]
        queues = json.dumps({name: stack.queue_urls[name] for name in QUEUES})
        workers.extend(_start_worker(queues, per_queue, log) for log in logs)
        _wait_ready(workers, logs)
        made = Cluster(stack, workers, logs)
        yield made
    finally:
        try:
            if made is not None:
                made.stop()
            for worker in workers:  # a set-up that failed half-way
                if worker.poll() is None:
                    worker.kill()
            if stack is not None:
                stack.close()
            container.reset()
        finally:
            moto.stop()


def _start_worker(queues: str, per_queue: int, log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), queues, str(per_queue), str(log)],
        stdin=subprocess.PIPE,
        # Logs to a file: a pipe nobody reads would fill and stop the worker mid-run.
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
    )


def _wait_ready(workers: list[subprocess.Popen[str]], logs: list[Path]) -> None:
    started = time.monotonic()
    while not all(log.with_suffix(".ready").exists() for log in logs):
        if time.monotonic() - started > 120 or any(w.poll() is not None for w in workers):
            raise AssertionError("a worker process did not start; see " + ", ".join(map(str, logs)))
        time.sleep(0.2)
