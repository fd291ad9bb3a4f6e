"""`passback serve`: the whole system on one machine, with no AWS account and no Docker.

moto runs in server mode in a child process (so the CLI, tests and products reach it through
AWS_ENDPOINT_URL), the template's tables, queues and secrets are created in it, the real
handlers serve HTTP on loopback and consume the queues, and the retry schedule fires every N
seconds.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from passback.local.gateway import Gateway
from passback.local.poller import QueuePoller
from passback.local.runtime import LocalFunction
from passback.local.template import Route, Template, condition_refs, default_template_path, resolve

STACK_NAME = "passback-local"
REGION = "us-east-1"
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class StackError(Exception):
    """The local stack cannot start (a busy port, say); the message says what to do."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def busy_port(host: str, port: int, option: str) -> StackError:
    return StackError(
        f"port {port} on {host} is in use (another `passback serve` or `demo`?): pass {option} N, "
        f"or {option} 0 for a free one"
    )


def answers(base_url: str) -> bool:
    """Whether a stack serves at `base_url` (its JWKS answers)."""
    import requests

    try:
        return requests.get(f"{base_url}/.well-known/jwks.json", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _die_with_parent() -> None:
    """In the moto child: SIGTERM when the process that started it dies, even by SIGKILL (Linux)."""
    import contextlib
    import ctypes
    import signal

    # Not Linux: no prctl, and stop() still ends the child on every ordinary exit.
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_for_port(host: str, port: int, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"the moto server on {host}:{port} exited at start (status {process.returncode})")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


@dataclass
class StackInfo:
    base_url: str
    aws_endpoint_url: str
    region: str
    stack_name: str
    queues: dict[str, str] = field(default_factory=dict)
    tables: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    # Where the mail the functions send through (moto's) SES is also written, one .eml file each.
    mail_dir: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MotoServer:
    """moto in a child process; with a journal, its state survives restarts (local/journal.py)."""

    def __init__(self, host: str, port: int, journal: Path | None = None, *, fresh: bool = False) -> None:
        self.host, self.port = host, port
        self.journal = journal
        self.fresh = fresh  # the child empties the journal once it holds its lock (never another stack's)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        if not port_is_free(self.host, self.port):
            raise busy_port(self.host, self.port, "--aws-port")
        command = [sys.executable, "-m", "passback.local.moto_server", "--host", self.host, "--port", str(self.port)]
        log: Any = subprocess.DEVNULL
        if self.journal is not None:
            command += ["--journal", str(self.journal), *(["--fresh"] if self.fresh else [])]
            log = (self.journal.parent / "moto.log").open("ab")
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                command,
                stdout=log,
                stderr=log,
                env={**os.environ, **LOCAL_CREDENTIALS},
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        try:
            # Replaying a long journal takes a while before the port opens.
            wait_for_port(self.host, self.port, timeout=600 if self.journal else 30, process=self.process)
        except StackError:
            if self.process.returncode == 3:
                raise StackError(
                    f"the data folder {self.journal.parent if self.journal else ''} is in use by another local "
                    "stack: stop it, or give this one another --data-dir"
                ) from None
            raise

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


@dataclass
class CreatedResources:
    refs: dict[str, str]
    tables: dict[str, str]
    queues: dict[str, str]
    arns: dict[str, str]
    secrets: dict[str, str]


def create_resources(template: Template, *, base_url: str, endpoint_url: str | None) -> CreatedResources:
    """Create the template's tables, queues and secrets (in moto), named as the stack would name them."""
    import boto3

    session = boto3.session.Session(region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    secrets = session.client("secretsmanager", endpoint_url=endpoint_url)
    refs: dict[str, str] = {"AWS::StackName": STACK_NAME, "AWS::Region": REGION, "AWS::URLSuffix": "amazonaws.com"}
    for name, spec in (template.data.get("Parameters") or {}).items():
        refs[name] = str(spec.get("Default", ""))
    refs["PublicBaseUrl"] = base_url
    refs.update(condition_refs(template.data, refs))
    tables: dict[str, str] = {}
    for logical_id, props in template.tables().items():
        table_name = str(resolve(props["TableName"], refs))
        args: dict[str, Any] = {
            "TableName": table_name,
            "KeySchema": props["KeySchema"],
            "AttributeDefinitions": props["AttributeDefinitions"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        # A table kept from the previous run (a data folder) stays, with its items.
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
            dynamodb.create_table(**args)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        tables[logical_id] = refs[logical_id] = table_name
    queues: dict[str, str] = {}
    arns: dict[str, str] = {}
    for queue in template.queues():
        attributes: dict[str, str] = {
            "VisibilityTimeout": str(queue.visibility_timeout),
            "MessageRetentionPeriod": str(queue.retention),
        }
        if queue.dead_letter:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[queue.dead_letter], "maxReceiveCount": queue.max_receive_count}
            )
        name = f"{STACK_NAME}-{queue.logical_id}"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]  # type: ignore[arg-type]
        arns[queue.logical_id] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        queues[queue.logical_id] = refs[queue.logical_id] = url
    secret_names: dict[str, str] = {}
    for logical_id, props in template.secrets().items():
        name = f"{STACK_NAME}/{logical_id}"
        # Kept from the previous run: the tool's keys and the consumer secrets stay as they are.
        with contextlib.suppress(secrets.exceptions.ResourceExistsException):
            secrets.create_secret(Name=name, SecretString=str(props.get("SecretString", "{}")))
        secret_names[logical_id] = refs[logical_id] = name
    session.client("ses", endpoint_url=endpoint_url).verify_email_identity(EmailAddress=refs["SenderEmail"])
    return CreatedResources(refs=refs, tables=tables, queues=queues, arns=arns, secrets=secret_names)


def function_environment(template: Template, refs: dict[str, str]) -> dict[str, str]:
    """The functions' environment variables as the template sets them, resolved against `refs`."""
    functions = template.functions()
    variables = functions[0].environment if functions else {}
    return {name: str(resolve(value, refs)) for name, value in variables.items()}


class LocalStack:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        aws_port: int = 0,
        schedule_seconds: float = 30.0,
        template_path: Path | None = None,
        state_file: Path | None = None,
        retry_delay_seconds: int = 2,
        workers: int = 2,
        score_workers: int = 4,
        extra_environment: dict[str, str] | None = None,
        data_dir: Path | None = None,
        fresh: bool = False,
    ) -> None:
        self.host = host
        self.port = port  # 0: the gateway binds a free one (start() reads which)
        self.schedule_seconds = schedule_seconds
        self.template = Template(template_path or default_template_path())
        self.state_file = state_file
        self.retry_delay = retry_delay_seconds
        self.workers = workers
        # Several score batches at once, as Lambda runs them: local runs meet the races production has.
        self.score_workers = score_workers
        self.extra_environment = extra_environment or {}
        self.functions: dict[str, LocalFunction] = {}
        self.pollers: list[QueuePoller] = []
        self.gateway: Gateway | None = None
        self.info: StackInfo | None = None
        self.aws_port = aws_port
        # Where moto's journal lives (None: memory only, gone at stop); `fresh` starts it empty.
        self.data_dir = data_dir
        self.fresh = fresh
        self.moto: MotoServer | None = None
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._wrote_state = False

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> StackInfo:
        import warnings

        # Metrics are off locally; powertools would warn on every invocation that none were published.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        # The API's port first: a busy one fails here, before anything else was started.
        self._bind_gateway()
        journal = self._journal()
        self.moto = MotoServer(self.host, self._aws_port(), journal, fresh=self.fresh)
        self.moto.start()
        refs = self._create_resources()
        self._configure_environment(refs)
        from passback import container
        from passback.clock import utcnow

        container.reset()
        container.tool_keys().ensure_key(utcnow())  # "generated on first use locally"
        self._start_functions(refs)
        assert self.info is not None
        if self.state_file is not None:
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            self.state_file.write_text(json.dumps(self.info.to_json(), indent=2) + "\n", encoding="utf-8")
            self._wrote_state = True
        return self.info

    def stop(self) -> None:
        """Stop what was started, whatever start() got to (safe after a failed start, and twice)."""
        self._stop.set()
        if self.gateway is not None:
            self.gateway.stop()
        # Every worker is told first and all share one wait: told one by one, each busy worker
        # (a long invocation on a loaded machine) added its own wait and Ctrl-C took minutes.
        for poller in self.pollers:
            poller.request_stop()
        deadline = time.monotonic() + 5
        for poller in self.pollers:
            poller.join(deadline)
        if self._scheduler is not None:
            self._scheduler.join(timeout=max(0.0, deadline - time.monotonic()))
        if self.moto is not None:
            self.moto.stop()
        # Only the state file this stack wrote: another stack's must stay (its verbs rely on it).
        if self._wrote_state and self.state_file is not None and self.state_file.exists():
            self.state_file.unlink()
            self._wrote_state = False

    def wait(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(0.5)

    # ------------------------------------------------------------------ resources

    def _journal(self) -> Path | None:
        if self.data_dir is None:
            return None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir / "aws-journal.jsonl"  # `fresh`: emptied by the moto child, under its lock

    def _aws_port(self) -> int:
        """The given port; else, with a data folder, last run's (so a product or shell that kept
        AWS_ENDPOINT_URL still reaches it) when it is free; else a free one."""
        if self.aws_port:
            return self.aws_port
        remembered = self.data_dir / "aws-port" if self.data_dir is not None else None
        if remembered is not None and remembered.is_file():
            try:
                port = int(remembered.read_text().strip())
                if port_is_free(self.host, port):
                    return port
            except ValueError:
                pass
        port = free_port(self.host)
        if remembered is not None:
            remembered.write_text(f"{port}\n")
        return port

    def _bind_gateway(self) -> None:
        """Bind the API's port; the functions' handlers are imported on their first call."""
        routes: list[tuple[Route, LocalFunction]] = []
        for definition in self.template.functions():
            function = self.functions[definition.logical_id] = LocalFunction(definition, REGION)
            routes.extend((route, function) for route in definition.routes)
        # Longer templates first, so /gradebook/{proxy+} does not shadow a fixed path.
        routes.sort(key=lambda pair: (("{" in pair[0].path), -len(pair[0].path)))
        try:
            self.gateway = Gateway(routes, self.host, self.port)
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                raise busy_port(self.host, self.port, "--port") from error
            raise
        self.port = self.gateway.port

    def _create_resources(self) -> dict[str, str]:
        assert self.moto is not None
        created = create_resources(self.template, base_url=self.base_url, endpoint_url=self.moto.url)
        self.info = StackInfo(
            base_url=self.base_url,
            aws_endpoint_url=self.moto.url,
            region=REGION,
            stack_name=STACK_NAME,
            queues=created.queues,
            tables=created.tables,
            secrets=created.secrets,
        )
        self._arns = created.arns
        return created.refs

    def _configure_environment(self, refs: dict[str, str]) -> None:
        env = function_environment(self.template, refs)
        env.update(LOCAL_CREDENTIALS)
        assert self.moto is not None
        env.update(
            {
                "AWS_ENDPOINT_URL": self.moto.url,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                # No X-Ray daemon and no CloudWatch here: traces off, metrics printed only on request.
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": os.environ.get("POWERTOOLS_METRICS_DISABLED", "true"),
            }
        )
        if "PASSBACK_MAIL_DIR" not in self.extra_environment:
            # Beside the state file, so `passback serve` and the tools reading its state agree on it.
            base = self.state_file.parent if self.state_file is not None else Path(tempfile.mkdtemp(prefix="passback-"))
            env["PASSBACK_MAIL_DIR"] = str((base / "mail").resolve())
        env.update(self.extra_environment)
        os.environ.update(env)
        assert self.info is not None
        self.info.environment = env
        self.info.mail_dir = env["PASSBACK_MAIL_DIR"]

    def _start_functions(self, refs: dict[str, str]) -> None:
        for function in self.functions.values():
            for source in function.definition.sqs:
                poller = QueuePoller(
                    function,
                    refs[source.queue],
                    self._arns[source.queue],
                    source.batch_size,
                    source.partial_failures,
                    region=REGION,
                    workers=min(
                        self.score_workers if source.queue == "ScoreQueue" else self.workers, source.max_concurrency
                    ),
                    retry_delay_seconds=self.retry_delay,
                )
                self.pollers.append(poller)
        assert self.gateway is not None
        self.gateway.start()
        for poller in self.pollers:
            poller.start()
        retry = next((f for f in self.functions.values() if f.definition.schedules), None)
        if retry is not None and self.schedule_seconds > 0:
            self._scheduler = threading.Thread(target=self._schedule, args=(retry,), name="schedule", daemon=True)
            self._scheduler.start()

    def _schedule(self, function: LocalFunction) -> None:
        while not self._stop.wait(self.schedule_seconds):
            self.fire_schedule(function)

    def fire_schedule(self, function: LocalFunction | None = None) -> Any:
        function = function or next(f for f in self.functions.values() if f.definition.schedules)
        now = datetime.now(UTC)
        event = {
            "version": "0",
            "id": uuid.uuid4().hex,
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:000000000000:rule/passback-local-sweep"],
            "detail": {},
        }
        try:
            return function.invoke(event)
        except Exception as error:
            from passback.observability import logger

            logger.warning("scheduled sweep failed", extra={"error": repr(error)[:300]})
            return None
