"""The gradebook's view model and rendering without AWS: every status a cell can show, and contrast."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from passback.data.gradebook_view import GradebookSnapshot
from passback.domain.delivery import CellStatus
from passback.domain.records import (
    ActivityInCourse,
    Attempt,
    CellRecord,
    CourseRecord,
    EnrollmentRecord,
    GradeEntry,
    LinkRecord,
)
from passback.domain.release import ReleasePolicy
from passback.domain.targets import NO_TARGET_LTI11
from passback.services.gradebook import MARKS, Tone, build_view, format_grade, format_when
from passback.services.gradebook_export import history_csv, to_csv
from passback.services.gradebook_select import ViewOptions, select
from passback.web import gradebook_page, gradebook_table

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)


def course(policy: ReleasePolicy = ReleasePolicy.IMMEDIATE, version: str = "1.1", **released: datetime) -> CourseRecord:
    return CourseRecord(
        course_id="c1",
        platform_id="p1",
        platform_key="lti11:key",
        lti_version=version,
        context_id="ctx",
        title="Course",
        release_policy=policy,
        activities={
            "a1": ActivityInCourse("a1", 1, "Quiz A", released_at=released.get("a1")),
            "a2": ActivityInCourse("a2", 2, "Quiz B", released_at=released.get("a2")),
            "a3": ActivityInCourse("a3", 3, "Unlinked"),
        },
        links={
            "la1": LinkRecord("la1", "r1", "a1", version, "Quiz A link", line_item_url="https://lms/li/1"),
            "la2": LinkRecord("la2", "r2", "a2", version, "Quiz B link", line_item_url="https://lms/li/2"),
            "lh": LinkRecord("lh", "rh", None, version, "Home", line_item_url="https://lms/li/h"),
        },
    )


def learner(learner_id: str, name: str, **grades: float | None) -> EnrollmentRecord:
    entries = {int(k[1:]): GradeEntry(v, 5, 1) for k, v in grades.items()}
    return EnrollmentRecord("c1", learner_id, "learner", lms_user_id=f"sub-{learner_id}", name=name, grades=entries)


def cell(learner_id: str, link_id: str, **fields: object) -> CellRecord:
    target = {"sourcedid": f"sd-{learner_id}-{link_id}", "outcome_service_url": "https://lms/outcomes"}
    return CellRecord("c1", learner_id, link_id, **{**target, **fields})  # type: ignore[arg-type]


def statuses(snapshot: GradebookSnapshot) -> dict[tuple[str, str], tuple[str, str, str | None]]:
    view = build_view(snapshot, NOW)
    return {
        (row.name, column.key): (cell.status, cell.message, format_grade(cell.grade))
        for row in view.rows
        for column, cell in zip(view.columns, row.cells, strict=True)
    }


def test_recorded_outcomes_and_derived_reasons() -> None:
    snapshot = GradebookSnapshot(
        course=course(),
        enrollments=(
            learner("u1", "Ann", a1=80.0, a2=70.0, a3=60.0),
            learner("u2", "Bob", a1=50.0, a2=None),
            EnrollmentRecord("c1", "t1", "instructor", name="Teacher"),
        ),
        cells={
            ("u1", "la1"): cell("u1", "la1", status="synced", sent_value=80.0, sent_at=NOW),
            ("u1", "la2"): cell("u1", "la2", status="synced", sent_value=65.0, sent_at=NOW),  # 70 is on its way
            ("u1", "lh"): cell(
                "u1",
                "lh",
                status="retrying",
                message="HTTP 503: Service Unavailable",
                failed_value=70.0,
                attempts=2,
                next_attempt_at=NOW + timedelta(minutes=4),
            ),
            ("u2", "la1"): cell("u2", "la1", status="gave up", message="HTTP 502. Gave up after an hour: use resync."),
            ("u2", "lh"): CellRecord("c1", "u2", "lh"),  # no sourcedid: Bob never opened the home link
        },
    )
    found = statuses(snapshot)
    assert [name for name, _ in found][:1] == ["Ann"]  # the instructor is not a row
    assert {name for name, _ in found} == {"Ann", "Bob"}
    assert found["Ann", "a1"][0] == CellStatus.SYNCED
    assert found["Ann", "a2"][0] == "sending"
    assert "The LMS has 65 %; 70 % is on its way: this grade is released" in found["Ann", "a2"][1]
    assert found["Ann", "a3"][:1] == ("no link",)
    assert found["Ann", "a3"][2] == "60"  # the grade shows even with no LMS column
    retrying = found["Ann", "composite"]
    assert retrying[0] == CellStatus.RETRYING
    assert "HTTP 503: Service Unavailable" in retrying[1]
    assert "2030-03-01 12:04 UTC" in retrying[1]
    assert "Try again" in retrying[1]
    assert found["Bob", "a1"][0] == CellStatus.GAVE_UP
    assert found["Bob", "a2"][0] == CellStatus.BELOW_THRESHOLD
    assert found["Bob", "composite"][0] == CellStatus.NO_TARGET
    assert found["Bob", "composite"][1] == NO_TARGET_LTI11
    assert found["Bob", "composite"][2] == "50"  # the average Bob is owed


def test_nothing_leaves_before_release_composite_included() -> None:
    snapshot = GradebookSnapshot(
        course=course(ReleasePolicy.MANUAL),
        enrollments=(learner("u1", "Ann", a1=80.0, a2=70.0),),
        cells={("u1", "la1"): cell("u1", "la1", status="not released")},
    )
    found = statuses(snapshot)
    assert found["Ann", "a1"][0] == CellStatus.NOT_RELEASED
    assert found["Ann", "a2"][0] == CellStatus.NOT_RELEASED  # no cell yet: derived the same way
    assert found["Ann", "composite"][0] == CellStatus.NOT_RELEASED
    assert "course average is not sent" in found["Ann", "composite"][1]
    # Released by hand: the recorded "not released" is stale, and the page says what happens now.
    snapshot = GradebookSnapshot(
        course=course(ReleasePolicy.MANUAL, a1=NOW - timedelta(minutes=1)),
        enrollments=snapshot.enrollments,
        cells=snapshot.cells,
    )
    found = statuses(snapshot)
    assert found["Ann", "a1"][0] == "sending"
    assert found["Ann", "a2"][0] == CellStatus.NOT_RELEASED
    assert found["Ann", "composite"][2] == "80"  # only released grades count


def test_merge_pending_lms_newer_and_unknown_statuses() -> None:
    pending = EnrollmentRecord("c1", "u3", "learner", name="Cy", merge_pending=True)
    snapshot = GradebookSnapshot(
        course=course(version="1.3"),
        enrollments=(learner("u1", "Ann", a1=80.0), pending),
        cells={
            ("u1", "la1"): cell("u1", "la1", status="LMS has newer", message="HTTP 409: newer. Resync to send."),
            ("u1", "la2"): cell("u1", "la2", status="quarantined", message="Something new."),
        },
    )
    found = statuses(snapshot)
    assert found["Ann", "a1"][0] == CellStatus.LMS_NEWER
    assert found["Ann", "a2"] == ("quarantined", "Something new.", "")
    assert found["Cy", "a1"][0] == CellStatus.MERGE_PENDING


def test_the_page_and_csv_from_a_view() -> None:
    snapshot = GradebookSnapshot(
        course=course(),
        enrollments=(learner("u1", "=cmd|' /C calc'!A0", a1=80.0),),
        cells={("u1", "la1"): cell("u1", "la1", status="LMS error", message="HTTP 400: Bad <b>score</b>")},
    )
    view = build_view(snapshot, NOW)
    html = gradebook_page.render(view, token="tok", csrf="cs", done="released", error=None)
    # Every mark: a symbol hidden from screen readers, then words.
    for symbol, label in re.findall(r'<span class="sym" aria-hidden="true">([^<]+)</span>([^<]+)', html):
        assert symbol.strip()
        assert label.strip()
    assert "HTTP 400: Bad &lt;b&gt;score&lt;/b&gt;" in html
    assert '<div class="flash" role="status">Release requested' in html
    assert '<button form="act" formaction="/gradebook/c1/resync" name="cell" value="u1 la1">Try again</button>' in html
    assert html.count("<script>") == 1  # only the page's own live-status script (allowed by its hash)
    exported = to_csv(view).lstrip("\ufeff").splitlines()
    assert exported[1].startswith("'=cmd|")
    assert "LMS error" in exported[1]


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("tone", list(gradebook_page.TONE_COLOURS))
def test_every_mark_colour_pair_reaches_4_5_to_1(tone: Tone) -> None:
    fg, bg = gradebook_page.TONE_COLOURS[tone]
    assert contrast(fg, bg) >= 4.5
    assert contrast(fg, "#ffffff") >= 4.5


def test_text_colours_reach_4_5_to_1() -> None:
    for fg in (gradebook_page.INK, gradebook_page.MUTED, gradebook_page.FOCUS):
        for bg in ("#ffffff", "#f6f8fa"):
            assert contrast(fg, bg) >= 4.5, (fg, bg)
    assert contrast("#ffffff", gradebook_page.FOCUS) >= 4.5  # the primary button
    assert all(mark.label and mark.symbol for mark in MARKS.values())


def test_every_step_behind_a_cell_is_shown_threshold_percent_history_and_last_acknowledgement() -> None:
    failed = Attempt(NOW - timedelta(minutes=9), 70.0, "retryable", 503, "HTTP 503: Service Unavailable")
    ok = Attempt(NOW - timedelta(minutes=5), 70.0, "synced", 200, "")
    snapshot = GradebookSnapshot(
        course=course(),
        enrollments=(
            learner("u1", "Ann", a1=70.0),
            EnrollmentRecord("c1", "u2", "learner", name="Bob", grades={1: GradeEntry(None, 1, 1)}),
        ),
        cells={
            ("u1", "la1"): cell("u1", "la1", status="synced", sent_value=70.0, sent_at=ok.at, history=(failed, ok)),
            ("u2", "la1"): cell("u2", "la1", status="user not in course", message="User not found in course"),
        },
    )
    view = build_view(snapshot, NOW, thresholds={"a1": 3})
    ann, bob = view.rows
    html = gradebook_table.cell_html(ann.cells[0], view.columns[0], 0, "/gradebook/c1", UTC)
    assert '<span class="g">70 %</span>' in html  # a percentage, with its sign
    assert "of 100; the LMS scales it to its column" in html
    assert "5 answered; a grade registers from 3" in html
    assert "LMS acknowledged</dt><dd>70 %, 2030-03-01 11:55 UTC" in html
    assert html.index("11:55 UTC: sent 70 %, synced (HTTP 200)") < html.index("11:51 UTC: sent 70 %, retryable")
    header = gradebook_table.column_header(view.columns[0], 0, None, UTC)
    assert "grade from 3 questions" in header
    # The LMS's words end their sentence before Passback's explanation starts.
    assert bob.cells[0].message.startswith("User not found in course. The LMS does not know this user")
    # Below the threshold: "1 of 3 answered" beside the grade, and the count in the message.
    below = build_view(
        GradebookSnapshot(course=course(), enrollments=(snapshot.enrollments[1],), cells={}), NOW, thresholds={"a1": 3}
    ).rows[0]
    assert below.cells[0].note == "1 of 3 answered"
    assert "1 of the 3 questions" in below.cells[0].message


def test_merge_waiting_is_explained_and_resync_column_is_only_offered_on_released_columns() -> None:
    pending = EnrollmentRecord("c1", "u3", "learner", "sub-3", name="Cy", merge_pending=True)
    waiting = build_view(GradebookSnapshot(course=course(version="1.3"), enrollments=(pending,)), NOW).rows[0].cells[0]
    assert waiting.status == CellStatus.MERGE_PENDING
    assert "Waiting for a merge confirmation" in waiting.message
    assert "held and counts here" in waiting.message
    view = build_view(GradebookSnapshot(course=course(ReleasePolicy.MANUAL), enrollments=(pending,)), NOW)
    unreleased = gradebook_table.footer_cell(view.columns[0], 0, "/gradebook/c1", UTC)
    assert "Release Grades" in unreleased
    assert "Resync column" not in unreleased
    released = build_view(
        GradebookSnapshot(course=course(ReleasePolicy.MANUAL, a1=NOW), enrollments=(pending,)), NOW
    ).columns[0]
    assert "Resync column" in gradebook_table.footer_cell(released, 0, "/gradebook/c1", UTC)


def test_times_are_shown_in_the_instructors_zone_with_the_offset() -> None:
    from zoneinfo import ZoneInfo

    pacific = ZoneInfo("America/Los_Angeles")
    assert format_when(NOW, pacific) == "2030-03-01 04:00 (UTC\u221208:00)"
    assert format_when(NOW) == "2030-03-01 12:00 UTC"
    deadline = NOW + timedelta(days=1)
    base = course()
    dated = CourseRecord(
        **{**base.__dict__, "activities": {**base.activities, "a1": ActivityInCourse("a1", 1, "Quiz A", gau=deadline)}}
    )
    view = build_view(GradebookSnapshot(course=dated), NOW, zone=pacific)
    html = gradebook_page.render(view, token="t", csrf="c")
    assert "times in America/Los_Angeles (UTC\u221208:00)" in html
    assert 'value="2030-03-02T04:00"' in html  # the deadline input holds the local wall-clock time
    assert "open until 2030-03-02 04:00 (UTC\u221208:00)" in html


def _many() -> GradebookSnapshot:
    people = [learner(f"u{n:02d}", f"Learner {n:02d}", a1=float(n), a2=None) for n in range(30)]
    zed = {1: GradeEntry(5, 5, 1)}
    people.append(
        EnrollmentRecord("c1", "ux", "learner", "sub-x", name="Zed Quux", email="zed@example.edu", grades=zed)
    )
    cells = {("u07", "la1"): cell("u07", "la1", status="LMS error", message="locked")}
    return GradebookSnapshot(course=course(version="1.3"), enrollments=tuple(people), cells=cells)


def test_filter_search_sort_and_paging_choose_the_rows() -> None:
    view = build_view(_many(), NOW)
    everything = select(view, ViewOptions())
    assert (everything.total, everything.matching, everything.pages) == (31, 31, 1)
    attention = select(view, ViewOptions.parse({"show_only": "attention", "show": "all"}))
    assert [r.name for r in attention.rows] == ["Learner 07"]
    assert [r.name for r in select(view, ViewOptions.parse({"q": "ZED@example"})).rows] == ["Zed Quux"]
    searched = {r.name for r in select(view, ViewOptions.parse({"q": "learner 1"})).rows}
    assert {"Learner 01", "Learner 10", "Learner 19"} <= searched
    assert "Learner 02" not in searched
    by_grade = select(view, ViewOptions.parse({"sort_by": "col-0:desc", "sort": "name"}))
    assert [r.name for r in by_grade.rows][:3] == ["Learner 29", "Learner 28", "Learner 27"]
    paged = select(view, ViewOptions.parse({"per": "25", "page": "2"}))
    assert (paged.page, paged.pages, len(paged.rows)) == (2, 2, 6)
    assert select(view, ViewOptions.parse({"per": "25", "page": "99"})).page == 2  # past the end: the last page
    assert ViewOptions.parse({"sort": "<script>", "show": "nonsense", "page": "x"}) == ViewOptions()
    html = gradebook_page.render(view, token="t", csrf="c", selection=paged)
    assert "Page 2 of 2" in html
    assert '<button form="view" name="page" value="1">Previous page</button>' in html


def test_the_history_export_lists_every_kept_attempt_of_one_activity() -> None:
    failed = Attempt(NOW - timedelta(minutes=9), 70.0, "retryable", 503, "HTTP 503: =Service Unavailable")
    snapshot = GradebookSnapshot(
        course=course(),
        enrollments=(learner("u1", "Ann", a1=70.0), learner("u2", "Bob", a1=60.0)),
        cells={("u1", "la1"): cell("u1", "la1", status="retrying", history=(failed,), message="HTTP 503")},
    )
    rows = history_csv(build_view(snapshot, NOW), "a1").lstrip("\ufeff").splitlines()
    assert rows[0].startswith("Learner,Email,Learner id,Activity,Attempt at (UTC)")
    assert rows[1].startswith("Ann,,u1,Quiz A,2030-03-01T11:51:00+00:00,2030-03-01 11:51:00,70,retryable,503,")
    assert "HTTP 503: =Service Unavailable" in rows[1]
    assert rows[2].startswith("Bob,,u2,Quiz A,,,,no attempt")
