"""The `passback` command: run the local stack, administer platforms and keys, operate grades."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from passback.cli import admin, build, demo, operate, products, serve
from passback.cli.errors import CliError

Command = Callable[[argparse.Namespace], int]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="passback",
        description="Passback: LTI grade passback. Every verb but serve, demo and build acts on the stack named by "
        "--stack, or on the one the environment points at (AWS_ENDPOINT_URL and PASSBACK_* variables), or on the "
        "local stack whose state file `passback serve` wrote.",
    )
    top.add_argument("--stack", help="a deployed CloudFormation stack to act on (its outputs name the resources)")
    top.add_argument("--state-file", default=".passback/local.json", help="the local stack's state file")
    verbs = top.add_subparsers(dest="verb", metavar="VERB", required=True)
    serve.register(verbs)
    demo.register_verb(verbs)
    for module in (admin, operate, build):
        module.register(verbs)
    products.register(verbs)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command: Command = args.run
    try:
        return command(args)
    except KeyboardInterrupt:
        return 130
    except CliError as error:
        print(f"passback: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
