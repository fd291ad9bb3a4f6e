"""Which learners one view of the gradebook shows: filter by status, search, sort, paging.

Plain functions over the view model (`services.gradebook`), so every view of a course is still
the one Query of its partition: a 500-learner course is filtered and sorted in memory and only
one page of rows is rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from passback.services.gradebook import MARKS, NEEDS_ATTENTION, GradebookView, RowView, mark_of

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
ATTENTION = "attention"
EVERYTHING = "all"
# Learners with a report refused for its date shown on a cell (services/gradebook_refusals.py).
REFUSED = "refused"


@dataclass(frozen=True)
class ViewOptions:
    """What the instructor asked to see; every field has a safe default, nothing here is trusted."""

    show: str = EVERYTHING  # "all", "attention", or a mark's key ("lms-error")
    q: str = ""
    sort: str = "name"  # "name", "email", or "col-<n>" (the n-th column, by grade)
    order: str = "asc"
    page: int = 1
    per: int = DEFAULT_PAGE_SIZE

    @classmethod
    def parse(cls, values: Mapping[str, str]) -> ViewOptions:
        # A one-click button (`show_only`, `sort_by`) wins over the select of the same meaning.
        show = (values.get("show_only") or values.get("show") or EVERYTHING).strip()
        if show not in (EVERYTHING, ATTENTION, REFUSED) and show not in {m.key for m in MARKS.values()}:
            show = EVERYTHING
        # A column header's button sends both at once: "col-3:desc".
        sort, _, paired = (values.get("sort_by") or values.get("sort") or "name").strip().partition(":")
        if sort not in ("name", "email") and not (sort.startswith("col-") and sort[4:].isdigit()):
            sort = "name"
        order = "desc" if (paired or values.get("order")) == "desc" else "asc"
        return cls(
            show=show,
            q=(values.get("q") or "").strip()[:100],
            sort=sort,
            order=order,
            page=_int(values.get("page"), 1, 1, 100_000),
            per=_int(values.get("per"), DEFAULT_PAGE_SIZE, 1, max(PAGE_SIZES)),
        )

    def fields(self, **changes: object) -> dict[str, str]:
        """The options as form fields (what the page's forms carry along), with `changes` applied."""
        current = replace(self, **changes)  # type: ignore[arg-type]
        found = {
            "show": current.show,
            "q": current.q,
            "sort": current.sort,
            "order": current.order,
            "page": str(current.page),
            "per": str(current.per),
        }
        default = ViewOptions()
        return {k: v for k, v in found.items() if v != str(getattr(default, k))}


@dataclass(frozen=True)
class Selection:
    rows: tuple[RowView, ...]  # this page's rows
    matching: int  # rows that pass the filter and search
    total: int  # rows in the course
    page: int
    pages: int
    options: ViewOptions


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(str(text))))
    except ValueError:
        return default


def _keeps(row: RowView, options: ViewOptions) -> bool:
    if options.show == ATTENTION and not any(c.status in NEEDS_ATTENTION for c in row.cells):
        return False
    if options.show == REFUSED:
        if not any(c.refusal is not None for c in row.cells):
            return False
    elif options.show not in (EVERYTHING, ATTENTION) and not any(
        mark_of(c.status).key == options.show for c in row.cells
    ):
        return False
    if options.q:
        needle = options.q.casefold()
        haystack = f"{row.name}\n{row.email or ''}".casefold()
        return all(word in haystack for word in needle.split())
    return True


def select(view: GradebookView, options: ViewOptions) -> Selection:
    rows = [row for row in view.rows if _keeps(row, options)]
    descending = options.order == "desc"
    if options.sort == "email":
        rows.sort(key=lambda r: ((r.email or "").casefold(), r.name.casefold()), reverse=descending)
    elif options.sort.startswith("col-") and int(options.sort[4:]) < len(view.columns):
        position = int(options.sort[4:])
        graded = [r for r in rows if r.cells[position].grade is not None]
        ungraded = [r for r in rows if r.cells[position].grade is None]
        graded.sort(key=lambda r: (r.cells[position].grade or 0.0, r.name.casefold()), reverse=descending)
        rows = graded + ungraded  # learners without a grade last, either way
    elif descending:
        rows.reverse()  # the view's own order is by name
    pages = max(1, -(-len(rows) // options.per))
    page = min(options.page, pages)
    start = (page - 1) * options.per
    chosen = replace(options, page=page)
    return Selection(tuple(rows[start : start + options.per]), len(rows), len(view.rows), page, pages, chosen)
