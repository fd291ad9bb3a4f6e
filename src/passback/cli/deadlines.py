"""Deadlines from the command line: `gau set` and `gau extend`, times with their offset, and a
confirmation before a change that sends grades (docs/release.md).

A time is ISO 8601 with a UTC offset (`2031-06-01T23:59-07:00`, or `Z`); a time without one is
refused unless `--utc` says it is UTC, because "23:59" typed by an instructor in Pacific time
would otherwise close the activity eight hours early.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from passback.cli import validate as v
from passback.cli.errors import CliError
from passback.cli.target import use_target
from passback.cli.validate import ACTIVITY_HELP, COURSE_HELP
from passback.clock import utcnow

EXAMPLE = "2031-06-01T23:59-07:00"


def iso_moment(text: str) -> datetime:
    """An argparse type: an ISO 8601 date and time, naive or with its offset (checked by `in_utc`)."""
    try:
        return datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 date and time: write it like {EXAMPLE} (or ...Z for UTC)"
        ) from None


def in_utc(moment: datetime, *, utc: bool, option: str) -> datetime:
    """The moment in UTC. A time without an offset is taken as UTC only when `--utc` says so."""
    if moment.tzinfo is not None:
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # year 1 east of UTC, year 9999 west of it
            raise CliError(f"{option} {moment.isoformat()} is outside the years 1 to 9999 in UTC") from None
    if utc:
        return moment.replace(tzinfo=UTC)
    raise CliError(
        f"{option} {moment.isoformat()} has no UTC offset: add the offset of your time zone "
        f"(e.g. {EXAMPLE}, or Z for UTC), or pass --utc to take it as UTC"
    )


def register(gau: Any) -> None:
    """The `gau` verb's actions (`gau` is its subparsers)."""
    gset = gau.add_parser("set", help="set, move or clear a deadline (one in the past closes the activity now)")
    gset.add_argument("--course", required=True, type=v.course_id, help=COURSE_HELP)
    gset.add_argument("--activity", required=True, type=v.activity_id, help=ACTIVITY_HELP)
    group = gset.add_mutually_exclusive_group(required=True)
    group.add_argument("--at", type=iso_moment, help=f"ISO 8601 with the UTC offset, e.g. {EXAMPLE}")
    group.add_argument("--clear", action="store_true", help="remove the deadline")
    gset.add_argument("--utc", action="store_true", help="take a time without an offset as UTC")
    gset.add_argument("--yes", action="store_true", help="do not ask before a change that sends grades")
    gset.set_defaults(run=gau_set)

    extend = gau.add_parser(
        "extend", help="extend a deadline that has passed, for the whole class (late work up to then counts)"
    )
    extend.add_argument("--course", required=True, type=v.course_id, help=COURSE_HELP)
    extend.add_argument("--activity", required=True, type=v.activity_id, help=ACTIVITY_HELP)
    extend.add_argument("--to", required=True, type=iso_moment, help=f"the new deadline, e.g. {EXAMPLE}")
    extend.add_argument("--utc", action="store_true", help="take a time without an offset as UTC")
    extend.add_argument("--yes", action="store_true", help="do not ask before changing grades")
    extend.set_defaults(run=gau_extend)


def confirm(summary: str, *, yes: bool) -> None:
    """Say what will happen and ask once; `--yes` skips the question. Without a terminal to ask on,
    refuse (exit 2) rather than guess."""
    print(summary, file=sys.stderr)
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError("this changes grades in the LMS: run it again with --yes to confirm")
    answer = input("Go ahead? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CliError("nothing changed")


def gau_set(args: argparse.Namespace) -> int:
    from passback import container
    from passback.services.course_settings import SettingRefused

    gau = None if args.clear else in_utc(args.at, utc=args.utc, option="--at")
    use_target(args)
    settings, now = container.course_settings(), utcnow()
    try:
        preview = settings.preview_gau(args.course, args.activity, gau, now)
        if preview.refused is not None:
            raise SettingRefused(preview.refused)
        if preview.needs_confirmation:
            confirm(preview.summary(), yes=args.yes)
        settings.set_gau(args.course, args.activity, gau, now)
    except SettingRefused as error:
        raise CliError(str(error)) from error
    shown = "none" if gau is None else gau.isoformat()
    print(f"deadline of {args.activity} in {args.course}: {shown}")
    if preview.passed:
        print(
            f"closed now: {preview.zeros} zeros, {preview.changed} grades changed; they reach the LMS within a minute"
        )
    return 0


def gau_extend(args: argparse.Namespace) -> int:
    from passback import container
    from passback.services.course_settings import SettingRefused

    gau = in_utc(args.to, utc=args.utc, option="--to")
    use_target(args)
    settings, now = container.course_settings(), utcnow()
    try:
        preview = settings.preview_extend(args.course, args.activity, gau, now)
        if preview.refused is not None:
            raise SettingRefused(preview.refused)
        confirm(preview.extension_summary(), yes=args.yes)
        settings.extend_gau(args.course, args.activity, gau, now)
    except SettingRefused as error:
        raise CliError(str(error)) from error
    print(f"deadline of {args.activity} in {args.course} extended to {gau.isoformat()}")
    return 0
