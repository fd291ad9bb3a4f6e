"""The gradebook's actions (POST, session and CSRF value checked): release, resync, settings.

Three of them ask once before doing anything, with numbers (issue 18): Release Grades, Resync
the whole course, and a deadline in the past (and extending a passed one). The first POST answers
with the page and a confirmation naming what will happen (how many grades, how many zeros, from
`services.course_settings`' previews); its button posts the same fields with `confirm=yes`. No
JavaScript is involved. After an action the browser lands (303) on a one-time URL of the page
with the same view options and time zone, where the live status takes over.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from passback import container
from passback.domain.release import ReleasePolicy
from passback.observability import logger
from passback.services.course_settings import SettingRefused
from passback.services.gradebook import format_when
from passback.services.gradebook_select import ViewOptions
from passback.web import gradebook_page, pages, session
from passback.web.gradebook_flows import (
    PRIVATE,
    Forbidden,
    authorised_action,
    build,
    forbidden,
    render,
    ticket_url,
    values_of,
    zone_of,
)
from passback.web.gradebook_page import Confirmation
from passback.web.http import HttpRequest, WebResponse


def _back(
    http: HttpRequest, course_id: str, current: session.Session, now: datetime, done: str, anchor: str = ""
) -> WebResponse:
    """Back to the page after an action, on a one-time URL (a browser without the cookie needs it)."""
    zone, _ = zone_of(http, current)
    keep = ViewOptions.parse(values_of(http)).fields()
    keep["tz"] = gradebook_page.zone_name(zone)
    location = ticket_url(course_id, current, now, done=done, **keep) + (f"#{anchor}" if anchor else "")
    return WebResponse(303, headers={"Location": location, **PRIVATE})


def _bad_request(http: HttpRequest, reason: str) -> WebResponse:
    lines = [reason, "Go back to the gradebook and try again."]
    html = pages.message_page("Not done", lines, correlation_id=http.request_id)
    return WebResponse(400, html, headers=dict(PRIVATE))


def _confirmed(http: HttpRequest) -> bool:
    return http.form.get("confirm") == "yes"


def _ask(
    http: HttpRequest, course_id: str, current: session.Session, now: datetime, confirm: Confirmation
) -> WebResponse:
    view = build(http, current, course_id, now)
    if view is None:
        return _bad_request(http, "This course does not exist.")
    return render(http, view, current, confirm=confirm)


def _refused(http: HttpRequest, course_id: str, current: session.Session, now: datetime, reason: str) -> WebResponse:
    view = build(http, current, course_id, now)
    if view is None:
        return _bad_request(http, reason)
    return render(http, view, current, status=400, error=reason)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def release(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """Release Grades for one column: asks once (how many grades), then the release function sends them."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    activity_id = http.form.get("activity") or ""
    course = container.courses().get(course_id)
    if course is None or activity_id not in course.activities:
        return _bad_request(http, "That activity is not assigned in this course.")
    if not _confirmed(http):
        preview = container.course_settings().preview_release(course_id, activity_id, now)
        title = preview.title
        lines = [
            f"This sends {_plural(preview.grades, 'grade')} of {title} to the LMS"
            + (f", {_plural(preview.zeros, 'deadline zero')} among them" if preview.zeros else "")
            + f" ({preview.learners} students; those without a grade get nothing yet). The course averages "
            "that count this activity are sent again too.",
            "Once released, grades cannot be taken back from the LMS by Passback.",
        ]
        confirm = Confirmation(
            title=f"Release the grades of {title}?",
            lines=tuple(lines),
            action=f"{gradebook_page.page_path(course_id)}/release",
            button=f"Release and send {_plural(preview.grades, 'grade')}",
            fields={"activity": activity_id},
        )
        return _ask(http, course_id, current, now, confirm)
    container.jobs().request("release", course_id, now, activity_id=activity_id, requested_by=current.learner_id)
    return _back(http, course_id, current, now, "released", f"col-{activity_id}")


def resync(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """Try again now, skipping the backoff: one cell, one column (activity or homepage link), or the
    course (which asks once: how many cells and grades)."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    course = container.courses().get(course_id)
    if course is None:
        return _bad_request(http, "This course does not exist.")
    jobs = container.jobs()
    who = current.learner_id
    cell = http.form.get("cell")
    activity_id = http.form.get("activity")
    link_id = http.form.get("link")
    if cell:
        learner_id, _, link_id = cell.partition(" ")
        if not learner_id or link_id not in course.links:
            return _bad_request(http, "That cell is not in this course.")
        jobs.request("resync", course_id, now, learner_id=learner_id, link_id=link_id, requested_by=who)
        return _back(http, course_id, current, now, "resync-cell", f"r-{learner_id}")
    if activity_id:
        if activity_id not in course.activities:
            return _bad_request(http, "That activity is not assigned in this course.")
        jobs.request("resync", course_id, now, activity_id=activity_id, requested_by=who)
        return _back(http, course_id, current, now, "resync-column", f"col-{activity_id}")
    if link_id:
        if link_id not in course.links:
            return _bad_request(http, "That link is not in this course.")
        jobs.request("resync", course_id, now, link_id=link_id, requested_by=who)
        return _back(http, course_id, current, now, "resync-column", "col-composite")
    if not _confirmed(http):
        preview = container.course_settings().preview_resync(course_id, now)
        confirm = Confirmation(
            title="Resync the whole course?",
            lines=(
                f"This checks {_plural(preview.cells, 'cell')} ({preview.learners} students x "
                f"{_plural(preview.links, 'link')}) and sends {_plural(preview.grades, 'released grade')} to the LMS "
                "again, overwriting what the LMS holds for them (also grades entered in the LMS by hand).",
            ),
            action=f"{gradebook_page.page_path(course_id)}/resync",
            button=f"Resync and send {_plural(preview.grades, 'grade')}",
            fields={"scope": "course"},
        )
        return _ask(http, course_id, current, now, confirm)
    jobs.request("resync", course_id, now, requested_by=who)
    return _back(http, course_id, current, now, "resync-course")


def parse_moment(text: str, zone: tzinfo = UTC) -> datetime:
    """A `datetime-local` value (a wall-clock time in the page's zone) or any ISO 8601 moment with an offset."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo:
        return moment.astimezone(UTC)
    stored = moment.replace(tzinfo=zone).astimezone(UTC)
    # A wall-clock time the clocks jump over (spring forward) would silently move an hour: refuse it.
    # A time that happens twice (fall back) means its first occurrence, the earlier deadline.
    if stored.astimezone(zone).replace(tzinfo=None) != moment:
        raise ValueError(f"{text.strip()} does not exist in {zone} (the clocks jump over it): choose another time")
    return stored


def _not_a_moment(raw: str, error: ValueError) -> str:
    said = str(error)
    return f"{said}." if "does not exist in" in said else f"{raw!r} is not a date and time."


def set_policy(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    zone, _ = zone_of(http, current)
    try:
        policy = ReleasePolicy(http.form.get("policy") or "")
    except ValueError:
        return _refused(http, course_id, current, now, "Choose one of the release policies.")
    raw_date = (http.form.get("release_date") or "").strip()
    try:
        release_date = parse_moment(raw_date, zone) if raw_date else None
    except ValueError as error:
        return _refused(http, course_id, current, now, _not_a_moment(raw_date, error))
    try:
        container.course_settings().set_policy(course_id, policy, release_date, now=now)
    except SettingRefused as refused:
        return _refused(http, course_id, current, now, str(refused))
    logger.info("release policy set", extra={"course": course_id, "policy": policy.value, "by": current.learner_id})
    return _back(http, course_id, current, now, "policy", "settings")


def set_deadlines(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """Save every changed deadline field (`gau-<idx>`, a local time in the page's zone). A deadline in the
    past asks once, naming the zeros; a refused one is reported, the others are saved."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    course = container.courses().get(course_id)
    if course is None:
        return _bad_request(http, "This course does not exist.")
    zone, _ = zone_of(http, current)
    settings = container.course_settings()
    refusals: list[str] = []
    changes: list[tuple[str, str, str, datetime | None]] = []
    for activity in sorted(course.activities.values(), key=lambda a: a.idx):
        field = f"gau-{activity.idx}"
        if field not in http.form:
            continue  # a passed deadline's field is disabled, so it is not submitted
        raw = http.form[field].strip()
        if raw == gradebook_page.datetime_local(activity.gau, zone):
            continue
        title = activity.title or activity.activity_id
        try:
            gau = parse_moment(raw, zone) if raw else None
        except ValueError as error:
            refusals.append(f"{title}: {_not_a_moment(raw, error)}")
            continue
        changes.append((activity.activity_id, field, raw, gau))
    if refusals:
        return _refused(http, course_id, current, now, " ".join(refusals))
    if not _confirmed(http):
        confirm = _deadline_confirmation(course_id, changes, zone, now)
        if confirm is not None:
            return _ask(http, course_id, current, now, confirm)
    for activity_id, _, raw, gau in changes:
        try:
            settings.set_gau(course_id, activity_id, gau, now)
        except SettingRefused as refused:
            refusals.append(str(refused))
            continue
        logger.info(
            "deadline set",
            extra={"course": course_id, "activity": activity_id, "gau": raw, "by": current.learner_id},
        )
    if refusals:
        return _refused(http, course_id, current, now, " ".join(refusals))
    return _back(http, course_id, current, now, "gau", "settings")


def _deadline_confirmation(
    course_id: str, changes: list[tuple[str, str, str, datetime | None]], zone: tzinfo, now: datetime
) -> Confirmation | None:
    """What saving these deadlines would do, when one of them is in the past and would change grades."""
    settings = container.course_settings()
    asks: list[str] = []
    zeros = 0
    for activity_id, _, _, gau in changes:
        preview = settings.preview_gau(course_id, activity_id, gau, now)
        if preview.needs_confirmation and gau is not None:
            zeros += preview.zeros
            asks.append(
                f"{preview.title}: {format_when(gau, zone)} is in the past, so saving closes it now: "
                f"{_plural(preview.zeros, 'student')} of {preview.learners} get a zero, and "
                f"{_plural(preview.changed, 'grade')} change in the LMS."
            )
    if not asks:
        return None
    return Confirmation(
        title="Save a deadline in the past?",
        lines=(*asks, "Nothing is saved until you confirm."),
        action=f"{gradebook_page.page_path(course_id)}/settings/gau",
        button=f"Save and give {_plural(zeros, 'zero')}",
        fields={field: raw for _, field, raw, _ in changes},
    )


def extend_deadline(http: HttpRequest, course_id: str, now: datetime) -> WebResponse:
    """Extend a passed deadline for the whole class (`extend-<idx>`): asks once, with what will change."""
    try:
        current = authorised_action(http, course_id, now)
    except Forbidden as error:
        return forbidden(http, str(error))
    course = container.courses().get(course_id)
    activity_id = http.form.get("activity") or ""
    if course is None or activity_id not in course.activities:
        return _bad_request(http, "That activity is not assigned in this course.")
    zone, _ = zone_of(http, current)
    raw = (http.form.get("until") or "").strip()
    try:
        gau = parse_moment(raw, zone)
    except ValueError as error:
        return _refused(http, course_id, current, now, _not_a_moment(raw, error))
    settings = container.course_settings()
    if not _confirmed(http):
        preview = settings.preview_extend(course_id, activity_id, gau, now)
        if preview.refused is not None:
            return _refused(http, course_id, current, now, preview.refused)
        lines = [
            f"This moves the deadline of {preview.title} to {format_when(gau, zone)} for all {preview.learners} "
            f"students: work done until then counts, and {_plural(preview.changed, 'grade')} change.",
        ]
        if preview.withdrawn:
            lines.append(
                f"{_plural(preview.withdrawn, 'student')} lose their deadline zero here; the zero already in the "
                "LMS stays there until their grade registers or the new deadline passes."
            )
        confirm = Confirmation(
            title=f"Extend the deadline of {preview.title}?",
            lines=tuple(lines),
            action=f"{gradebook_page.page_path(course_id)}/settings/extend",
            button="Extend the deadline",
            fields={"activity": activity_id, "until": raw},
        )
        return _ask(http, course_id, current, now, confirm)
    try:
        settings.extend_gau(course_id, activity_id, gau, now)
    except SettingRefused as refused:
        return _refused(http, course_id, current, now, str(refused))
    logger.info("deadline extended", extra={"course": course_id, "activity": activity_id, "by": current.learner_id})
    return _back(http, course_id, current, now, "gau", "settings")
