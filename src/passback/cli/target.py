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


def use_target(args: argparse.Namespace) -> str:
    """Point the settings at the chosen stack; returns a line saying which one."""
    from passback import container

    if args.stack:
        import boto3

        outputs = boto3.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0].get("Outputs", [])
        for output in outputs:
            variable = _OUTPUTS.get(output["OutputKey"])
            if variable:
                os.environ[variable] = output["OutputValue"]
        os.environ["PASSBACK_STAGE"] = args.stack
        described = f"stack {args.stack}"
    elif os.environ.get("PASSBACK_GRADEBOOK_TABLE"):
        described = f"the stack in the environment ({os.environ.get('AWS_ENDPOINT_URL') or 'AWS'})"
    else:
        state = Path(args.state_file)
        if not state.is_file():
            from passback.cli.errors import CliError

            raise CliError(
                f"no stack to act on: start one with `passback serve` (it writes {state}), or pass --stack NAME, "
                "or set AWS_ENDPOINT_URL and the PASSBACK_* variables"
            )
        info = json.loads(state.read_text(encoding="utf-8"))
        os.environ.update(info["environment"])
        described = f"the local stack at {info['base_url']}"
    container.reset()
    print(f"(acting on {described})", file=sys.stderr)
    return described
