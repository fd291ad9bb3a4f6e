"""Rule 12 as plain functions: the merge link's signature and expiry, and combining two learners' progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from passback.domain.merges import (
    LINK_LIFETIME,
    LinkCheck,
    MergeStatus,
    mask_email,
    merge_progress,
    merge_status,
    sign_merge_link,
    verify_merge_link,
)
from passback.domain.progress import Progress, ScoreReport, progress_belongs_to_the_learner

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
KEYS = {"k1": b"k" * 32, "k2": b"j" * 32}


def token(kid: str = "k1", expires: datetime = NOW + LINK_LIFETIME) -> str:
    return sign_merge_link("req-abcdefgh", expires, kid, KEYS[kid])


def test_rule12_a_signed_link_verifies_until_it_expires() -> None:
    verdict = verify_merge_link(token(), KEYS, NOW)
    assert verdict.ok
    assert verdict.request_id == "req-abcdefgh"
    assert verify_merge_link(token(), KEYS, NOW + LINK_LIFETIME - timedelta(seconds=1)).ok
    assert verify_merge_link(token(), KEYS, NOW + LINK_LIFETIME).check is LinkCheck.EXPIRED


def test_rule12_a_link_signed_with_a_previous_key_still_verifies() -> None:
    assert verify_merge_link(token("k2"), KEYS, NOW).ok


def test_rule12_editing_any_part_of_the_link_is_tampering() -> None:
    request_id, expires, kid, mac = token().split(".")
    edits = [
        f"req-zzzzzzzz.{expires}.{kid}.{mac}",
        f"{request_id}.{int(expires) + 3600}.{kid}.{mac}",
        f"{request_id}.{expires}.k2.{mac}",
        f"{request_id}.{expires}.unknown.{mac}",
        f"{request_id}.{expires}.{kid}.{mac[::-1]}",
    ]
    for edited in edits:
        assert verify_merge_link(edited, KEYS, NOW).check is LinkCheck.TAMPERED, edited


def test_rule12_an_extended_expiry_reads_as_tampering_even_once_expired() -> None:
    request_id, expires, kid, mac = token().split(".")
    later = NOW + timedelta(days=3)
    assert verify_merge_link(f"{request_id}.{int(expires) + 86400 * 5}.{kid}.{mac}", KEYS, later).check is (
        LinkCheck.TAMPERED
    )


def test_rule12_a_truncated_or_empty_link_is_malformed() -> None:
    assert verify_merge_link("", KEYS, NOW).check is LinkCheck.MALFORMED
    assert verify_merge_link(token()[:-10], KEYS, NOW).check is LinkCheck.MALFORMED


def test_rule12_a_pending_request_past_its_expiry_is_expired_and_a_decided_one_stays_decided() -> None:
    expires = NOW + LINK_LIFETIME
    assert merge_status("pending", expires, NOW) is MergeStatus.PENDING
    assert merge_status("pending", expires, expires) is MergeStatus.EXPIRED
    assert merge_status("confirmed", expires, expires + timedelta(days=1)) is MergeStatus.CONFIRMED


def report(learner: str, score: float, answered: int, at: datetime, mid: str = "m") -> ScoreReport:
    return ScoreReport(mid, learner, "quiz", answered, score, at)


def progress(learner: str, *reports: ScoreReport) -> Progress:
    current = Progress(learner_id=learner, activity_id="quiz")
    for r in reports:
        current = progress_belongs_to_the_learner(current, r) or current
    return current


def test_rule12_merging_progress_keeps_the_newer_score_and_the_most_answered() -> None:
    kept = progress("E", report("E", 80.0, 5, NOW - timedelta(hours=2), "e1"))
    absorbed = progress("P", report("P", 60.0, 2, NOW - timedelta(hours=1), "p1"))
    merged = merge_progress(kept, absorbed)
    assert merged is not None
    assert merged.learner_id == "E"
    assert merged.overall.latest_score == 60.0
    assert merged.overall.max_answered == 5
    assert merged.version == kept.version + 1


def test_rule12_merging_older_work_keeps_the_kept_learners_newer_score() -> None:
    kept = progress("E", report("E", 80.0, 5, NOW, "e1"))
    absorbed = progress("P", report("P", 60.0, 7, NOW - timedelta(days=1), "p1"))
    merged = merge_progress(kept, absorbed)
    assert merged is not None
    assert (merged.overall.latest_score, merged.overall.max_answered) == (80.0, 7)


def test_rule12_merging_is_the_same_whichever_order_the_reports_came_in() -> None:
    reports = [
        report("E", 10.0, 1, NOW - timedelta(hours=3), "a"),
        report("E", 30.0, 4, NOW - timedelta(hours=1), "b"),
        report("E", 20.0, 2, NOW - timedelta(hours=2), "c"),
    ]
    together = progress("E", *reports)
    merged = merge_progress(progress("E", reports[0]), progress("P", *reports[1:]))
    assert merged is not None
    assert merged.overall == together.overall


def test_rule12_merging_adds_nothing_when_the_absorbed_side_has_nothing_new() -> None:
    kept = progress("E", report("E", 80.0, 5, NOW, "e1"))
    assert merge_progress(kept, Progress(learner_id="P", activity_id="quiz")) is None
    assert merge_progress(kept, progress("P", report("P", 80.0, 5, NOW, "e1"))) is None  # the same report


def test_rule7_holds_through_a_merge_late_work_does_not_change_a_course_past_its_deadline() -> None:
    gau = NOW - timedelta(hours=2)
    theirs = [
        report("E", 50.0, 3, gau - timedelta(hours=1), "e1"),
        report("E", 90.0, 6, gau + timedelta(minutes=30), "e2"),
    ]
    # The absorbed learner did work on both sides of the deadline (and was never in course-1).
    provisional = [report("P", 70.0, 4, gau - timedelta(minutes=5), "p0"), report("P", 99.0, 9, NOW, "p1")]
    kept, absorbed = progress("E", *theirs), progress("P", *provisional)
    merged = merge_progress(kept, absorbed)
    assert merged is not None
    assert merged.overall.latest_score == 99.0
    assert merged.tally_until(gau).latest_score == 70.0  # its on-time work counts, its late work does not
    assert merged.tally_until(gau).max_answered == 4
    # The same timeline as one learner who made every report, in whatever order.
    assert merged.history == progress("E", *reversed([*theirs, *provisional])).history


def test_rule12_support_sees_masked_addresses() -> None:
    assert mask_email("mia.student@example.edu") == "mi***@e***.edu"
    assert mask_email("al@x.org") == "a***@x***.org"
    assert "student" not in mask_email("mia.student@example.edu")
    assert mask_email("nonsense") == "***"
