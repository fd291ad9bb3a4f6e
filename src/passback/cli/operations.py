"""`passback deadletters list|show|redrive`: what the dead-letter queues hold, why, and sending it back.

Acts on the local stack or a deployed one like every verb (--stack, --region, --profile).
docs/operations.md says when to redrive (after fixing the cause) and when to leave a message.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from passback.cli import validate as v
from passback.cli.errors import CliError
from passback.cli.target import use_target

QUEUES = ("score", "release")


def register(verbs: Any) -> None:
    dead = verbs.add_parser(
        "deadletters", help="the dead-letter queues (score and release): list, show, redrive"
    ).add_subparsers(dest="action", metavar="ACTION", required=True)
    dlist = dead.add_parser("list", help="the parked messages with their reasons, newest last")
    _queue_option(dlist)
    dlist.add_argument(
        "--limit", type=v.integer("limit", 1, 10_000), default=100, help="at most this many per queue (default 100)"
    )
    _product_option(dlist)
    dlist.set_defaults(run=deadletters_list)
    show = dead.add_parser("show", help="one message in full: body, reason, detail, attributes")
    show.add_argument("message_id", type=v.name_id("message id", "3f2a9c1e"), help="its id, or the start of it")
    show.set_defaults(run=deadletters_show)
    redrive = dead.add_parser("redrive", help="send messages back to their queue (after fixing what made them fail)")
    _queue_option(redrive)
    which = redrive.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--id",
        action="append",
        dest="ids",
        type=v.name_id("message id", "3f2a9c1e"),
        help="a message id (or its start) from `deadletters list`; repeat for several",
    )
    which.add_argument("--all", action="store_true", help="every message of the queue(s)")
    which.add_argument(
        "--product", metavar="PRODUCT_ID", default=None, help="every message one product posted through the API"
    )
    redrive.set_defaults(run=deadletters_redrive)


def _product_option(parser: Any) -> None:
    parser.add_argument(
        "--product", metavar="PRODUCT_ID", default=None, help="only what this product posted through the API"
    )


def _queue_option(parser: Any) -> None:
    parser.add_argument(
        "--queue", choices=[*QUEUES, "both"], default="both", help="the score or release queue's (default both)"
    )


def _chosen(args: argparse.Namespace) -> list[Any]:
    from passback import container

    wanted = QUEUES if args.queue == "both" else (args.queue,)
    queues = [q for q in container.dead_letters().queues if q.name in wanted]
    if not queues:
        raise CliError("this stack names no dead-letter queue (PASSBACK_SCORE_DLQ_URL, PASSBACK_RELEASE_DLQ_URL)")
    return queues


def deadletters_list(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    letters = container.dead_letters()
    for queue in _chosen(args):
        found = letters.read(queue, args.limit)
        if args.product:
            found = [x for x in found if x.product_id == args.product]
        depth = letters.depth(queue)
        if args.product:
            print(f"{queue.name} dead-letter queue: {depth} message(s), {len(found)} from {args.product}")
        else:
            print(
                f"{queue.name} dead-letter queue: {depth} message(s)"
                + (f", first {len(found)}" if depth > len(found) else "")
            )
        for letter in sorted(found, key=lambda x: x.sent_at.timestamp() if x.sent_at else 0):
            sent = f"{letter.sent_at:%Y-%m-%d %H:%M:%S}" if letter.sent_at else "-"
            detail = f": {letter.detail[:120]}" if letter.detail else ""
            product = f"  [{letter.product_id}]" if letter.product_id else ""
            print(f"  {letter.message_id}  {sent}{product}  {letter.reason}{detail}")
        if not found:
            print("  (empty)")
    return 0


def deadletters_show(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    letter = container.dead_letters().find(args.message_id)
    if letter is None:
        raise CliError(f"no dead letter {args.message_id} in either queue: `passback deadletters list` shows the ids")
    try:
        body = json.dumps(json.loads(letter.body), indent=2)
    except ValueError:
        body = letter.body
    print(f"queue     {letter.queue}")
    print(f"id        {letter.message_id}")
    print(f"sent      {letter.sent_at:%Y-%m-%d %H:%M:%S} UTC" if letter.sent_at else "sent      -")
    print(f"reason    {letter.reason}")
    print(f"detail    {letter.detail or '-'}")
    print(f"received  {letter.receives} time(s)")
    print(f"product   {letter.product_id or '- (sent to the queue directly)'}")
    print("body")
    print(body)
    return 0


def deadletters_redrive(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    letters = container.dead_letters()
    only = set(args.ids) if args.ids else None
    total = 0
    for queue in _chosen(args):

        def progress(moved: int, name: str = queue.name) -> None:
            if moved % 100 == 0:
                print(f"  {name}: {moved} sent back so far...", file=sys.stderr, flush=True)

        moved = letters.redrive(queue, only=only, progress=progress, product_id=args.product)
        total += moved
        print(f"{queue.name}: sent {moved} message(s) back to the {queue.name} queue")
    if only is not None and total < len(only):
        print(f"{len(only) - total} of the ids given were not found (already redriven?)", file=sys.stderr)
        return 1
    return 0
