"""Finding things for support: a course by its LMS title or context id, a learner by email or name.

Both read the search index (data/search.py) with Queries, never a Scan, across every platform.
"""

from __future__ import annotations

import argparse
from typing import Any

from passback.cli import validate as v
from passback.cli.errors import CliError
from passback.cli.target import use_target
from passback.domain.search import MIN_SEARCH_LENGTH, lookups


def register_courses(courses: Any) -> None:
    """`courses find`, beside `courses list` (registered by cli/operate.py)."""
    cfind = courses.add_parser("find", help="find courses by title, LMS context id or course id, on every platform")
    cfind.add_argument("text", help="words of the title (e.g. 'bio 101'), an LMS context id, or a course id")
    cfind.add_argument("--links", action="store_true", help="also list each course's links and activities")
    cfind.add_argument(
        "--limit", type=v.integer("limit", 1, 500), default=50, help="at most this many courses (default 50)"
    )
    cfind.set_defaults(run=courses_find)


def register(verbs: Any) -> None:
    learners = verbs.add_parser("learners", help="learners, for support").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    lfind = learners.add_parser("find", help="find learners by email, words of their name, or learner id")
    lfind.add_argument("text", help="an email, words of the name as the LMS sent it (e.g. 'ada love'), or a learner id")
    lfind.add_argument(
        "--limit", type=v.integer("limit", 1, 500), default=50, help="at most this many learners (default 50)"
    )
    lfind.set_defaults(run=learners_find)


def _searchable(text: str) -> str:
    if not lookups(text):
        raise CliError(f"{text!r} is too short to search: give at least {MIN_SEARCH_LENGTH} letters or digits")
    return text


def courses_find(args: argparse.Namespace) -> int:
    from passback import container
    from passback.data.search import COURSES, SearchIndex

    use_target(args)
    text = args.text.strip()
    ids = [text] if v.COURSE_ID.match(text) else SearchIndex().find(COURSES, _searchable(text), args.limit)
    shown = 0
    for course_id in ids:
        course = container.courses().get(course_id)
        if course is None:
            continue
        shown += 1
        print(
            f"{course.course_id}  {course.title}  context={course.context_id}  platform={course.platform_id}  "
            f"LTI {course.lti_version}  policy={course.release_policy.value}"
        )
        if args.links:
            for link in course.links.values():
                print(f"    link {link.link_id}  {link.title or '-'}  activity={link.activity_id or '(home page)'}")
            for activity in course.activities.values():
                print(f"    activity {activity.activity_id}  {activity.title or '-'}")
    if not shown:
        print(f"no course matches {text!r}: try a word of its title or its LMS context id")
    return 0


def learners_find(args: argparse.Namespace) -> int:
    from passback import container
    from passback.data.search import LEARNERS, SearchIndex

    use_target(args)
    text = args.text.strip()
    repo = container.learners()
    ids: list[str] = []
    if v.LEARNER_ID.match(text):
        ids.append(text)
    else:
        if "@" in text:
            owner = repo.by_email(text)
            if owner is not None:
                ids.append(owner)
        ids += [i for i in SearchIndex().find(LEARNERS, _searchable(text), args.limit) if i not in ids]
    shown = 0
    for learner_id in ids[: args.limit]:
        learner = repo.get(learner_id)
        if learner is None:
            continue
        shown += 1
        merged = f"  merged into {learner.merged_into}" if learner.merged_into else ""
        print(
            f"{learner.learner_id}  {learner.name or '-'}  {learner.email or '-'}  "
            f"since {learner.created_at:%Y-%m-%d}{merged}"
        )
    if not shown:
        print(f"no learner matches {text!r}: try their email or a word of their name as the LMS sends it")
    return 0
