"""Operating grades: the catalog, score messages, release, policies, deadlines, resync, the sweep."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from passback.cli import deadlines, find
from passback.cli import validate as v
from passback.cli.deadlines import in_utc, iso_moment
from passback.cli.errors import CliError
from passback.cli.target import use_target
from passback.cli.validate import ACTIVITY_HELP, COURSE_HELP
from passback.clock import utcnow


def register(verbs: Any) -> None:
    activities = verbs.add_parser("activities", help="the activity catalog").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    put = activities.add_parser("put", help="add or change a catalog entry")
    put.add_argument(
        "--id",
        required=True,
        dest="activity_id",
        type=v.activity_id,
        help="the activity id the product uses in its score messages (no spaces), e.g. quiz-1",
    )
    put.add_argument("--title", required=True, type=v.text("title"), help="the title instructors see")
    put.add_argument(
        "--min-questions",
        type=v.integer("minimum number of questions", 1, 10_000),
        default=1,
        help="questions a learner must answer before the grade counts (rule 7; default 1)",
    )
    put.add_argument(
        "--product-url", default=None, type=v.url("product URL"), help="where a learner does the activity (https)"
    )
    put.set_defaults(run=activities_put)
    activities.add_parser("list", help="list the catalog").set_defaults(run=activities_list)

    scores = verbs.add_parser("scores", help="score messages").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    send = scores.add_parser("send", help="publish messages to the score queue, one JSON object per line")
    send.add_argument("file", help="a file of messages (docs/messages.md), or - for standard input")
    send.add_argument("--no-check", action="store_true", help="send lines even when they do not parse")
    send.set_defaults(run=scores_send)

    courses = verbs.add_parser("courses", help="courses").add_subparsers(dest="action", metavar="ACTION", required=True)
    clist = courses.add_parser("list", help="the courses of a platform")
    clist.add_argument(
        "--platform-id",
        required=True,
        type=v.platform_id,
        help="the platform id, as `passback platforms list` or `consumers list` shows",
    )
    clist.set_defaults(run=courses_list)
    find.register_courses(courses)

    release = verbs.add_parser("release", help="release an activity's grades in a course (Release Grades)")
    release.add_argument("--course", required=True, type=v.course_id, help=COURSE_HELP)
    release.add_argument("--activity", required=True, type=v.activity_id, help=ACTIVITY_HELP)
    release.set_defaults(run=release_run)

    policy = verbs.add_parser("policy", help="a course's release policy").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    pset = policy.add_parser("set", help="set the release policy")
    pset.add_argument("--course", required=True, type=v.course_id, help=COURSE_HELP)
    pset.add_argument(
        "--policy",
        required=True,
        choices=["immediate", "at_date", "after_gau", "manual"],
        help="when grades go to the LMS: immediate, at_date (--date), after_gau (each deadline), manual",
    )
    pset.add_argument("--date", type=iso_moment, default=None, help="for at_date: ISO 8601 with the UTC offset")
    pset.add_argument("--utc", action="store_true", help="take a --date without an offset as UTC")
    pset.set_defaults(run=policy_set)

    gau = verbs.add_parser("gau", help="an activity's deadline (grades accepted until)").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    deadlines.register(gau)

    resync = verbs.add_parser("resync", help="clear the backoff and try again now (a cell, an activity, a course)")
    resync.add_argument("--course", required=True, type=v.course_id, help=COURSE_HELP)
    resync.add_argument(
        "--activity", default=None, type=v.activity_id, help="only this activity (default: all of the course's)"
    )
    resync.add_argument(
        "--learner",
        default=None,
        type=v.learner_id,
        help="only this learner (u + 24 letters/digits): `passback learners find EMAIL|NAME` shows it",
    )
    resync.add_argument("--link", default=None, type=v.link_id, help="only this link (l + 20 letters/digits)")
    resync.set_defaults(run=resync_run)

    merges = verbs.add_parser("merges", help="account merge requests (rule 12), for support").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    mlist = merges.add_parser("list", help="the newest requests: pending, confirmed, declined or expired")
    mlist.add_argument(
        "--status",
        choices=["pending", "confirmed", "declined", "expired"],
        default=None,
        help="only requests in this state",
    )
    mlist.add_argument(
        "--limit", type=v.integer("limit", 1, 10_000), default=200, help="at most this many (default 200)"
    )
    mlist.set_defaults(run=merges_list)

    verbs.add_parser("sweep", help="run the retry schedule once: deadlines, release policies, retries").set_defaults(
        run=sweep_run
    )


def activities_put(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    item = container.catalog().put(
        activity_id=args.activity_id,
        title=args.title,
        min_questions=args.min_questions,
        product_url=args.product_url,
        now=utcnow(),
    )
    print(f"{item.activity_id}: {item.title} (grade registers at {item.min_questions} questions)")
    return 0


def activities_list(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    found = container.catalog().list_all()
    for a in found:
        print(f"{a.activity_id}  min={a.min_questions}  {a.title}  {a.product_url or ''}")
    if not found:
        print("no activities in the catalog yet: products announce them (activity messages) or `activities put`")
    return 0


def scores_send(args: argparse.Namespace) -> int:
    from passback import container
    from passback.messages import describe_invalid, parse_product_message

    use_target(args)
    source = sys.stdin if args.file == "-" else Path(args.file).open(encoding="utf-8")  # noqa: SIM115
    bodies = []
    published: set[str] = set()
    waiting: list[int] = []
    with source:
        for number, line in enumerate(source, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if not args.no_check:
                try:
                    message = parse_product_message(text)
                except ValueError as error:
                    raise CliError(f"line {number} is not a valid message: {describe_invalid(error)}") from error
                unknown = _unknown_learner(message)
                if unknown:
                    raise CliError(f"line {number}: {unknown}; nothing was sent (--no-check sends anyway)")
                if _unpublished(message, published):
                    waiting.append(number)
            bodies.append(text)
    sent = container.queues().publish(bodies)
    print(f"sent {sent} message(s) to the score queue")
    if waiting:
        lines = ", ".join(map(str, waiting[:10])) + (" ..." if len(waiting) > 10 else "")
        print(
            f"warning: {len(waiting)} message(s) (line {lines}) name an activity not in the catalog: unless its "
            "activity message is on its way, they will be dead-lettered (`passback deadletters list`)",
            file=sys.stderr,
        )
    return 0


def _unpublished(message: Any, published: set[str]) -> bool:
    """A score for an activity neither in the catalog nor published earlier in the same input."""
    from passback import container
    from passback.messages import ActivityMessage

    if isinstance(message, ActivityMessage):
        published.add(message.activity_id)
        return False
    if message.activity_id in published:
        return False
    return container.catalog().get(message.activity_id) is None


def _unknown_learner(message: Any) -> str | None:
    """A learner id no launch ever handed out: the message could only be dead-lettered."""
    from passback import container
    from passback.messages import ScoreMessage

    learner_id = message.learner.learner_id if isinstance(message, ScoreMessage) else None
    if learner_id is not None and not container.learners().exists(learner_id):
        return f"no learner has the id {learner_id!r} (use the id a launch handed the product)"
    return None


def courses_list(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    v.require_platform(args.platform_id)
    shown = 0
    for course_id in container.courses().list_for_platform(args.platform_id):
        course = container.courses().get(course_id)
        if course is not None:
            shown += 1
            print(f"{course.course_id}  {course.title}  context={course.context_id}  policy={course.release_policy}")
    if not shown:
        print(f"no courses on platform {args.platform_id} yet: a course appears at its first launch")
    return 0


def release_run(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    v.require_activity_in_course(v.require_course(args.course), args.activity)
    job = container.jobs().request("release", args.course, utcnow(), activity_id=args.activity, requested_by="cli")
    print(f"release queued (job {job.job_id}); the grades go out as the release function works through the course")
    return 0


def policy_set(args: argparse.Namespace) -> int:
    from passback import container
    from passback.domain.release import ReleasePolicy
    from passback.services.course_settings import SettingRefused

    date = None if args.date is None else in_utc(args.date, utc=args.utc, option="--date")
    use_target(args)
    v.require_course(args.course)
    if (args.policy == "at_date") != (args.date is not None):
        raise CliError("--date goes with --policy at_date, and at_date needs --date (ISO 8601, e.g. 2026-05-01T09:00Z)")
    try:
        container.course_settings().set_policy(args.course, ReleasePolicy(args.policy), date, now=utcnow())
    except SettingRefused as error:
        raise CliError(str(error)) from error
    print(f"release policy of {args.course}: {args.policy}{' at ' + date.isoformat() if date else ''}")
    return 0


def resync_run(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    course = v.require_course(args.course)
    if args.activity is not None:
        v.require_activity_in_course(course, args.activity)
    if args.link is not None and args.link not in getattr(course, "links", {}):
        raise CliError(
            f"link {args.link} is not in course {args.course}: `passback courses find {args.course} --links`"
        )
    job = container.jobs().request(
        "resync",
        args.course,
        utcnow(),
        activity_id=args.activity,
        learner_id=args.learner,
        link_id=args.link,
        requested_by="cli",
    )
    print(f"resync queued (job {job.job_id})")
    return 0


def sweep_run(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    report = container.sweeper().sweep(utcnow())
    print(json.dumps({"deadlines": report.deadlines, "releases": report.releases, "retries": report.retries}))
    return 0


def merges_list(args: argparse.Namespace) -> int:
    from passback.data.merges import MergeRepository
    from passback.domain.merges import mask_email, merge_status

    use_target(args)
    now = utcnow()
    rows = []
    for record in MergeRepository().listing(args.limit):
        status = merge_status(record.status, record.expires_at, now).value
        if args.status and status != args.status:
            continue
        if status == "confirmed" and record.completed_at is None:
            status = "confirmed (incomplete)"
        rows.append(
            f"{record.request_id}  {status:<22} {mask_email(record.email):<24} "
            f"created {record.created_at:%Y-%m-%d %H:%M}  expires {record.expires_at:%Y-%m-%d %H:%M}  "
            f"course={record.course_id or '-'}  existing={record.existing_learner_id}  "
            f"provisional={record.provisional_learner_id}"
        )
    print("\n".join(rows) if rows else "no merge requests")
    return 0
