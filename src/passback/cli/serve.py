"""`passback serve`: the whole system on this machine (moto, the real handlers, loopback only)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from passback.cli import validate as v
from passback.cli.errors import CliError
from passback.cli.target import state_file


def register(verbs: Any) -> None:
    serve = verbs.add_parser("serve", help="run the whole system locally on moto (no AWS account, no Docker)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (loopback by default)")
    serve.add_argument("--port", type=v.port, default=8000, help="HTTP port of the API (0 picks a free one)")
    serve.add_argument("--aws-port", type=v.port, default=0, help="port of the moto server (0 picks a free one)")
    serve.add_argument(
        "--schedule-seconds", type=float, default=30.0, help="fire the retry schedule every N seconds (0: never)"
    )
    serve.add_argument("--template", type=Path, default=None, help="the SAM template (default: infra/template.yaml)")
    serve.add_argument(
        "--retry-delay",
        type=v.integer("retry delay", 0, 43_200),
        default=2,
        help="seconds before a failed queue message is delivered again (AWS: the visibility timeout)",
    )
    serve.add_argument(
        "--workers", type=v.integer("workers", 1, 64), default=2, help="concurrent invocations per queue"
    )
    serve.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where the stack keeps its data between runs (default: 'data' beside the state file, .passback/data)",
    )
    serve.add_argument("--fresh", action="store_true", help="start with no data (forget what the data folder held)")
    serve.add_argument(
        "--in-memory", action="store_true", help="keep nothing: the data is gone when serve stops (tests, demos)"
    )
    serve.add_argument(
        "--score-workers",
        type=v.integer("score workers", 1, 64),
        default=4,
        help="score batches handled at once (like concurrent Lambda instances; default 4)",
    )
    serve.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from passback.local.stack import LocalStack, StackError

    state = state_file(args)
    refuse_running(state)
    # The handlers' structured logs are the local stack's console: show each line as it happens.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)

    stack = LocalStack(
        host=args.host,
        port=args.port,
        aws_port=args.aws_port,
        schedule_seconds=args.schedule_seconds,
        template_path=args.template,
        state_file=state,
        data_dir=None if args.in_memory else (args.data_dir or state.parent / "data"),
        fresh=args.fresh,
        retry_delay_seconds=args.retry_delay,
        workers=args.workers,
        score_workers=args.score_workers,
    )

    def stop(*_: Any) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM stop the stack however it was started: a parent (a CI runner, a test
    # worker, nohup) may have left SIGINT ignored or blocked, and Python keeps an ignored SIGINT.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        info = stack.start()
        print_banner(info, state, None if args.in_memory else (args.data_dir or state.parent / "data"))
        stack.wait()
    except KeyboardInterrupt:
        pass
    except StackError as error:
        raise CliError(str(error)) from error
    finally:
        print("Stopping...", flush=True)
        stack.stop()
    return 0


def refuse_running(state: Path) -> None:
    """One stack per state file: a second would take over the verbs of the first one's operator."""
    import json

    from passback.local.stack import answers

    if not state.is_file():
        return
    try:
        base_url = str(json.loads(state.read_text(encoding="utf-8"))["base_url"])
    except (ValueError, KeyError, TypeError):
        return  # not ours, or half-written: overwritten at start
    if answers(base_url):
        raise CliError(
            f"a local stack is already running at {base_url} (its state file is {state}): use it, stop it, "
            "or give this one another --state-file"
        )


def print_banner(info: Any, state_file: Path, data_dir: Path | None = None) -> None:
    lines = [
        "Passback is running: the whole system on this machine (AWS emulated by moto).",
        f"  Base URL          {info.base_url}",
        f"  LTI 1.3 login     {info.base_url}/lti13/login",
        f"  LTI 1.3 launch    {info.base_url}/lti13/launch",
        f"  JWKS              {info.base_url}/.well-known/jwks.json",
        f"  LTI 1.1 launch    {info.base_url}/lti11/launch",
        f"  Score API         {info.base_url}/api/v1/messages  (token: /api/v1/token; passback products add)",
        f"  AWS endpoint URL  {info.aws_endpoint_url}",
    ]
    lines += [f"  {name:<17} {url}" for name, url in info.queues.items()]
    lines += [
        f"  State file        {state_file}",
        f"  Data folder       {data_dir}  (kept across restarts; --fresh starts empty)"
        if data_dir is not None
        else "  Data folder       none (--in-memory: everything is gone when serve stops)",
        f"  Sent mail         {info.mail_dir}  (one .eml file per message sent through SES)",
        "To reach it with the AWS CLI or boto3:",
        f"  export AWS_ENDPOINT_URL={info.aws_endpoint_url} AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local "
        f"AWS_DEFAULT_REGION={info.region}",
        "Other passback verbs find it through the state file. Press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)
    sys.stdout.flush()
