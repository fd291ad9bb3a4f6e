"""The LTI 1.1 migration claim (`https://purl.imsglobal.org/spec/lti/claim/lti1p1`, 1EdTech LTI 1.3
migration guide): what a 1.3 launch was in LTI 1.1, signed with the 1.1 shared secret.

`oauth_consumer_key_sign` is base64(HMAC-SHA256(key = the consumer's shared secret, message =
oauth_consumer_key & deployment_id & iss & client_id & exp & nonce)), the six values joined by `&`
as the launch carries them. Only a platform that holds the 1.1 secret can make it, which is what
lets Passback link the 1.3 identities to the 1.1 ones: a claim that does not verify links nothing.

A platform can also be tied to its 1.1 consumer by an operator (`passback platforms link-legacy`),
for LMSs that keep their ids across the move and send no claim: then the launch's own ids are the
1.1 ones. A claim naming another consumer than an operator's tie is refused; a tie made by an earlier
verified claim does not refuse a verified claim for another consumer of the same LMS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from passback.data.platforms import ConsumerRepository, PlatformRepository
from passback.lti.errors import MAX_ID_BYTES, LaunchRefused, fits
from passback.services.launch import LaunchFacts, LegacyIds

LTI1P1_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/lti1p1"
DEPLOYMENT_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/deployment_id"

SECRET_ADVICE = (
    "The LMS administrator should check that the LTI 1.1 consumer key and shared secret the LMS holds for this "
    "tool are the ones Passback issued (`passback consumers list`), or untie the platform "
    "(`passback platforms link-legacy --unlink`); see docs/migration.md."
)


def consumer_key_sign(
    secret: str, *, consumer_key: str, deployment_id: str, iss: str, client_id: str, exp: Any, nonce: str
) -> str:
    exp_text = str(int(exp)) if isinstance(exp, int | float) and float(exp).is_integer() else str(exp)
    base = "&".join([consumer_key, deployment_id, iss, client_id, exp_text, nonce])
    digest = hmac.new(secret.encode("utf-8"), base.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class LegacyClaims:
    def __init__(self, platforms: PlatformRepository, consumers: ConsumerRepository) -> None:
        self._platforms = platforms
        self._consumers = consumers

    def legacy_of(self, body: dict[str, Any], facts: LaunchFacts, now: datetime) -> LegacyIds | None:
        """The 1.1 ids of this (already validated) 1.3 launch, or None when it was never 1.1."""
        iss, client_id = str(body.get("iss")), str(facts.client_id or "")
        platform = self._platforms.get(iss, client_id)
        tied = platform.legacy_consumer_key if platform is not None else None
        claim = body.get(LTI1P1_CLAIM)
        if not isinstance(claim, dict) or not claim.get("oauth_consumer_key"):
            if tied:
                return LegacyIds(tied, facts.user_id, facts.context_id, facts.resource_link_id, "operator tie")
            return None
        values = {name: claim.get(name) for name in ("oauth_consumer_key", "user_id", "context_id", "resource_link_id")}
        if any(v is not None and (not isinstance(v, str) or not fits(v, MAX_ID_BYTES)) for v in values.values()):
            raise LaunchRefused("lti1p1", "the lti1p1 claim's ids are not strings of at most 255 bytes.", SECRET_ADVICE)
        key = str(values["oauth_consumer_key"])
        # Only an operator's tie pins the consumer: a tie made by an earlier verified claim does not stop a
        # verified claim for another consumer of the same LMS (two 1.1 keys, one 1.3 registration).
        if tied and key != tied and platform is not None and platform.legacy_tied_by != "claim":
            raise LaunchRefused(
                "lti1p1",
                f"the launch says this LMS was LTI 1.1 consumer {key[:40]!r}, but an operator tied it to another "
                "consumer.",
                "The Passback operator should check `passback platforms list` and tie the right consumer "
                "(`passback platforms link-legacy`); see docs/migration.md.",
                status=403,
            )
        # The current secret, and the previous one during a rotation's grace period.
        secrets = self._consumers.secrets(key, now) if self._consumers.get(key) is not None else []
        if not secrets:
            return None  # not a consumer of this Passback: there is nothing to continue
        sign = claim.get("oauth_consumer_key_sign")

        def signed_with(secret: str) -> str:
            return consumer_key_sign(
                secret,
                consumer_key=key,
                deployment_id=str(body.get(DEPLOYMENT_CLAIM)),
                iss=iss,
                client_id=client_id,
                exp=body.get("exp"),
                nonce=str(body.get("nonce")),
            )

        if not isinstance(sign, str) or not any(
            hmac.compare_digest(sign.encode("utf-8"), signed_with(secret).encode("ascii")) for secret in secrets
        ):
            raise LaunchRefused(
                "lti1p1 signature",
                f"the launch says this LMS was LTI 1.1 consumer {key[:40]!r}, but its oauth_consumer_key_sign does "
                "not verify with that consumer's shared secret, so Passback links nothing.",
                SECRET_ADVICE,
                status=403,
            )
        if not tied:
            self._platforms.set_legacy_consumer(iss, client_id, key, by="claim")
        return LegacyIds(
            consumer_key=key,
            user_id=str(values["user_id"] or facts.user_id),
            context_id=str(values["context_id"] or facts.context_id),
            resource_link_id=str(values["resource_link_id"] or facts.resource_link_id),
            verified_by="lti1p1 claim",
        )
