"""One worker process: the score and release handlers polling their queues, as Lambda instances do.

Run by `test_workers.py` and `bench/concurrency.py` with the stack's environment (moto server
endpoint, table and queue names). Polls until its stdin closes, then prints what it handled as
one JSON line. Each poller runs one handler invocation at a time, like one Lambda instance.
"""

from __future__ import annotations

import json
import sys
import warnings


def main() -> int:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    from passback import aws
    from passback.local.poller import QueuePoller
    from passback.local.runtime import LocalFunction
    from passback.local.template import Template, default_template_path

    queues: dict[str, str] = json.loads(sys.argv[1])
    per_queue = int(sys.argv[2]) if len(sys.argv) > 2 else 1
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
    print("ready", flush=True)
    sys.stdin.read()  # the parent closes our stdin to stop us
    for poller in pollers:
        poller.stop()
    print(json.dumps({"delivered": sum(p.delivered for p in pollers), "failed": sum(p.failed for p in pollers)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
