"""The course roster (NRPS) against the enrollments Passback has: what must change, and nothing else.

A plain function over plain data, so a second read of an unchanged roster plans no write at all.
Passback stores only what the gradebook and the rules use: a learner the roster adds (so a 1.3
grade, a deadline zero say, can reach them before they launch: rule 13), and the roster's word on a
learner who is inactive or gone (so nothing is POSTed for them: rule 11). Active is the default
and is not written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from passback.domain.launches import only_observes, students_enroll_themselves

ACTIVE = "Active"
INACTIVE = "Inactive"
GONE = "Deleted"  # NRPS's word for a member removed from the context; also "absent from the roster"
# How long a roster read counts as in progress after it started (a function runs 15 minutes at most):
# a read that died without saying so stops costing launches a write after that.
READ_LEASE = timedelta(minutes=15)


def launch_during_roster_read(read_since: datetime | None, now: datetime) -> bool:
    """A launch while the course's roster is being read must leave its time on the enrollment: the read
    may have seen the learner inactive before they were reactivated and launched, and its write must not
    then mark them inactive (the launch is the newer word)."""
    return read_since is not None and now - read_since < READ_LEASE


def roster_word_stands(launched_at: datetime | None, read_started: datetime) -> bool:
    """The roster's "inactive" or "gone" may be written only if the learner has not launched since the
    read started."""
    return launched_at is None or launched_at < read_started


@dataclass(frozen=True)
class Member:
    """One NRPS member: the LTI user id (`sub`), status, roles, and the name and email if shared."""

    user_id: str
    status: str = ACTIVE
    roles: tuple[str, ...] = ()
    name: str | None = None
    email: str | None = None
    # NRPS `lti11_legacy_user_id`: their LTI 1.1 user id, where the LMS gave them a new one in 1.3.
    legacy_user_id: str | None = None

    @property
    def is_learner(self) -> bool:
        return students_enroll_themselves(self.roles) == "learner" and not only_observes(self.roles)


@dataclass(frozen=True)
class Known:
    """An enrollment as the roster sync needs to see it."""

    learner_id: str
    lms_user_id: str | None
    role: str
    lms_status: str | None
    # In a course migrated from LTI 1.1 (docs/migration.md), a learner whose 1.3 id is not known yet:
    # their 1.1 user id, which the roster names as `lti11_legacy_user_id`.
    legacy_user_id: str | None = None


@dataclass
class RosterPlan:
    new: list[Member] = field(default_factory=list)
    # (learner id, the status to store; None: active again)
    status: list[tuple[str, str | None]] = field(default_factory=list)
    # learners the roster brought back (inactive or gone before): their owed grades can go now
    returned: list[str] = field(default_factory=list)
    # (learner id, their 1.3 user id): 1.1 learners of a migrated course the roster named by their 1.1 id
    subs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.new) + len(self.status) + len(self.subs)


def _stored(status: str) -> str | None:
    return None if status == ACTIVE else (INACTIVE if status == INACTIVE else GONE)


def roster_changes(members: Iterable[Member], known: Iterable[Known]) -> RosterPlan:
    """What to write so the enrollments say what the roster says.

    - an active learner the course does not know: a new (never launched) enrollment;
    - a known learner whose status differs: the new status (active clears it);
    - a known learner absent from the roster: gone;
    - staff, and inactive strangers: nothing (no roster item is stored without a need);
    - in a course migrated from LTI 1.1, a member whose `lti11_legacy_user_id` is a known learner's 1.1
      id is that learner (not a new one, and the 1.1 id is not "gone"): their 1.3 id is noted; a roster
      that names no 1.1 learner at all (no legacy ids, no 1.1 id) adds nobody and marks no 1.1 learner gone.
    """
    plan = RosterPlan()
    known = list(known)
    by_user = {k.lms_user_id: k for k in known if k.lms_user_id}
    by_legacy = {k.legacy_user_id: k for k in known if k.legacy_user_id}
    unique: dict[str, Member] = {}
    for member in members:
        unique.setdefault(member.user_id, member)  # a platform listing someone twice (two roles) counts once
    # A 1.1 id the roster gives more than one person (two members name it, or one member has it as their own
    # id): binding it would make two people one learner, so it maps nobody (identity is never guessed).
    claims = Counter(m.legacy_user_id for m in unique.values() if m.legacy_user_id and m.legacy_user_id != m.user_id)
    claims.update(user_id for user_id in unique if user_id in claims)
    matched: set[str] = set()
    for member in unique.values():
        mine = by_user.get(member.user_id)
        if mine is None and member.legacy_user_id:
            mine = by_legacy.get(member.legacy_user_id)
            if mine is not None and claims[member.legacy_user_id] > 1:
                matched.add(mine.learner_id)  # ambiguous: not a stranger to add, nor proof the learner left
                continue
            if mine is not None and mine.role == "learner":
                plan.subs.append((mine.learner_id, member.user_id))
        if mine is None:
            if member.status == ACTIVE and member.is_learner:
                plan.new.append(member)
            continue
        matched.add(mine.learner_id)
        if mine.role != "learner":
            continue
        wanted = _stored(member.status)
        if wanted != mine.lms_status:
            plan.status.append((mine.learner_id, wanted))
            if wanted is None:
                plan.returned.append(mine.learner_id)
    unnamed = _unnamed_11_learners(known, matched, unique.values())
    plan.new = [] if unnamed else plan.new
    for mine in by_user.values():
        if mine.role == "learner" and mine.learner_id not in matched | unnamed and mine.lms_status != GONE:
            plan.status.append((mine.learner_id, GONE))
    return plan


def _unnamed_11_learners(known: list[Known], matched: set[str], members: Iterable[Member]) -> set[str]:
    """A migrated course whose 1.1 learners the roster cannot name (new ids in 1.3, no legacy ids, and none
    matched by a 1.1 id): any member may be one of them, and their absence proves nothing. Adding the
    members would give 1.1 learners second accounts (their 1.3 identity bound there for good), and marking
    the 1.1 learners gone would block them all; their own 1.3 launches join them instead. Empty when the
    roster does speak for them."""
    unnamed = {k.learner_id for k in known if k.legacy_user_id}
    if not unnamed or unnamed & matched or any(m.legacy_user_id for m in members):
        return set()
    return unnamed


def still_leaving(first: RosterPlan, again: RosterPlan) -> RosterPlan:
    """The first read's plan, keeping only the inactive or gone that a second look (after the read was
    marked in progress) confirms: a member reactivated in between is left as they are."""
    confirmed = {change for change in again.status if change[1] is not None}
    return RosterPlan(
        new=first.new,
        status=[change for change in first.status if change[1] is None or change in confirmed],
        returned=first.returned,
        subs=first.subs,
    )
