"""The course roster (NRPS) against the enrollments Passback has: what must change, and nothing else.

A plain function over plain data, so a second read of an unchanged roster plans no write at all.
Passback stores only what the gradebook and the rules use: a learner the roster adds (so a 1.3
grade, a deadline zero say, can reach them before they launch: rule 13), and the roster's word on a
learner who is inactive or gone (so nothing is POSTed for them: rule 11). Active is the default
and is not written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from passback.domain.launches import students_enroll_themselves

ACTIVE = "Active"
INACTIVE = "Inactive"
GONE = "Deleted"  # NRPS's word for a member removed from the context; also "absent from the roster"


@dataclass(frozen=True)
class Member:
    """One NRPS member: the LTI user id (`sub`), status, roles, and the name and email if shared."""

    user_id: str
    status: str = ACTIVE
    roles: tuple[str, ...] = ()
    name: str | None = None
    email: str | None = None

    @property
    def is_learner(self) -> bool:
        return students_enroll_themselves(self.roles) == "learner"


@dataclass(frozen=True)
class Known:
    """An enrollment as the roster sync needs to see it."""

    learner_id: str
    lms_user_id: str | None
    role: str
    lms_status: str | None


@dataclass
class RosterPlan:
    new: list[Member] = field(default_factory=list)
    # (learner id, the status to store; None: active again)
    status: list[tuple[str, str | None]] = field(default_factory=list)
    # learners the roster brought back (inactive or gone before): their owed grades can go now
    returned: list[str] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return len(self.new) + len(self.status)


def _stored(status: str) -> str | None:
    return None if status == ACTIVE else (INACTIVE if status == INACTIVE else GONE)


def roster_changes(members: Iterable[Member], known: Iterable[Known]) -> RosterPlan:
    """What to write so the enrollments say what the roster says.

    - an active learner the course does not know: a new (never launched) enrollment;
    - a known learner whose status differs: the new status (active clears it);
    - a known learner absent from the roster: gone;
    - staff, and inactive strangers: nothing (no roster item is stored without a need).
    """
    plan = RosterPlan()
    by_user = {k.lms_user_id: k for k in known if k.lms_user_id}
    seen: set[str] = set()
    for member in members:
        if member.user_id in seen:
            continue  # a platform listing someone twice (two roles) counts once
        seen.add(member.user_id)
        mine = by_user.get(member.user_id)
        if mine is None:
            if member.status == ACTIVE and member.is_learner:
                plan.new.append(member)
            continue
        if mine.role != "learner":
            continue
        wanted = _stored(member.status)
        if wanted != mine.lms_status:
            plan.status.append((mine.learner_id, wanted))
            if wanted is None:
                plan.returned.append(mine.learner_id)
    for mine in by_user.values():
        if mine.role == "learner" and mine.lms_user_id not in seen and mine.lms_status != GONE:
            plan.status.append((mine.learner_id, GONE))
    return plan
