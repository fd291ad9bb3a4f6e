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
            out = worker.stdout.read() if worker.stdout is not None else ""
            lines = [line for line in (out or "").splitlines() if line.startswith("{")]
            self.results.append(json.loads(lines[-1]) if lines else {"delivered": 0, "failed": 0, "lost": True})

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
        queues = json.dumps({name: stack.queue_urls[name] for name in QUEUES})
        workers, logs = [], []
        for n in range(processes):
            log = tmp / f"worker-{n}.log"
            logs.append(log)
            workers.append(
                subprocess.Popen(
                    [sys.executable, str(WORKER), queues, str(per_queue)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log.open("w"),
                    text=True,
                    env=dict(os.environ),
                )
            )
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", "a worker process did not start"
        made = Cluster(stack, workers, logs)
        yield made
    finally:
        if made is not None:
            made.stop()
        if stack is not None:
            stack.close()
        container.reset()
        moto.stop()
