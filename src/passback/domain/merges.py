"""Rule 12, the account merge: the link in the email, the merge of two learners' progress, masking.

Plain functions over plain data, `now` passed in: no AWS, no HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from passback.domain.progress import Progress, Tally

LINK_LIFETIME = timedelta(hours=24)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{8,64})\.([0-9]{1,12})\.([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]{43})$")


class MergeStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    EXPIRED = "expired"


class LinkCheck(StrEnum):
    VALID = "valid"
    MALFORMED = "malformed"
    TAMPERED = "tampered"
    EXPIRED = "expired"


@dataclass(frozen=True)
class LinkVerdict:
    check: LinkCheck
    request_id: str | None = None
    expires_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.check is LinkCheck.VALID


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(key: bytes, request_id: str, expires: int, kid: str) -> str:
    # The key id is inside the MAC: a token cannot be re-pointed at another key.
    message = f"passback-merge-v1|{request_id}|{expires}|{kid}".encode()
    return _b64(hmac.new(key, message, hashlib.sha256).digest())


def sign_merge_link(request_id: str, expires_at: datetime, kid: str, key: bytes) -> str:
    """The token in the "Confirm your request to merge accounts" link: request, expiry, key id, HMAC-SHA256."""
    expires = (expires_at - _EPOCH) // timedelta(seconds=1)
    return f"{request_id}.{expires}.{kid}.{_mac(key, request_id, expires, kid)}"


def verify_merge_link(token: str, keys: Mapping[str, bytes], now: datetime) -> LinkVerdict:
    """Whether a link's token is one we signed and still in date.

    Single use is not decided here: the request's conditional status write decides it.
    The signature is checked before the expiry, so an edited expiry reads as tampering.
    """
    match = _TOKEN.match(token or "")
    if match is None:
        return LinkVerdict(LinkCheck.MALFORMED)
    request_id, expires_raw, kid, mac = match.groups()
    key = keys.get(kid)
    expires = int(expires_raw)
    if key is None or not hmac.compare_digest(mac, _mac(key, request_id, expires, kid)):
        return LinkVerdict(LinkCheck.TAMPERED)
    expires_at = _EPOCH + timedelta(seconds=expires)
    if now >= expires_at:
        return LinkVerdict(LinkCheck.EXPIRED, request_id, expires_at)
    return LinkVerdict(LinkCheck.VALID, request_id, expires_at)


def merge_status(stored: str, expires_at: datetime, now: datetime) -> MergeStatus:
    """A pending request past its expiry is expired, whether or not the sweep has recorded it yet."""
    status = MergeStatus(stored)
    if status is MergeStatus.PENDING and now >= expires_at:
        return MergeStatus.EXPIRED
    return status


def _tally_merge(a: Tally, b: Tally) -> Tally:
    newer = b if a.latest_key is None or (b.latest_key is not None and b.latest_key > a.latest_key) else a
    return Tally(
        latest_key=newer.latest_key,
        latest_score=newer.latest_score,
        max_answered=max(a.max_answered, b.max_answered),
    )


def _on_time(progress: Progress, course_id: str, gau: datetime | None) -> Tally:
    """The part of one side's progress made on or before a course's deadline."""
    if course_id in progress.cuts:
        return progress.cuts[course_id]
    latest = progress.overall.latest_key
    if gau is None or latest is None or _EPOCH + timedelta(microseconds=latest[0]) <= gau:
        return progress.overall  # everything this side reported was on time for that course
    # This side never kept an on-time tally for the course (it was not enrolled there), and its
    # newest report is late: count none of it there rather than let late work change a grade (rule 7).
    return Tally()


def merge_progress(kept: Progress, absorbed: Progress, deadlines: Mapping[str, datetime]) -> Progress | None:
    """Combine two learners' progress on one activity (rule 12): nothing lost, the newer work wins.

    The kept learner's record is the one written: its version goes up by one so the write is a
    conditional put over what was read. `deadlines` maps course id to that course's GAU for the
    activity. None when the absorbed side adds nothing.
    """
    overall = _tally_merge(kept.overall, absorbed.overall)
    cuts: dict[str, Tally] = {}
    for course_id in set(kept.cuts) | set(absorbed.cuts):
        gau = deadlines.get(course_id)
        cuts[course_id] = _tally_merge(_on_time(kept, course_id, gau), _on_time(absorbed, course_id, gau))
    if overall == kept.overall and cuts == dict(kept.cuts):
        return None
    return Progress(
        learner_id=kept.learner_id,
        activity_id=kept.activity_id,
        overall=overall,
        cuts=cuts,
        version=kept.version + 1,
    )


def mask_email(email: str) -> str:
    """Enough for support to recognise an address a person reads out, not enough to harvest it."""
    local, at, domain = (email or "").partition("@")
    if not at:
        return "***"
    shown = local[:1] if len(local) <= 3 else local[:2]
    name, dot, tld = domain.rpartition(".")
    masked_domain = f"{name[:1]}***{dot}{tld}" if dot else f"{domain[:1]}***"
    return f"{shown}***@{masked_domain}"
