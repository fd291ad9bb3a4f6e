"""The `passback` command: run the local stack, administer platforms and keys, operate grades.

Mistakes an operator can make (a bad argument, a missing course, no region, an unreachable
endpoint) end in one line on stderr and a non-zero status: 2 for usage, 1 for the rest. A
traceback is shown only with --debug (cli/failures.py decides the line for each kind of error).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from passback.cli import admin, build, demo, find, operate, operations, products, roster, serve
from passback.cli.errors import CliError

Command = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (what is wrong, where the help is) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(2)


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog="passback",
        description="Passback: LTI grade passback. Every verb but serve, demo and build acts on the stack named by "
        "--stack, or on the one the environment points at (AWS_ENDPOINT_URL and PASSBACK_* variables), or on the "
        "local stack whose state file `passback serve` wrote.",
    )
    top.add_argument("--stack", help="a deployed CloudFormation stack to act on (its outputs name the resources)")
    top.add_argument("--region", help="the AWS region of --stack (default: AWS_REGION or the profile's region)")
    top.add_argument("--profile", help="the AWS named profile to use for --stack (default: AWS_PROFILE)")
    top.add_argument(
        "--state-file",
        default=None,
        help="the local stack's state file (default: .passback/local.json; `passback demo` uses .passback/demo.json)",
    )
    top.add_argument("--debug", action="store_true", help="show the full traceback when something fails")
    top.add_argument(
        "--verbose", action="store_true", help="show the services' log lines (JSON, on stderr) while a verb runs"
    )
    verbs = top.add_subparsers(dest="verb", metavar="VERB", required=True)
    serve.register(verbs)
    demo.register_verb(verbs)
    for module in (admin, operate, find, operations, build):
        module.register(verbs)
    products.register(verbs)
    roster.register(verbs)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    from passback.cli import failures

    args = parser().parse_args(argv)
    command: Command = args.run
    if args.verb not in ("serve", "demo"):
        quiet_logs(verbose=args.verbose or args.debug)
    try:
        return command(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if args.debug:
            raise
        line, status = failures.describe(error)
        print(f"passback: {line}", file=sys.stderr)
        return status


def quiet_logs(*, verbose: bool) -> None:
    """A verb's output is what it prints on stdout; the services' log lines go to stderr, and only
    warnings unless --verbose (`passback serve` keeps them on stdout: they are its console)."""
    import logging

    from passback.observability import logger

    logger.setLevel("INFO" if verbose else "WARNING")
    handlers: list[Any] = list(logging.getLogger(logger.name).handlers)
    for handler in handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.stream = _Stderr()


class _Stderr:
    """Whatever sys.stderr is at the time of writing (tests swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


__all__ = ["CliError", "Parser", "main", "parser"]

if __name__ == "__main__":
    raise SystemExit(main())
