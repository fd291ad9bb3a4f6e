"""`passback roster sync`: read a course's roster from its LMS (NRPS) now, with progress.
`passback roster zero-fill`: whether deadline zeros reach learners who never opened Passback (rule 13)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from passback.cli import validate as v
from passback.cli.target import use_target
from passback.clock import utcnow


def register(verbs: Any) -> None:
    roster = verbs.add_parser("roster", help="a course's roster from the LMS (Names and Role Provisioning)")
    actions = roster.add_subparsers(dest="action", required=True)
    sync = actions.add_parser(
        "sync",
        help="read the course's members now: enroll learners who never launched, mark those who left "
        "(writes only what changed)",
    )
    sync.add_argument("--course", required=True, help="the Passback course id (passback courses list)")
    sync.set_defaults(run=sync_run)
    zero = actions.add_parser(
        "zero-fill",
        help="send deadline zeros to learners who never opened Passback (on, the default) or not (off); "
        "a change resyncs the course, and zeros already in the LMS stay there",
    )
    zero.add_argument(
        "--course", required=True, type=v.course_id, help="the Passback course id (passback courses list)"
    )
    zero.add_argument("never_opened", choices=("on", "off"), help="on: send them (default); off: do not")
    zero.set_defaults(run=zero_fill_run)


def zero_fill_run(args: argparse.Namespace) -> int:
    from passback import container
    from passback.cli.errors import CliError
    from passback.services.course_settings import SettingRefused

    use_target(args)
    v.require_course(args.course)
    try:
        changed = container.course_settings().set_zero_fill(args.course, args.never_opened == "on", utcnow())
    except SettingRefused as error:
        raise CliError(str(error)) from error
    words = "sent" if args.never_opened == "on" else "not sent (zeros already in the LMS stay there)"
    if not changed:
        print(
            f"{args.course}: unchanged; deadline zeros of learners who never opened Passback are {words}; resync queued"
        )
        return 0
    print(f"{args.course}: deadline zeros of learners who never opened Passback are now {words}; resync queued")
    return 0


def sync_run(args: argparse.Namespace) -> int:
    from passback import container
    from passback.lms.errors import LmsError
    from passback.services.roster import RosterUnavailable

    print(use_target(args), file=sys.stderr)

    def progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    try:
        report = container.roster().sync(args.course, utcnow(), on_progress=progress)
    except RosterUnavailable as error:
        print(f"passback: {error}", file=sys.stderr)
        return 1
    except LmsError as error:
        what = "try again later" if error.retryable else "check the tool's NRPS scope in the LMS"
        print(f"passback: the LMS refused the roster read: {error.message} ({what})", file=sys.stderr)
        return 1
    print(
        f"roster of {report.course_id}: {report.members} members in {report.pages} page(s); "
        f"{report.added} learners added (never opened Passback), {report.status_changed} changed status"
        + (
            f", {report.waiting_for_merge} wait for their first launch (their email has an account)"
            if report.waiting_for_merge
            else ""
        )
        + ("; their grades are being sent" if report.queued_sync else "")
    )
    return 0
