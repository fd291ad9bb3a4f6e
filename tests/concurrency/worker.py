"""One worker process: the score and release handlers polling their queues, as Lambda instances do.

Run by `test_workers.py` and `bench/concurrency.py` with the stack's environment (moto server
endpoint, table and queue names). Its logs go to its stdout (a file the parent chose); it
touches `<state>.ready` once polling and, when its stdin closes, writes what it handled to
`<state>.json`. Each poller runs one handler invocation at a time, like one Lambda instance.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path


def main() -> int:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from passback import aws
    from passback.local.poller import QueuePoller
    from passback.local.runtime import LocalFunction
    from passback.local.template import Template, default_template_path

    queues: dict[str, str] = json.loads(sys.argv[1])
    per_queue = int(sys.argv[2])
    state = Path(sys.argv[3])
    pollers: list[QueuePoller] = []
    for definition in Template(default_template_path()).functions():
        for source in definition.sqs:
            if source.queue not in queues:
                continue
            url = queues[source.queue]
            arn = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            pollers.append(
                QueuePoller(
                    LocalFunction(definition, "us-east-1"),
                    url,
                    arn,
                    source.batch_size,
                    source.partial_failures,
                    region="us-east-1",
                    workers=per_queue,
                    retry_delay_seconds=0,
                )
            )
    for poller in pollers:
        poller.start()
    state.with_suffix(".ready").touch()
    sys.stdin.read()  # the parent closes our stdin to stop us
    for poller in pollers:
        poller.stop()
    handled = {"delivered": sum(p.delivered for p in pollers), "failed": sum(p.failed for p in pollers)}
    state.with_suffix(".json").write_text(json.dumps(handled))
    return 0


if __name__ == "__main__":
    sys.exit(main())
