"""The gradebook's table: column headers, cells with every step behind them, the actions row.

Each cell shows the grade (a percentage) and a mark: a symbol, a colour and words, with the full
message on hover (`title`) and in a `<details>` that a keyboard or a screen reader opens, along
with the steps behind it: questions answered against the threshold, what the LMS shows in its
column's points where known, the last attempts (when, what was sent, what the LMS answered) and
when the LMS last acknowledged a grade. Every action is a real `<button>` submitting one hidden
form (`form=` and `formaction=`), so a page of cells does not carry a copy of the session each.

The cells, headers and footer cells carry an `id` and a version (`data-v`, a digest of their
HTML): the live-status script (`gradebook_live.py`) replaces exactly the ones that changed.
"""

from __future__ import annotations

import hashlib
from datetime import tzinfo
from html import escape

from passback.services.gradebook import (
    CellView,
    ColumnView,
    GradebookView,
    Tone,
    format_percent,
    format_points,
    format_when,
)
from passback.services.gradebook_select import Selection

HISTORY_SHOWN = 4
UP, DOWN, BOTH = "\u2191", "\u2193", "\u21c5"


def e(value: object) -> str:
    return escape(str(value), quote=True)


def versioned(tag: str, element_id: str, attributes: str, inner: str) -> str:
    """`<tag id=... data-v=...>`: the version is a digest of the content, for the live updates."""
    digest = hashlib.blake2s(f"{attributes}|{inner}".encode(), digest_size=6).hexdigest()
    return f'<{tag} id="{e(element_id)}" data-v="{digest}"{attributes}>{inner}</{tag}>'


def cell_id(learner_id: str, position: int) -> str:
    return f"x-{learner_id}-{position}"


def column_header(column: ColumnView, position: int, selection: Selection | None, zone: tzinfo) -> str:
    lines: list[str] = []
    if column.composite:
        lines.append("homepage link: the average of released grades")
    else:
        if column.link_id is None:
            lines.append("no link in the LMS")
        lines.append("released" if column.released else "not released")
        if column.gau is not None:
            lines.append(f"{'closed' if column.gau_passed else 'open until'} {format_when(column.gau, zone)}")
        if column.threshold:
            lines.append(f"grade from {column.threshold} question{'s' if column.threshold != 1 else ''}")
    if column.points:
        lines.append(f"LMS column: {column.points:g} pts (it scales the %)")
    if column.label_note:
        lines.append(column.label_note)
    if column.extra_links:
        lines.append(f"+{column.extra_links} more link{'s' if column.extra_links != 1 else ''} (first shown)")
    small = "".join(f"<small>{e(line)}</small>" for line in lines)
    sort_attr, button = "", ""
    if selection is not None:
        key = f"col-{position}"
        current = selection.options.sort == key
        descending = current and selection.options.order == "desc"
        if current:
            sort_attr = f' aria-sort="{"descending" if descending else "ascending"}"'
        arrow = (DOWN if descending else UP) if current else BOTH
        then = "asc" if descending else "desc" if current else "asc"
        button = (
            f'<button class="sort" form="view" name="sort_by" value="{key}:{then}">'
            f'<span aria-hidden="true">{arrow}</span><span class="vh">Sort by {e(column.title)} grade'
            f"{' (' + ('descending' if then == 'desc' else 'ascending') + ')'}</span></button>"
        )
    inner = f"{e(column.title)}{button}{small}"
    return versioned("th", f"col-{column.key}", f' scope="col"{sort_attr}', inner)


NEVER_OPENED = (
    "In the LMS course's roster but has not opened any Passback link yet. LTI 1.3: their grades (deadline zeros "
    "included) reach each link's LMS column anyway. LTI 1.1: nothing can be sent until they open each link once."
)
NEVER_OPENED_NO_ZERO_FILL = (
    "In the LMS course's roster but has not opened any Passback link yet. Their earned grades reach the LMS; "
    "no deadline zero is sent for them, because this course's zero-fill for students who never opened Passback "
    "is off (Settings). Once they open a link, they are graded like everyone else."
)
NO_GRADE = '<span class="g"><span aria-hidden="true">\u2013</span><span class="vh">no grade</span></span>'


def _steps(cell: CellView, column: ColumnView, zone: tzinfo) -> str:
    """The facts behind a cell, for its details."""
    facts: list[tuple[str, str]] = []
    if column.activity_id is not None and column.threshold:
        facts.append(("Questions", f"{cell.answered} answered; a grade registers from {column.threshold}"))
    if cell.grade is not None:
        shown = format_points(cell.grade, column.points)
        if shown:
            facts.append(("In the LMS column", f"{shown} (the LMS scales the percentage to its points)"))
        else:
            facts.append(("Sent as", f"{format_percent(cell.grade)} of 100; the LMS scales it to its column's points"))
    if cell.merge_waiting:
        facts.append(("Waiting", "for the learner's merge confirmation (product work is held until then)"))
    if cell.acked_at is not None:
        facts.append(("LMS acknowledged", f"{format_percent(cell.acked_value)}, {format_when(cell.acked_at, zone)}"))
    rows = "".join(f"<dt>{e(name)}</dt><dd>{e(value)}</dd>" for name, value in facts)
    steps = f'<dl class="steps">{rows}</dl>' if rows else ""
    if cell.history:
        items = []
        for attempt in reversed(cell.history[-HISTORY_SHOWN:]):
            answer = attempt.message or (f"HTTP {attempt.status}" if attempt.status else "no answer")
            items.append(
                f"<li>{e(format_when(attempt.at, zone))}: sent {e(format_percent(attempt.value))}, "
                f"{e(attempt.outcome)} ({e(answer)})</li>"
            )
        more = len(cell.history) - HISTORY_SHOWN
        tail = f"<li>{more} older: see the column's history CSV</li>" if more > 0 else ""
        steps += f'<p class="hh">Last attempts, newest first:</p><ol class="hist">{"".join(items)}{tail}</ol>'
    return steps


def cell_html(cell: CellView, column: ColumnView, position: int, base: str, zone: tzinfo) -> str:
    mark = cell.mark
    grade = format_percent(cell.grade)
    shown = f'<span class="g">{e(grade)}</span>' if grade else NO_GRADE
    note = f' <span class="note">{e(cell.note)}</span>' if cell.note else ""
    if cell.protocol:  # a course moved from LTI 1.1 to 1.3: which way this cell's grade goes
        short = "1.3" if "1.3" in cell.protocol else "1.1"
        note += f' <span class="note" title="sent by {e(cell.protocol)}">{short}</span>'
    label = e(mark.label)
    if cell.status == "retrying" and cell.when is not None:
        label = f"retrying {e(cell.when.astimezone(zone).strftime('%H:%M'))}"
    badge = (
        f'<span class="mk {mark.tone.value}"><span class="sym" aria-hidden="true">{e(mark.symbol)}</span>{label}</span>'
    )
    todo = f'<span class="todo">{e(mark.todo)}</span>' if mark.todo and mark.tone is not Tone.OK else ""
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
    refused, refused_text = "", ""
    if cell.refusal is not None:  # beside the status, never instead of it (services/gradebook_refusals.py)
        tone = "note" if cell.refusal.past else f"mk {Tone.WARN.value}"
        refused = (
            f' <span class="{tone} rf" title="{e(cell.refusal.text)}">'
            f'<span class="sym" aria-hidden="true">\u26a0</span>{e(cell.refusal.label)}</span>'
        )
        refused_text = (
            f'<p class="rf"><strong>{e(cell.refusal.label.capitalize())}.</strong> {e(cell.refusal.text)}</p>'
        )
    inner = (
        f"{shown}{note}{refused} <details>"
        f'<summary title="{e(cell.message)}">{badge}{todo}</summary>'
        f"<p>{e(cell.message)}</p>{refused_text}{_steps(cell, column, zone)}{button}</details>"
    )
    return versioned("td", cell_id(cell.learner_id, position), f' class="c-{mark.key}"', inner)


def footer_cell(column: ColumnView, position: int, base: str, zone: tzinfo) -> str:
    parts: list[str] = []
    hidden_title = f'<span class="vh"> for {e(column.title)}</span>'
    if column.activity_id is not None:
        if column.released_at is not None:
            parts.append(f"<small>released {e(format_when(column.released_at, zone))}</small>")
        elif column.released:
            parts.append("<small>released by the course's policy</small>")
        else:
            parts.append(
                f'<button class="primary" form="act" formaction="{base}/release" name="activity" '
                f'value="{e(column.activity_id)}">Release Grades{hidden_title}</button>'
            )
        if column.released:  # a column that is not released has nothing to resync
            parts.append(
                f'<button form="act" formaction="{base}/resync" name="activity" value="{e(column.activity_id)}">'
                f"Resync column{hidden_title}</button>"
            )
        parts.append(
            f'<button form="act" formaction="{base}/history.csv" name="activity" value="{e(column.activity_id)}">'
            f"History (CSV){hidden_title}</button>"
        )
    elif column.link_id is not None:
        parts.append(
            f'<button form="act" formaction="{base}/resync" name="link" value="{e(column.link_id)}">'
            f"Resync column{hidden_title}</button>"
        )
    return versioned("td", f"foot-{position}", "", "".join(parts))


def table(view: GradebookView, selection: Selection, base: str) -> str:
    zone = view.zone
    columns = view.columns
    name_sort = selection.options.sort == "name"
    name_descending = name_sort and selection.options.order == "desc"
    learner_sort = f' aria-sort="{"descending" if name_descending else "ascending"}"' if name_sort else ""
    arrow = DOWN if name_descending else UP if name_sort else BOTH
    learner_button = (
        f'<button class="sort" form="view" name="sort_by" value="name:{"asc" if name_descending else "desc"}">'
        f'<span aria-hidden="true">{arrow}</span>'
        f'<span class="vh">Sort by name{" (ascending)" if name_descending else " (descending)"}</span></button>'
    )
    head = f'<th scope="col"{learner_sort}>Learner{learner_button}</th>' + "".join(
        column_header(c, i, selection, zone) for i, c in enumerate(columns)
    )
    body: list[str] = []
    for row in selection.rows:
        email = f"<small>{e(row.email)}</small>" if row.email else ""
        if row.never_opened:
            words = NEVER_OPENED if view.course.zero_fill_never_opened else NEVER_OPENED_NO_ZERO_FILL
            email += f'<small class="never" title="{e(words)}">never opened Passback</small>'
        cells = "".join(cell_html(cell, columns[i], i, base, zone) for i, cell in enumerate(row.cells))
        body.append(f'<tr><th scope="row" id="r-{e(row.learner_id)}">{e(row.name)}{email}</th>{cells}</tr>')
    if not body:
        span = len(columns) + 1
        empty = (
            "No learners yet: a student is enrolled the first time they open any link of this course from the LMS."
            if not view.rows
            else "No learner matches this search and filter."
        )
        body.append(f'<tr><td colspan="{span}">{e(empty)}</td></tr>')
    foot = '<th scope="row">Actions</th>' + "".join(footer_cell(c, i, base, zone) for i, c in enumerate(columns))
    caption = (
        "Grades and their sync status: one row per learner, one column per activity"
        + (" and the course average sent by the homepage link" if any(c.composite for c in columns) else "")
        + ". Grades are percentages. Each mark says whether the LMS has the grade; open a mark for the LMS's "
        "message, the steps behind it and what to do. Release Grades and Resync are at the bottom of each column."
    )
    return (
        '<div class="scroll" role="region" aria-labelledby="gb-caption" tabindex="0">'
        f'<table class="gb"><caption id="gb-caption">{e(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody><tfoot><tr>{foot}</tr></tfoot></table></div>"
    )
