"""Which stack a CLI verb acts on: a deployed stack, the environment, or the local state file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Stack output -> environment variable the settings read.
_OUTPUTS = {
    "ConfigTableName": "PASSBACK_CONFIG_TABLE",
    "StateTableName": "PASSBACK_STATE_TABLE",
    "GradebookTableName": "PASSBACK_GRADEBOOK_TABLE",
    "ScoreQueueUrl": "PASSBACK_SCORE_QUEUE_URL",
    "ScoreDeadLetterQueueUrl": "PASSBACK_SCORE_DLQ_URL",
    "ReleaseQueueUrl": "PASSBACK_RELEASE_QUEUE_URL",
    "ReleaseDeadLetterQueueUrl": "PASSBACK_RELEASE_DLQ_URL",
    "ToolKeysSecretArn": "PASSBACK_TOOL_KEYS_SECRET",
    "ConsumerSecretsSecretArn": "PASSBACK_CONSUMER_SECRETS_SECRET",
    "ApiUrl": "PASSBACK_BASE_URL",
}


DEFAULT_STATE_FILE = ".passback/local.json"


def state_file(args: argparse.Namespace, default: str = DEFAULT_STATE_FILE) -> Path:
    """The local stack's state file: --state-file, else the verb's default (serve's, or demo's own)."""
    return Path(getattr(args, "state_file", None) or default)


def use_aws_profile(args: argparse.Namespace) -> None:
    """--profile and --region for everything boto3 makes from here on (the CLI's and the services')."""
    if getattr(args, "profile", None):
        os.environ["AWS_PROFILE"] = args.profile
    if getattr(args, "region", None):
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region


def use_target(args: argparse.Namespace) -> str:
    """Point the settings at the chosen stack; returns a line saying which one."""
    from passback import container
    from passback.cli.errors import CliError

    use_aws_profile(args)
    if args.stack:
        described = _use_stack(args.stack)
    elif os.environ.get("PASSBACK_GRADEBOOK_TABLE"):
        described = f"the stack in the environment ({os.environ.get('AWS_ENDPOINT_URL') or 'AWS'})"
    else:
        state = state_file(args)
        if not state.is_file():
            raise CliError(
                f"no stack to act on: start one with `passback serve` (it writes {state}), or pass --stack NAME, "
                "or set AWS_ENDPOINT_URL and the PASSBACK_* variables"
            )
        try:
            info = json.loads(state.read_text(encoding="utf-8"))
            os.environ.update(info["environment"])
        except (ValueError, KeyError, TypeError) as error:
            raise CliError(f"{state} is not a state file `passback serve` wrote: remove it and start serve") from error
        described = f"the local stack at {info['base_url']}"
    container.reset()
    print(f"(acting on {described})", file=sys.stderr)
    return described


def _use_stack(name: str) -> str:
    import boto3
    from botocore.exceptions import ClientError

    from passback.cli.errors import CliError

    session = boto3.session.Session()
    if not session.region_name:
        raise CliError(f"--stack {name} needs a region: pass --region (e.g. --region us-east-1) or set AWS_REGION")
    try:
        found = session.client("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        if "does not exist" in str(error):
            raise CliError(
                f"no stack {name} in {session.region_name}: check the name (`aws cloudformation list-stacks`) "
                "and --region"
            ) from error
        raise
    for output in found[0].get("Outputs", []):
        variable = _OUTPUTS.get(output["OutputKey"])
        if variable:
            os.environ[variable] = output["OutputValue"]
    os.environ["PASSBACK_STAGE"] = name
    os.environ["AWS_REGION"] = session.region_name
    return f"stack {name} ({session.region_name})"
