"""The gradebook page: server-rendered HTML that works without JavaScript, every value escaped.

Top to bottom: the course, a confirmation when an action needs one, what happened after the
last action, the summary (counts, needs attention, Refresh, Resync the whole course, CSV), the
view controls (search, filter, sort, page size), the table (`gradebook_table.py`) with paging,
a compact legend and the settings. The session and CSRF value travel in the hidden forms `act`
and `view` (POST bodies, never URLs: web/session.py); every button names one of them.

Times are shown in the instructor's time zone with its offset (`view.zone`); the deadline and
release-date inputs take local times in that zone, and the forms say which zone (`tz`), so the
server stores UTC. One small script (`gradebook_live.py`) updates cells live and switches to
the browser's zone; nothing depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from html import escape
from urllib.parse import quote, urlencode

from passback.domain.records import CourseRecord
from passback.domain.release import ReleasePolicy
from passback.services.gradebook import MARKS, POLICY_WORDS, GradebookView, Mark, format_when, offset_text
from passback.services.gradebook_select import (
    ATTENTION,
    EVERYTHING,
    PAGE_SIZES,
    REFUSED,
    Selection,
    ViewOptions,
    select,
)
from passback.web import gradebook_live, gradebook_table
from passback.web.gradebook_style import FOCUS, INK, MUTED, STYLE, TONE_COLOURS, style_hash

__all__ = ["FOCUS", "INK", "MUTED", "TONE_COLOURS", "Confirmation", "render", "style_hash"]


def e(value: object) -> str:
    return escape(str(value), quote=True)


DONE_MESSAGES = {
    "released": "Release requested: the column's grades are on their way to the LMS.",
    "resync-cell": "Trying again: this grade is being sent to the LMS now.",
    "resync-column": "Resync requested for the column: its grades are being sent again.",
    "resync-course": "Resync requested for the whole course: every grade is being checked and sent again.",
    "policy": "Release policy saved.",
    "gau": "Deadlines saved.",
    "column-recreated": "The LMS column was recreated: the link's grades are being sent to it.",
    "zero-fill": "Saved: the course's grades are being checked and sent where that changed anything.",
    "zero-fill-same": "The course already had that setting; its grades are being checked against the LMS again.",
    "roster-sync": "Roster update requested: Passback is reading the course's members from the LMS (a minute for a "
    "large course); learners who have not opened Passback yet then appear.",
}
# Actions whose effect arrives in the next seconds: the page watches for it.
WATCHED = frozenset(
    {
        "released",
        "resync-cell",
        "resync-column",
        "resync-course",
        "policy",
        "gau",
        "column-recreated",
        "roster-sync",
        "zero-fill",
    }
)
NO_SCRIPT_NOTE = "This page does not update by itself without JavaScript: use Refresh in a few seconds."


@dataclass(frozen=True)
class Confirmation:
    """An action that asks once before doing it: what it will do, in numbers, and the button that does it."""

    title: str
    lines: tuple[str, ...]
    action: str  # the path the confirm button posts to
    button: str
    fields: dict[str, str] = field(default_factory=dict)


def page_path(course_id: str) -> str:
    return f"/gradebook/{quote(course_id, safe='')}"


def page_url(course_id: str, ticket: str, **extra: str) -> str:
    """The page's URL with a one-time ticket (`web/session.py`), never a session."""
    return f"{page_path(course_id)}?{urlencode({'t': ticket, **extra})}"


def zone_name(zone: tzinfo) -> str:
    return "UTC" if zone is UTC else str(getattr(zone, "key", zone))


def datetime_local(moment: datetime | None, zone: tzinfo = UTC) -> str:
    """A `datetime-local` value: the moment's wall-clock time in `zone`."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if moment else ""


def render(
    view: GradebookView,
    *,
    token: str,
    csrf: str,
    session_expires: datetime | None = None,
    done: str | None = None,
    error: str | None = None,
    selection: Selection | None = None,
    confirm: Confirmation | None = None,
    zone_chosen: bool = False,
    watch: bool = False,
) -> str:
    course = view.course
    base = page_path(course.course_id)
    selection = selection or select(view, ViewOptions())
    keep = {**selection.options.fields(), "tz": zone_name(view.zone)}
    parts: list[str] = [_header(view, session_expires)]
    if confirm is not None:
        parts.append(_confirmation(confirm, token, csrf, keep))
    if done in DONE_MESSAGES:
        # Said in the HTML, so it holds without a script; the script replaces it (it does update the page).
        extra = f' <span class="nojs">{e(NO_SCRIPT_NOTE)}</span>' if done in WATCHED else ""
        parts.append(f'<div class="flash" role="status">{e(DONE_MESSAGES[done])}{extra}</div>')
    if error:
        parts.append(f'<div class="flash error" role="alert"><strong>Not saved.</strong> {e(error)}</div>')
    hidden_keep = "".join(f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in keep.items())
    # The session travels in these forms' bodies, never in a URL (web/session.py). `act` carries
    # the view options too, so the page after an action shows the same view.
    parts.append(
        f'<form id="act" method="post" action="{base}/resync">'
        f'<input type="hidden" name="s" value="{e(token)}"><input type="hidden" name="csrf" value="{e(csrf)}">'
        f"{hidden_keep}</form>"
        f'<form id="view" method="post" action="{base}"><input type="hidden" name="s" value="{e(token)}">'
        f'<input type="hidden" name="tz" value="{e(zone_name(view.zone))}"></form>'
    )
    parts.append(glance(view, base))
    parts.append(_controls(view, selection))
    parts.append(gradebook_table.table(view, selection, base))
    parts.append(_pager(selection))
    parts.append(_legend())
    parts.append(_settings(view, base, token, csrf))
    sending = gradebook_live.sending_on(selection)
    attributes = {
        "data-live": f"{base}/live",
        "data-tz": zone_name(view.zone),
        "data-tz-auto": "0" if zone_chosen else "1",
        "data-watch": "1" if (watch or sending or done in WATCHED) else "0",
        "data-done": done if done in DONE_MESSAGES else "",
    }
    return _document(f"{course.title}: gradebook", "".join(parts), attributes)


def _document(title: str, body: str, attributes: dict[str, str]) -> str:
    attrs = "".join(f' {k}="{e(v)}"' for k, v in attributes.items())
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{e(title)} · Passback</title><style>{STYLE}</style></head>"
        f"<body><main{attrs}>{body}</main><script>{gradebook_live.SCRIPT}</script></body></html>"
    )


def _header(view: GradebookView, session_expires: datetime | None) -> str:
    course = view.course
    zone = view.zone
    facts = [
        f"LTI {e(course.lti_version)}" if not course.lti13_issuer else "LTI 1.1, now LTI 1.3 (each cell says how)",
        f"{len(view.rows)} learner{'s' if len(view.rows) != 1 else ''}",
        f"{len(course.activities)} activit{'ies' if len(course.activities) != 1 else 'y'}",
        f"release policy: {e(_policy_short(view))}",
        f"times in {e(zone_name(zone))} ({e(offset_text(view.now, zone))})",
    ]
    if session_expires is not None:
        facts.append(f"this page's session ends {e(format_when(session_expires, zone))}")
    return (
        f'<header><h1>{e(course.title)} <span class="muted">· gradebook</span></h1>'
        f'<p class="muted">{" · ".join(facts)}</p></header>'
    )


def _policy_short(view: GradebookView) -> str:
    policy = view.course.release_policy
    if policy is ReleasePolicy.AT_DATE and view.course.release_date is not None:
        return f"at {format_when(view.course.release_date, view.zone)}"
    return {
        ReleasePolicy.IMMEDIATE: "immediately",
        ReleasePolicy.AT_DATE: "at a date (none set)",
        ReleasePolicy.AFTER_GAU: "after each deadline",
        ReleasePolicy.MANUAL: "manual (Release Grades)",
    }[policy]


def _confirmation(confirm: Confirmation, token: str, csrf: str, keep: dict[str, str]) -> str:
    fields = {"s": token, "csrf": csrf, **keep, **confirm.fields, "confirm": "yes"}
    hidden = "".join(f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in fields.items())
    lines = "".join(f"<p>{e(line)}</p>" for line in confirm.lines)
    return (
        '<section class="confirm" role="alert" aria-labelledby="confirm-title">'
        f'<h2 id="confirm-title">{e(confirm.title)}</h2>{lines}'
        f'<form method="post" action="{e(confirm.action)}">{hidden}'
        f'<button class="primary" type="submit" autofocus>{e(confirm.button)}</button></form> '
        '<button form="view">Cancel</button></section>'
    )


def mark_badge(mark: Mark, count: int | None = None) -> str:
    words = e(mark.label) if count is None else f"{count} {e(mark.label)}"
    symbol = f'<span class="sym" aria-hidden="true">{e(mark.symbol)}</span>'
    return f'<span class="mk {mark.tone.value}">{symbol}{words}</span>'


def glance(view: GradebookView, base: str) -> str:
    totals = "".join(
        f"<li>{mark_badge(mark, view.totals[status])}</li>" for status, mark in MARKS.items() if view.totals.get(status)
    )
    attention = view.needs_attention
    summary = (
        f"{attention} cell{'s' if attention != 1 else ''} need{'' if attention != 1 else 's'} attention."
        if attention
        else "Nothing needs your attention."
    )
    refused = view.refused_reports
    show_refused = (
        f' <button form="view" name="show_only" value="{REFUSED}">Show learners with a refused report</button>'
        if refused
        else ""
    )
    if refused:  # not a status: the cells' grades stand; the notices say what to ask the product (gradebook.md)
        summary += (
            f" {refused} cell{'s' if refused != 1 else ''} show{'' if refused != 1 else 's'} a report that a product "
            "dated in the future and Passback refused (marked \u26a0 report refused): open it for what to ask."
        )
    inner = (
        '<h2 class="vh">At a glance</h2>'
        f'<p><strong>{e(summary)}</strong>{show_refused} <span class="live" id="live" aria-live="polite"></span></p>'
        f'<ul class="totals" aria-label="Cells by status">{totals}</ul>'
        '<div class="bar">'
        '<button form="view">Refresh</button>'
        f'<button form="act" formaction="{base}/resync" name="scope" value="course">Resync the whole course</button>'
        + (
            f'<button form="act" formaction="{base}/roster-sync">Update the roster from the LMS</button>'
            if view.course.lti_version == "1.3" or view.course.lti13_issuer  # a migrated course has NRPS too
            else ""
        )
        + f'<button form="act" formaction="{base}/export.csv">Download as CSV (grades and statuses)</button>'
        '<a href="#settings">Settings: release policy and deadlines</a>'
        "</div>"
    )
    return gradebook_table.versioned("section", "glance", ' aria-label="At a glance"', inner)


def _controls(view: GradebookView, selection: Selection) -> str:
    options = selection.options
    shows = [(EVERYTHING, "Everything"), (ATTENTION, "Needs attention")] + [
        (mark.key, f"With a cell: {mark.label}") for mark in MARKS.values()
    ]
    if options.show == REFUSED or any(c.refusal is not None for row in view.rows for c in row.cells):
        shows.append((REFUSED, "With a report refused for its date"))
    show = "".join(
        f'<option value="{e(k)}"{" selected" if options.show == k else ""}>{e(label)}</option>' for k, label in shows
    )
    sorts = [("name", "Name"), ("email", "Email")] + [
        (f"col-{i}", f"{column.title} grade") for i, column in enumerate(view.columns)
    ]
    sort = "".join(
        f'<option value="{e(k)}"{" selected" if options.sort == k else ""}>{e(label)}</option>' for k, label in sorts
    )
    order = "".join(
        f'<option value="{k}"{" selected" if options.order == k else ""}>{label}</option>'
        for k, label in (("asc", "Ascending"), ("desc", "Descending"))
    )
    per = "".join(f'<option value="{n}"{" selected" if options.per == n else ""}>{n}</option>' for n in PAGE_SIZES)
    one_click = (
        '<button form="view" name="show_only" value="all">Show everything</button>'
        if options.show == ATTENTION
        else '<button form="view" name="show_only" value="attention">Needs attention only</button>'
    )
    shown = (
        f"Showing {len(selection.rows)} of {selection.matching} matching learners ({selection.total} in the course)."
        if selection.matching != selection.total or selection.pages > 1
        else f"Showing all {selection.total} learners."
    )
    return (
        '<section class="view-controls" aria-label="Find learners">'
        '<div class="controls">'
        f'<label>Search name or email<input type="search" name="q" form="view" value="{e(options.q)}"></label>'
        f'<label>Show<select name="show" form="view">{show}</select></label>'
        f'<label>Sort by<select name="sort" form="view">{sort}</select></label>'
        f'<label>Order<select name="order" form="view">{order}</select></label>'
        f'<label>Per page<select name="per" form="view">{per}</select></label>'
        '<button form="view">Apply</button>'
        f"{one_click}</div>"
        f'<p class="muted" id="shown">{e(shown)}</p></section>'
    )


def _pager(selection: Selection) -> str:
    if selection.pages <= 1:
        return ""
    previous = (
        f'<button form="view" name="page" value="{selection.page - 1}">Previous page</button>'
        if selection.page > 1
        else ""
    )
    following = (
        f'<button form="view" name="page" value="{selection.page + 1}">Next page</button>'
        if selection.page < selection.pages
        else ""
    )
    return (
        f'<nav class="pager" aria-label="Pages of learners">{previous}'
        f"<span>Page {selection.page} of {selection.pages}</span>{following}</nav>"
    )


def _legend() -> str:
    items = "".join(
        f"<dt>{mark_badge(mark)}</dt><dd>{e(mark.meaning)}"
        + (f" <strong>What to do:</strong> {e(mark.todo)}." if mark.todo else "")
        + "</dd>"
        for mark in MARKS.values()
    )
    return (
        '<details class="legend-box" id="legend"><summary>What the marks mean</summary>'
        f'<dl class="legend">{items}</dl></details>'
    )


def _zero_fill_form(course: CourseRecord, base: str, hidden: str) -> str:
    """Rule 13's course setting: deadline zeros for students who never opened Passback (LTI 1.3 only)."""
    if course.lti_version != "1.3" and not course.lti13_issuer:
        return ""  # LTI 1.1 sends nothing to a student who never opened the link anyway
    on = course.zero_fill_never_opened
    choices = "".join(
        f'<label><input type="radio" name="never_opened" value="{value}"{" checked" if on == state else ""}> '
        f"{words}</label>"
        for value, state, words in (
            ("on", True, "Send them, like everyone's (the default)"),
            ("off", False, "Do not send them until the student opens a Passback link (as WeBWorK does)"),
        )
    )
    return (
        f'<form method="post" action="{base}/settings/zero-fill">{hidden}'
        "<fieldset><legend>Deadline zeros for students who never opened Passback (the LMS roster lists them)"
        f"</legend>{choices}<p>Turning this off sends no new zero to them; zeros already in the LMS stay there. "
        "Earned grades are always sent.</p></fieldset>"
        '<button type="submit">Save zero setting</button></form>'
    )


def _settings(view: GradebookView, base: str, token: str, csrf: str) -> str:
    course = view.course
    zone = view.zone
    where = f"{zone_name(zone)}, {offset_text(view.now, zone)}"
    hidden = (
        f'<input type="hidden" name="s" value="{e(token)}"><input type="hidden" name="csrf" value="{e(csrf)}">'
        f'<input type="hidden" name="tz" value="{e(zone_name(zone))}">'
    )
    radios = []
    for policy in ReleasePolicy:
        checked = " checked" if course.release_policy is policy else ""
        radios.append(
            f'<label><input type="radio" name="policy" value="{e(policy.value)}"{checked}> '
            f"{e(POLICY_WORDS[policy][0].upper() + POLICY_WORDS[policy][1:])}</label>"
        )
    policy_form = (
        f'<form method="post" action="{base}/settings/policy">{hidden}'
        "<fieldset><legend>Release policy: when grades leave for the LMS</legend>"
        f"{''.join(radios)}"
        f'<label for="release-date">Release date for "at a date" ({e(where)})</label>'
        f'<input type="datetime-local" id="release-date" name="release_date" '
        f'value="{e(datetime_local(course.release_date, zone))}">'
        '</fieldset><button type="submit">Save release policy</button></form>'
    )
    rows: list[str] = []
    extend_forms: list[str] = []
    for activity in sorted(course.activities.values(), key=lambda a: a.idx):
        title = activity.title or activity.activity_id
        field_id = f"gau-{activity.idx}"
        passed = activity.gau is not None and (activity.gau <= view.now or activity.gau_applied_at is not None)
        if passed:
            state = "passed: zeros were given, so it cannot be moved; it can be extended for the whole class"
        elif activity.gau is not None:
            state = f"open until {format_when(activity.gau, zone)}"
        else:
            state = "no deadline: no zeros, ever"
        disabled = " disabled" if passed else ""
        extend = ""
        if passed:
            # Its own form (forms cannot nest): the explicit action that may change grades in the LMS.
            form_id = f"extend-{activity.idx}"
            extend_forms.append(
                f'<form id="{form_id}" method="post" action="{base}/settings/extend">{hidden}'
                f'<input type="hidden" name="activity" value="{e(activity.activity_id)}"></form>'
            )
            extend = (
                f'<br><label for="{form_id}-until">Extend to</label> '
                f'<input type="datetime-local" id="{form_id}-until" name="until" form="{form_id}" required> '
                f'<button form="{form_id}">Extend deadline<span class="vh"> for {e(title)}</span></button>'
            )
        rows.append(
            f'<tr><th scope="row"><label for="{field_id}">{e(title)}</label></th>'
            f'<td><input type="datetime-local" id="{field_id}" name="{field_id}" '
            f'value="{e(datetime_local(activity.gau, zone))}"{disabled}></td><td>{e(state)}{extend}</td></tr>'
        )
    gau_form = (
        f'<form method="post" action="{base}/settings/gau">{hidden}<div class="wide">'
        f"<table><caption>Grades accepted until (GAU), in {e(where)}. When a deadline passes, every learner "
        "without a registered grade gets 0. Leave a field empty for no deadline. A deadline in the past asks "
        "before it sends any zero.</caption>"
        f'<thead><tr><th scope="col">Activity</th><th scope="col">Deadline ({e(where)})</th>'
        '<th scope="col">State</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        '<button type="submit">Save deadlines</button></form>' + "".join(extend_forms)
        if rows
        else "<p>No activities yet: an activity appears once its link is opened from the LMS.</p>"
    )
    zone_form = (
        f'<form method="post" action="{base}"><input type="hidden" name="s" value="{e(token)}">'
        f'<label for="tz-choice">Time zone for this page (an IANA name such as America/Chicago)</label> '
        f'<input id="tz-choice" name="tz" value="{e(zone_name(zone))}" autocomplete="off" size="24">'
        ' <button type="submit">Show times in this zone</button></form>'
    )
    return (
        '<section class="settings" aria-labelledby="settings"><h2 id="settings">Settings</h2>'
        f"<p>Times on this page are in {e(where)}; the LMS and Passback store them in UTC.</p>{zone_form}"
        f"{policy_form}{_zero_fill_form(course, base, hidden)}<h3>Deadlines</h3>{gau_form}</section>"
    )
