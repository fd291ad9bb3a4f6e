"""What the CLI accepts: argument types that refuse nonsense before anything is written or queued.

Each type raises `argparse.ArgumentTypeError` with a sentence that says what is wrong and what to
type instead; the parser prints it on one line and exits 2 (cli/__init__.py). References that must
exist (a course, an activity, a platform) are checked by `require_*` once the stack is known.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from passback.cli.errors import CliError

# The ids Passback makes (passback.ids): a letter, then lower-case base32.
COURSE_ID = re.compile(r"^c[a-z2-7]{20}$")
PLATFORM_ID = re.compile(r"^p[a-z2-7]{12}$")
LEARNER_ID = re.compile(r"^u[a-z2-7]{24}$")
LINK_ID = re.compile(r"^l[a-z2-7]{20}$")
# Ids others choose (activity ids, consumer keys, client and deployment ids): printable, no spaces,
# no '#' (the tables' key separator), as the score messages require (messages.Id).
NAME_ID = re.compile(r"^[^\s#\x00-\x1f]+$")
MAX_ID = 256
LOOPBACK_HOSTS = {"localhost"}


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def url(what: str) -> Callable[[str], str]:
    """An absolute https URL; http only for loopback (a local LMS or the emulator)."""

    def parse(text: str) -> str:
        value = text.strip()
        try:
            parts = urlsplit(value)
            host = parts.hostname or ""
        except ValueError:
            parts, host = urlsplit(""), ""
        if parts.scheme == "https" and host:
            return value
        if parts.scheme == "http" and host and _is_loopback(host):
            return value
        if parts.scheme == "http" and host:
            raise argparse.ArgumentTypeError(
                f"{_short(text)} is not https: the {what} must be an https:// URL (http only for 127.0.0.1/localhost)"
            )
        raise argparse.ArgumentTypeError(
            f"{_short(text)} is not a URL: give the {what} in full, e.g. https://lms.example.edu/..."
        )

    return parse


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def name_id(what: str, example: str) -> Callable[[str], str]:
    """An id someone else chose: non-empty, no spaces or '#', at most 256 characters."""

    def parse(text: str) -> str:
        value = text.strip()
        if not value:
            raise argparse.ArgumentTypeError(f"the {what} is empty: give one, e.g. {example}")
        if len(value) > MAX_ID:
            raise argparse.ArgumentTypeError(f"the {what} is {len(value)} characters long: at most {MAX_ID}")
        if not NAME_ID.match(value):
            raise argparse.ArgumentTypeError(
                f"{_short(text)} is not a valid {what}: no spaces, '#' or control characters (e.g. {example})"
            )
        return value

    return parse


def made_id(what: str, pattern: re.Pattern[str], shape: str, find: str) -> Callable[[str], str]:
    """An id Passback made (a course, platform, learner or link id), with where to find one."""

    def parse(text: str) -> str:
        value = text.strip()
        if not pattern.match(value):
            raise argparse.ArgumentTypeError(
                f"{_short(text)} is not a {what} ({shape}): {find.format(text=value or 'TEXT')}"
            )
        return value

    return parse


course_id = made_id(
    "course id",
    COURSE_ID,
    "'c' and 20 letters or digits",
    "find it with `passback courses find {text}` (title, LMS context id or course id)",
)
platform_id = made_id(
    "platform id", PLATFORM_ID, "'p' and 12 letters or digits", "see `passback platforms list` or `consumers list`"
)
learner_id = made_id(
    "learner id", LEARNER_ID, "'u' and 24 letters or digits", "find it with `passback learners find EMAIL|NAME`"
)
link_id = made_id(
    "link id", LINK_ID, "'l' and 20 letters or digits", "`passback courses find TEXT --links` lists a course's links"
)
COURSE_HELP = "the course id (c + 20 letters/digits): `passback courses find TITLE` shows it"
ACTIVITY_HELP = "the activity id, as `passback activities list` shows it (e.g. quiz-1)"
activity_id = name_id("activity id", "quiz-1 (as `passback activities list` shows)")


def text(what: str, *, max_length: int = 500) -> Callable[[str], str]:
    """Free text that must say something (a title, a name)."""

    def parse(value: str) -> str:
        stripped = value.strip()
        if not stripped:
            raise argparse.ArgumentTypeError(f"the {what} is empty: give one, e.g. 'Chapter 1 quiz'")
        if len(stripped) > max_length:
            raise argparse.ArgumentTypeError(f"the {what} is {len(stripped)} characters long: at most {max_length}")
        return stripped

    return parse


def integer(what: str, low: int, high: int) -> Callable[[str], int]:
    """A whole number in [low, high]."""

    def parse(value: str) -> int:
        try:
            number = int(value.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_short(value)} is not a whole number: the {what} is one") from None
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is out of range: the {what} is from {low} to {high}")
        return number

    return parse


def number(what: str, low: float, high: float) -> Callable[[str], float]:
    def parse(value: str) -> float:
        try:
            parsed = float(value.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_short(value)} is not a number: the {what} is one") from None
        if not low <= parsed <= high:
            raise argparse.ArgumentTypeError(f"{value.strip()} is out of range: the {what} is from {low:g} to {high:g}")
        return parsed

    return parse


def port(value: str) -> int:
    return integer("port", 0, 65535)(value)


# ---------------------------------------------------------------------- references that must exist


def require_course(course_id: str) -> object:
    """The course, or a refusal naming how to find one. Checked before anything is queued."""
    from passback import container

    course = container.courses().get(course_id)
    if course is None:
        raise CliError(f"no course {course_id} on this stack: find the id with `passback courses find TITLE`")
    return course


def require_activity_in_course(course: object, activity_id: str) -> None:
    activities = getattr(course, "activities", {})
    if activity_id not in activities:
        known = ", ".join(sorted(activities)) or "none yet (an instructor's launch of an activity link assigns one)"
        raise CliError(
            f"activity {activity_id} is not assigned to course {getattr(course, 'course_id', '?')}: "
            f"its activities are {known}"
        )


def require_platform(platform_id: str) -> None:
    from passback import container

    known = {p.platform_id for p in container.platforms().list_all()}
    known |= {c.platform_id for c in container.consumers().list_all()}
    if platform_id not in known:
        raise CliError(
            f"no platform {platform_id} on this stack: `passback platforms list` and `passback consumers list` "
            "show the platform ids"
        )
