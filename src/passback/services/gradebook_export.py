"""The gradebook as files: the CSV of grades and statuses, and one activity's attempt history (for support).

Both come from the same view model as the page (`services.gradebook`); every cell that starts like a
spreadsheet formula gets a leading `'`.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC

from passback.services.gradebook import GradebookView, format_grade


def to_csv(view: GradebookView) -> str:
    """The gradebook for spreadsheets: one row per learner, a grade and a status column per column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    header = ["Learner", "Email", "Learner id"]
    for column in view.columns:
        header += [f"{column.title} grade", f"{column.title} status"]
    writer.writerow([_cell_safe(h) for h in header])
    for row in view.rows:
        values = [row.name, row.email or "", row.learner_id]
        for cell in row.cells:
            values += [format_grade(cell.grade), cell.mark.label]
        writer.writerow([_cell_safe(v) for v in values])
    return "\ufeff" + out.getvalue()


def _cell_safe(value: str) -> str:
    """Keep a spreadsheet from running a name such as `=HYPERLINK(...)` as a formula."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def history_csv(view: GradebookView, activity_id: str) -> str:
    """One activity's attempt history, for support: one row per attempt the cell kept (newest last),
    or one row saying there was none; times in UTC and in the page's zone."""
    position = next((i for i, c in enumerate(view.columns) if c.activity_id == activity_id), None)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    local = "local time" if view.zone is UTC else f"time ({getattr(view.zone, 'key', view.zone)})"
    header = ["Learner", "Email", "Learner id", "Activity", "Attempt at (UTC)", f"Attempt at, {local}"]
    header += ["Value sent (%)", "Outcome", "LMS HTTP status", "LMS said", "Status now"]
    writer.writerow(header)
    if position is not None:
        title = view.columns[position].title
        for row in view.rows:
            cell = row.cells[position]
            who = [row.name, row.email or "", row.learner_id, title]
            if not cell.history:
                writer.writerow([_cell_safe(v) for v in [*who, "", "", "", "no attempt", "", "", cell.mark.label]])
            for attempt in cell.history:
                values = [
                    *who,
                    attempt.at.astimezone(UTC).isoformat(timespec="seconds"),
                    attempt.at.astimezone(view.zone).strftime("%Y-%m-%d %H:%M:%S"),
                    format_grade(attempt.value),
                    attempt.outcome,
                    "" if attempt.status is None else str(attempt.status),
                    attempt.message,
                    cell.mark.label,
                ]
                writer.writerow([_cell_safe(v) for v in values])
    return "\ufeff" + out.getvalue()
