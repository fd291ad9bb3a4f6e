"""Rule 12, the account merge: the link in the email, the merge of two learners' progress, masking.

Plain functions over plain data, `now` passed in: no AWS, no HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from passback.domain.progress import Progress, with_steps

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


def merge_progress(kept: Progress, absorbed: Progress) -> Progress | None:
    """Combine two learners' progress on one activity (rule 12): nothing lost, the newer work wins.

    The two timelines become one (the union of their reports), so every course's grade is read
    from it at that course's deadline exactly as if one learner had made all the reports: work
    the absorbed side did after a deadline stays late there (rule 7). The kept learner's record
    is the one written: its version goes up by one so the write is a conditional put over what
    was read. None when the absorbed side adds nothing.
    """
    merged = with_steps(kept, list(absorbed.history), absorbed.floor)
    if merged is None:
        return None
    return replace(merged, learner_id=kept.learner_id, activity_id=kept.activity_id)


def mask_email(email: str) -> str:
    """Enough for support to recognise an address a person reads out, not enough to harvest it."""
    local, at, domain = (email or "").partition("@")
    if not at:
        return "***"
    shown = local[:1] if len(local) <= 3 else local[:2]
    name, dot, tld = domain.rpartition(".")
    masked_domain = f"{name[:1]}***{dot}{tld}" if dot else f"{domain[:1]}***"
    return f"{shown}***@{masked_domain}"
