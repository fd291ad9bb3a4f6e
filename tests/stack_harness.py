"""The whole system in-process, for integration tests: moto, the real handlers, the real gateway.

Unlike `passback serve`, nothing runs by itself: a test sends messages and then `drain()`s the
queues (the same pollers that serve uses, invoked on demand), so every run is deterministic.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import requests

from passback import container
from passback.clock import utcnow
from passback.emulator import LmsEmulator
from passback.local.gateway import Gateway
from passback.local.poller import QueuePoller
from passback.local.runtime import LocalFunction
from passback.local.template import Template, default_template_path

CLIENT_ID = "passback-tool"
DEPLOYMENT_ID = "deployment-1"
CONSUMER_KEY = "consumer-1"
CONSUMER_SECRET = "consumer-secret-for-tests"


class Stack:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        template = Template(default_template_path())
        self.functions = {f.logical_id: LocalFunction(f, "us-east-1") for f in template.functions()}
        routes = [(r, fn) for fn in self.functions.values() for r in fn.definition.routes]
        routes.sort(key=lambda pair: (("{" in pair[0].path), -len(pair[0].path)))
        self.gateway = Gateway(routes, "127.0.0.1", 0)
        self.gateway.start()
        self.base_url = f"http://127.0.0.1:{self.gateway.port}"
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.queue_urls = {
            name: self.sqs.get_queue_url(QueueName=f"passback-local-{name}")["QueueUrl"]
            for name in ("ScoreQueue", "ScoreDeadLetterQueue", "ReleaseQueue", "ReleaseDeadLetterQueue")
        }
        self.pollers = []
        for fn in self.functions.values():
            for source in fn.definition.sqs:
                url = self.queue_urls[source.queue]
                arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                self.pollers.append(
                    QueuePoller(
                        fn,
                        url,
                        arn,
                        source.batch_size,
                        source.partial_failures,
                        region="us-east-1",
                        retry_delay_seconds=0,
                    )
                )

    def close(self) -> None:
        self.gateway.stop()

    # ------------------------------------------------------------------ queues

    def send_messages(self, messages: Iterable[dict[str, Any] | str]) -> None:
        bodies = [m if isinstance(m, str) else json.dumps(m) for m in messages]
        for start in range(0, len(bodies), 10):
            entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])]
            self.sqs.send_message_batch(QueueUrl=self.queue_urls["ScoreQueue"], Entries=entries)

    def drain(self, max_rounds: int = 500) -> int:
        """Deliver queued messages to the handlers until both queues are empty; returns deliveries."""
        delivered, idle = 0, 0
        for _ in range(max_rounds):
            moved = sum(poller.poll_once(wait_seconds=0) for poller in self.pollers)
            delivered += moved
            idle = idle + 1 if moved == 0 else 0
            if idle >= 2:
                return delivered
        raise AssertionError("the queues did not drain")

    def sweep(self) -> Any:
        fn = self.functions["RetryFunction"]
        now = utcnow()
        return fn.invoke(
            {
                "version": "0",
                "id": uuid.uuid4().hex,
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "000000000000",
                "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "region": "us-east-1",
                "resources": [],
                "detail": {},
            }
        )

    def dead_letters(self, queue: str = "ScoreDeadLetterQueue") -> list[dict[str, Any]]:
        found = self.sqs.receive_message(
            QueueUrl=self.queue_urls[queue], MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
        )
        return list(found.get("Messages", []))

    # ------------------------------------------------------------------ platforms

    def register_lti13(
        self, lms: LmsEmulator, client_id: str = CLIENT_ID, deployments: tuple[str, ...] = (DEPLOYMENT_ID,)
    ) -> None:
        lms.register_tool(
            client_id,
            login_url=f"{self.base_url}/lti13/login",
            launch_url=f"{self.base_url}/lti13/launch",
            jwks_url=f"{self.base_url}/.well-known/jwks.json",
            deployment_ids=list(deployments),
        )
        config = lms.platform_config(client_id)
        container.platforms().add(
            issuer=config["issuer"],
            client_id=client_id,
            deployment_ids=list(deployments),
            login_url=config["login_url"],
            token_url=config["token_url"],
            jwks_url=config["jwks_url"],
            name="Emulated LMS",
            token_audience=None,
            now=datetime.now(UTC),
        )

    def register_lti11(self, lms: LmsEmulator, key: str = CONSUMER_KEY, secret: str = CONSUMER_SECRET) -> None:
        lms.register_tool(
            f"lti11-{key}",
            login_url=f"{self.base_url}/lti13/login",
            launch_url=f"{self.base_url}/lti13/launch",
            jwks_url=f"{self.base_url}/.well-known/jwks.json",
            deployment_ids=["unused"],
            lti11_consumer_key=key,
            lti11_secret=secret,
        )
        container.consumers().add(consumer_key=key, secret=secret, name="Emulated LMS (1.1)", now=datetime.now(UTC))

    def launch13(
        self,
        lms: LmsEmulator,
        user: str,
        context: str,
        link: str,
        client_id: str = CLIENT_ID,
        session: requests.Session | None = None,
    ) -> requests.Response:
        return lms.lti13_launch(session or requests.Session(), client_id, user, context, link)

    def launch11(
        self,
        lms: LmsEmulator,
        user: str,
        context: str,
        link: str,
        *,
        roles: str = "Learner",
        custom: dict[str, str] | None = None,
        key: str = CONSUMER_KEY,
    ) -> requests.Response:
        return lms.lti11_launch(
            requests.Session(), key, f"{self.base_url}/lti11/launch", user, context, link, roles=roles, custom=custom
        )


def score(
    learner: dict[str, str], activity: str, answered: int, percent: float, at: datetime, message_id: str | None = None
) -> dict[str, Any]:
    return {
        "type": "score",
        "message_id": message_id or uuid.uuid4().hex,
        "learner": learner,
        "activity_id": activity,
        "answered": answered,
        "score": percent,
        "occurred_at": at.isoformat(),
    }


def activity(activity_id: str, title: str, min_questions: int = 1, product_url: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "activity",
        "message_id": uuid.uuid4().hex,
        "activity_id": activity_id,
        "title": title,
        "min_questions": min_questions,
    }
    if product_url:
        message["product_url"] = product_url
    return message


AWS_PLACEHOLDERS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",  # moto accepts any value
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


@contextmanager
def moto_environment(env: Any, base_url: str = "http://127.0.0.1:9") -> Iterator[dict[str, str]]:
    """moto with the template's tables, queues and secrets, the functions' environment set through
    `env` (a pytest MonkeyPatch, so it is undone), and the tool's first key: what `passback serve`
    creates, in this process. Yields the functions' environment variables."""
    from moto import mock_aws

    from passback.local.stack import create_resources, function_environment

    for name in list(os.environ):
        if name.startswith(("PASSBACK_", "AWS_")):
            env.delenv(name)
    for name, value in AWS_PLACEHOLDERS.items():
        env.setenv(name, value)
    with mock_aws():
        template = Template(default_template_path())
        created = create_resources(template, base_url=base_url, endpoint_url=None)
        variables = function_environment(template, created.refs)
        for name, value in variables.items():
            env.setenv(name, value)
        container.reset()
        container.tool_keys().ensure_key(datetime.now(UTC))
        try:
            yield variables
        finally:
            container.reset()


@contextmanager
def running_stack(env: Any) -> Iterator[Stack]:
    """The whole system in-process on moto (see `moto_environment`), its base URL in the settings."""
    with moto_environment(env) as variables:
        stack = Stack(variables)
        env.setenv("PASSBACK_BASE_URL", stack.base_url)
        container.reset()
        try:
            yield stack
        finally:
            stack.close()
