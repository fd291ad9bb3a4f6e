"""The gradebook page: server-rendered HTML, no JavaScript, every value escaped.

One `<table>` with a caption, column headers (`scope="col"`) and row headers (`scope="row"`).
Each cell shows the grade and a mark: a symbol, a colour and words, with the full message on
hover (`title`) and, for anything but a plain "synced", in a `<details>` that a keyboard or a
screen reader opens. Every action is a real `<button>` submitting one hidden form (`form=` and
`formaction=` attributes), so 20,000 cells do not carry 20,000 copies of the session and CSRF
fields.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote, urlencode

from passback.domain.release import ReleasePolicy
from passback.services.gradebook import (
    MARKS,
    POLICY_WORDS,
    CellView,
    ColumnView,
    GradebookView,
    Mark,
    Tone,
    format_grade,
    format_when,
)

# Foreground and background of each tone; tests check every pair reaches 4.5:1.
TONE_COLOURS: dict[Tone, tuple[str, str]] = {
    Tone.OK: ("#0f5323", "#dafbe1"),
    Tone.INFO: ("#0a3069", "#ddf4ff"),
    Tone.WAIT: ("#3d444d", "#eef1f4"),
    Tone.WARN: ("#6f3800", "#fff1e5"),
    Tone.BAD: ("#86061d", "#ffebe9"),
}
INK, MUTED, LINE, FOCUS = "#1b1f24", "#4a5360", "#8c959f", "#0550ae"

STYLE = f"""
* {{ box-sizing: border-box; }}
body {{ font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: {INK};
       margin: 0; background: #fff; }}
main {{ padding: .75rem 1rem 2rem; }}
h1 {{ font-size: 1.35rem; margin: 0; }}
h2 {{ font-size: 1.1rem; margin: 1.5rem 0 .5rem; }}
a {{ color: {FOCUS}; }}
:focus-visible {{ outline: 3px solid {FOCUS}; outline-offset: 2px; }}
.muted {{ color: {MUTED}; }}
.vh {{ position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0);
       white-space: nowrap; }}
.bar {{ display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; margin: .5rem 0; }}
.flash {{ border: 1px solid {LINE}; border-left: 6px solid {TONE_COLOURS[Tone.OK][0]}; padding: .5rem .75rem;
         margin: .5rem 0; background: {TONE_COLOURS[Tone.OK][1]}; }}
.flash.error {{ border-left-color: {TONE_COLOURS[Tone.BAD][0]}; background: {TONE_COLOURS[Tone.BAD][1]}; }}
.totals {{ list-style: none; display: flex; flex-wrap: wrap; gap: .35rem; padding: 0; margin: .5rem 0; }}
button {{ font: inherit; font-size: .85rem; color: {INK}; background: #f6f8fa; border: 1px solid {LINE};
          border-radius: 6px; padding: .2rem .55rem; cursor: pointer; }}
button:hover {{ background: #eaeef2; }}
button.primary {{ background: {FOCUS}; border-color: {FOCUS}; color: #fff; font-weight: 600; }}
.scroll {{ overflow: auto; max-height: 78vh; border: 1px solid {LINE}; border-radius: 6px; }}
table.gb {{ border-collapse: separate; border-spacing: 0; font-size: .9rem; }}
.gb caption {{ text-align: left; padding: .5rem .75rem; color: {MUTED}; caption-side: top; }}
.gb th, .gb td {{ border-bottom: 1px solid #d0d7de; border-right: 1px solid #d0d7de; padding: .3rem .5rem;
                 vertical-align: top; background: #fff; }}
.gb thead th {{ position: sticky; top: 0; z-index: 2; background: #f6f8fa; text-align: left; min-width: 9.5rem;
               font-weight: 600; }}
.gb thead th small, .gb tfoot small {{ display: block; font-weight: 400; color: {MUTED}; }}
.gb tbody th {{ position: sticky; left: 0; z-index: 1; text-align: left; font-weight: 600; min-width: 12rem; }}
.gb thead th:first-child {{ left: 0; z-index: 3; }}
.gb tbody th small {{ display: block; font-weight: 400; color: {MUTED}; }}
.gb tfoot th, .gb tfoot td {{ position: sticky; bottom: 0; background: #f6f8fa; z-index: 1; }}
.gb tfoot th {{ left: 0; z-index: 3; text-align: left; }}
.gb tfoot button {{ display: block; margin: .15rem 0; }}
.g {{ font-variant-numeric: tabular-nums; font-weight: 600; margin-right: .3rem; }}
.note {{ color: {MUTED}; font-size: .8rem; }}
.mk {{ display: inline-block; border-radius: 4px; padding: 0 .3rem; font-size: .82rem; white-space: nowrap;
       border: 1px solid transparent; }}
.mk .sym {{ font-weight: 700; margin-right: .15rem; }}
details > summary {{ cursor: pointer; list-style: none; display: inline-block; }}
details > summary::-webkit-details-marker {{ display: none; }}
details[open] > summary {{ outline: 1px dotted {MUTED}; }}
details p {{ margin: .3rem 0; max-width: 22rem; white-space: normal; font-size: .82rem; }}
.todo {{ display: block; font-size: .78rem; color: {MUTED}; white-space: nowrap; margin-top: .1rem; }}
.legend {{ display: grid; grid-template-columns: max-content 1fr; gap: .3rem .75rem; margin: .5rem 0; }}
.legend dd {{ margin: 0; }}
.settings fieldset {{ border: 1px solid {LINE}; border-radius: 6px; margin: .5rem 0; padding: .5rem .75rem; }}
.settings label {{ display: block; margin: .2rem 0; }}
.settings table {{ border-collapse: collapse; margin: .5rem 0; }}
.settings caption {{ text-align: left; max-width: 40rem; }}
.settings th, .settings td {{ border-bottom: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left; }}
input {{ font: inherit; }}
""" + "".join(
    f".{tone.value} {{ color: {fg}; background: {bg}; border-color: {fg}40; }}\n"
    for tone, (fg, bg) in TONE_COLOURS.items()
)


def style_hash() -> str:
    """The CSP source allowing exactly this page's `<style>` (no inline styles anywhere else)."""
    digest = hashlib.sha256(STYLE.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def e(value: object) -> str:
    return escape(str(value), quote=True)


DONE_MESSAGES = {
    "released": "Release requested: the column's grades are on their way to the LMS. Reload in a few seconds to "
    "see them arrive.",
    "resync-cell": "Trying again: this grade is being sent to the LMS now. Reload in a few seconds to see it.",
    "resync-column": "Resync requested for the column: its grades are being sent again. Reload in a few seconds.",
    "resync-course": "Resync requested for the whole course: every grade is being checked and sent again. Reload in "
    "a minute.",
    "policy": "Release policy saved.",
    "gau": "Deadlines saved.",
    "column-recreated": "The LMS column was recreated: the link's grades are being sent to it. Reload in a few "
    "seconds.",
    "roster-sync": "Roster update requested: Passback is reading the course's members from the LMS. Reload in a "
    "minute to see learners who have not opened Passback yet.",
}


def page_path(course_id: str) -> str:
    return f"/gradebook/{quote(course_id, safe='')}"


def page_url(course_id: str, ticket: str, **extra: str) -> str:
    """The page's URL with a one-time ticket (`web/session.py`), never a session."""
    return f"{page_path(course_id)}?{urlencode({'t': ticket, **extra})}"


def render(
    view: GradebookView,
    *,
    token: str,
    csrf: str,
    session_expires: datetime | None = None,
    done: str | None = None,
    error: str | None = None,
) -> str:
    course = view.course
    base = page_path(course.course_id)
    parts: list[str] = []
    parts.append(_header(view, session_expires))
    if done in DONE_MESSAGES:
        parts.append(f'<div class="flash" role="status">{e(DONE_MESSAGES[done])}</div>')
    if error:
        parts.append(f'<div class="flash error" role="alert"><strong>Not saved.</strong> {e(error)}</div>')
    # The session travels in these forms' bodies, never in a URL (web/session.py).
    parts.append(
        f'<form id="act" method="post" action="{base}/resync">'
        f'<input type="hidden" name="s" value="{e(token)}"><input type="hidden" name="csrf" value="{e(csrf)}"></form>'
        f'<form id="view" method="post" action="{base}"><input type="hidden" name="s" value="{e(token)}"></form>'
    )
    parts.append(_glance(view, base))
    parts.append(_table(view, base))
    parts.append(_legend())
    parts.append(_settings(view, base, token, csrf))
    return _document(f"{course.title}: gradebook", "".join(parts))


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{e(title)} · Passback</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _header(view: GradebookView, session_expires: datetime | None) -> str:
    course = view.course
    facts = [
        f"LTI {e(course.lti_version)}" if not course.lti13_issuer else "LTI 1.1, now LTI 1.3 (each cell says how)",
        f"{len(view.rows)} learner{'s' if len(view.rows) != 1 else ''}",
        f"{len(course.activities)} activit{'ies' if len(course.activities) != 1 else 'y'}",
        f"release policy: {e(_policy_short(view))}",
    ]
    if session_expires is not None:
        facts.append(f"this page's session ends {e(format_when(session_expires))}")
    return (
        f'<header><h1>{e(course.title)} <span class="muted">· gradebook</span></h1>'
        f'<p class="muted">{" · ".join(facts)}</p></header>'
    )


def _policy_short(view: GradebookView) -> str:
    policy = view.course.release_policy
    if policy is ReleasePolicy.AT_DATE and view.course.release_date is not None:
        return f"at {format_when(view.course.release_date)}"
    return {
        ReleasePolicy.IMMEDIATE: "immediately",
        ReleasePolicy.AT_DATE: "at a date (none set)",
        ReleasePolicy.AFTER_GAU: "after each deadline",
        ReleasePolicy.MANUAL: "manual (Release Grades)",
    }[policy]


def _mark_badge(mark: Mark, count: int | None = None) -> str:
    words = e(mark.label) if count is None else f"{count} {e(mark.label)}"
    symbol = f'<span class="sym" aria-hidden="true">{e(mark.symbol)}</span>'
    return f'<span class="mk {mark.tone.value}">{symbol}{words}</span>'


def _glance(view: GradebookView, base: str) -> str:
    totals = "".join(
        f"<li>{_mark_badge(mark, view.totals[status])}</li>"
        for status, mark in MARKS.items()
        if view.totals.get(status)
    )
    attention = view.needs_attention
    summary = (
        f"{attention} cell{'s' if attention != 1 else ''} need{'' if attention != 1 else 's'} attention."
        if attention
        else "Nothing needs your attention."
    )
    return (
        '<section aria-labelledby="glance"><h2 id="glance" class="vh">At a glance</h2>'
        f'<p><strong>{e(summary)}</strong></p><ul class="totals" aria-label="Cells by status">{totals}</ul>'
        '<div class="bar">'
        '<button form="view">Refresh</button>'
        f'<button form="act" formaction="{base}/resync" name="scope" value="course">Resync the whole course</button>'
        f'<button form="act" formaction="{base}/roster-sync">Update the roster from the LMS</button>'
        f'<button form="act" formaction="{base}/export.csv">Download as CSV (grades and statuses)</button>'
        '<a href="#settings">Settings: release policy and deadlines</a>'
        '<a href="#legend">What the marks mean</a>'
        "</div></section>"
    )


def _column_header(column: ColumnView) -> str:
    lines: list[str] = []
    if column.composite:
        lines.append("homepage link: the average of released grades")
    else:
        if column.link_id is None:
            lines.append("no link in the LMS")
        lines.append("released" if column.released else "not released")
        if column.gau is not None:
            lines.append(f"{'closed' if column.gau_passed else 'open until'} {format_when(column.gau)}")
    if column.extra_links:
        lines.append(f"+{column.extra_links} more link{'s' if column.extra_links != 1 else ''} (first shown)")
    small = "".join(f"<small>{e(line)}</small>" for line in lines)
    return f'<th scope="col" id="col-{e(column.key)}">{e(column.title)}{small}</th>'


NEVER_OPENED = (
    "In the LMS course's roster but has not opened any Passback link yet. LTI 1.3: their grades (deadline zeros "
    "included) reach each link's LMS column anyway. LTI 1.1: nothing can be sent until they open each link once."
)
NO_GRADE = '<span class="g"><span aria-hidden="true">\u2013</span><span class="vh">no grade</span></span>'


def _cell(cell: CellView, base: str) -> str:
    mark = cell.mark
    grade = format_grade(cell.grade)
    shown = f'<span class="g">{e(grade)}</span>' if grade else NO_GRADE
    note = f' <span class="note">{e(cell.note)}</span>' if cell.note else ""
    if cell.protocol:  # a course moved from LTI 1.1 to 1.3: which way this cell's grade goes
        short = "1.3" if "1.3" in cell.protocol else "1.1"
        note += f' <span class="note" title="sent by {e(cell.protocol)}">{short}</span>'
    label = e(mark.label)
    if cell.status == "retrying" and cell.when is not None:
        label = f"retrying {e(cell.when.astimezone(UTC).strftime('%H:%M'))}"
    badge_inner = f'<span class="sym" aria-hidden="true">{e(mark.symbol)}</span>{label}'
    todo = f'<span class="todo">{e(mark.todo)}</span>' if mark.todo else ""
    if mark.tone is Tone.OK:
        return (
            f'<td class="c-{mark.key}">{shown}{note} '
            f'<span class="mk {mark.tone.value}" title="{e(cell.message)}">{badge_inner}</span></td>'
        )
    button = ""
    if cell.status == "LMS column deleted" and cell.link_id is not None:
        button = (
            f'<button form="act" formaction="{base}/recreate-column" name="link" value="{e(cell.link_id)}">'
            "Recreate column</button>"
        )
    elif cell.resyncable and cell.link_id is not None:
        verb = "Try again" if cell.status in ("LMS error", "retrying", "gave up") else "Resync"
        button = (
            f'<button form="act" formaction="{base}/resync" name="cell" '
            f'value="{e(cell.learner_id)} {e(cell.link_id)}">{verb}</button>'
        )
    return (
        f'<td class="c-{mark.key}">{shown}{note} <details>'
        f'<summary title="{e(cell.message)}"><span class="mk {mark.tone.value}">{badge_inner}</span>{todo}</summary>'
        f"<p>{e(cell.message)}</p>{button}</details></td>"
    )


def _footer_cell(column: ColumnView, base: str) -> str:
    parts: list[str] = []
    hidden_title = f'<span class="vh"> for {e(column.title)}</span>'
    if column.activity_id is not None:
        if column.released_at is not None:
            parts.append(f"<small>released {e(format_when(column.released_at))}</small>")
        elif column.released:
            parts.append("<small>released by the course's policy</small>")
        else:
            parts.append(
                f'<button class="primary" form="act" formaction="{base}/release" name="activity" '
                f'value="{e(column.activity_id)}">Release Grades{hidden_title}</button>'
            )
        parts.append(
            f'<button form="act" formaction="{base}/resync" name="activity" value="{e(column.activity_id)}">'
            f"Resync column{hidden_title}</button>"
        )
    elif column.link_id is not None:
        parts.append(
            f'<button form="act" formaction="{base}/resync" name="link" value="{e(column.link_id)}">'
            f"Resync column{hidden_title}</button>"
        )
    return f"<td>{''.join(parts)}</td>"


def _table(view: GradebookView, base: str) -> str:
    head = '<th scope="col">Learner</th>' + "".join(_column_header(c) for c in view.columns)
    body: list[str] = []
    for row in view.rows:
        email = f"<small>{e(row.email)}</small>" if row.email else ""
        if row.never_opened:
            email += f'<small class="never" title="{e(NEVER_OPENED)}">never opened Passback</small>'
        cells = "".join(_cell(cell, base) for cell in row.cells)
        body.append(f'<tr><th scope="row" id="r-{e(row.learner_id)}">{e(row.name)}{email}</th>{cells}</tr>')
    if not body:
        span = len(view.columns) + 1
        body.append(
            f'<tr><td colspan="{span}">No learners yet: a student is enrolled the first time they open any link of '
            "this course from the LMS.</td></tr>"
        )
    foot = '<th scope="row">Actions</th>' + "".join(_footer_cell(c, base) for c in view.columns)
    caption = (
        "Grades and their sync status: one row per learner, one column per activity"
        + (" and the course average sent by the homepage link" if any(c.composite for c in view.columns) else "")
        + ". Each mark says whether the LMS has the grade; open a mark for the LMS's message and what to do. "
        "Release Grades and Resync are at the bottom of each column."
    )
    return (
        '<div class="scroll" role="region" aria-labelledby="gb-caption" tabindex="0">'
        f'<table class="gb"><caption id="gb-caption">{e(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody><tfoot><tr>{foot}</tr></tfoot></table></div>"
    )


def _legend() -> str:
    items = "".join(
        f"<dt>{_mark_badge(mark)}</dt><dd>{e(mark.meaning)}"
        + (f" <strong>What to do:</strong> {e(mark.todo)}." if mark.todo else "")
        + "</dd>"
        for mark in MARKS.values()
    )
    return (
        '<section aria-labelledby="legend"><h2 id="legend">What the marks mean</h2>'
        f'<dl class="legend">{items}</dl></section>'
    )


def datetime_local(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if moment else ""


def _settings(view: GradebookView, base: str, token: str, csrf: str) -> str:
    course = view.course
    hidden = f'<input type="hidden" name="s" value="{e(token)}"><input type="hidden" name="csrf" value="{e(csrf)}">'
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
        '<label for="release-date">Release date for "at a date" (UTC)</label>'
        f'<input type="datetime-local" id="release-date" name="release_date" '
        f'value="{e(datetime_local(course.release_date))}">'
        '</fieldset><button type="submit">Save release policy</button></form>'
    )
    rows: list[str] = []
    for activity in sorted(course.activities.values(), key=lambda a: a.idx):
        title = activity.title or activity.activity_id
        field_id = f"gau-{activity.idx}"
        passed = activity.gau is not None and (activity.gau <= view.now or activity.gau_applied_at is not None)
        if passed:
            state = "passed: zeros were given, so it cannot be moved"
        elif activity.gau is not None:
            state = "open"
        else:
            state = "no deadline: no zeros, ever"
        disabled = " disabled" if passed else ""
        rows.append(
            f'<tr><th scope="row"><label for="{field_id}">{e(title)}</label></th>'
            f'<td><input type="datetime-local" id="{field_id}" name="{field_id}" '
            f'value="{e(datetime_local(activity.gau))}"{disabled}></td><td>{e(state)}</td></tr>'
        )
    gau_form = (
        f'<form method="post" action="{base}/settings/gau">{hidden}'
        "<table><caption>Grades accepted until (GAU), in UTC. When a deadline passes, every learner without a "
        "registered grade gets 0. Leave a field empty for no deadline.</caption>"
        '<thead><tr><th scope="col">Activity</th><th scope="col">Deadline (UTC)</th><th scope="col">State</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        '<button type="submit">Save deadlines</button></form>'
        if rows
        else "<p>No activities yet: an activity appears once its link is opened from the LMS.</p>"
    )
    return (
        '<section class="settings" aria-labelledby="settings"><h2 id="settings">Settings</h2>'
        f"{policy_form}<h3>Deadlines</h3>{gau_form}</section>"
    )
