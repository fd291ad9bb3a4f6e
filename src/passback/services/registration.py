"""LTI Dynamic Registration: one URL registers Passback in an LMS (docs/lms-setup.md).

The LMS opens `BASE/lti13/register?invite=...&openid_configuration=...&registration_token=...` in a
window. Passback shows what it is about to register (`prepare`); the admin confirms (`register`):
Passback claims the one-time invite, reads the platform's OpenID configuration again, posts its
client registration with the platform's registration token, and stores the platform and its
deployment. The same issuer and client id registering again updates that registration in place.

Invites: `passback platforms invite` makes one, valid for a day and usable once; the deployment
setting `OpenRegistration` lets any LMS register without one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from passback.data.config_models import Platform
from passback.data.invites import InviteStore
from passback.data.platforms import PlatformRepository
from passback.lti.descriptions import registration_request
from passback.lti.platform_registration import (
    PlatformConfiguration,
    RegistrationClient,
    RegistrationRefused,
)
from passback.observability import logger

INVITE_VALIDITY = timedelta(days=1)
MAX_INVITE_CHARS = 128

ASK_FOR_INVITE = (
    "Ask the Passback operator for a new registration URL (`passback platforms invite`, valid for a day, "
    "usable once) and paste it into the LMS."
)


@dataclass(frozen=True)
class Registered:
    platform: Platform
    deployment_id: str | None
    updated: bool
    config: PlatformConfiguration


class RegistrationService:
    def __init__(
        self,
        platforms: PlatformRepository,
        invites: InviteStore,
        client: RegistrationClient,
        *,
        open_registration: bool,
    ) -> None:
        self.platforms = platforms
        self.invites = invites
        self.client = client
        self.open_registration = open_registration

    def invite(self, now: datetime, *, name: str | None = None, valid_for: timedelta = INVITE_VALIDITY) -> str:
        """A new one-time invite token (only its hash is stored)."""
        token = secrets.token_urlsafe(24)
        self.invites.issue(token, name=name, now=now, valid_for=valid_for)
        return token

    def check_invite(self, invite: str | None, now: datetime) -> None:
        if self.open_registration and not invite:
            return
        if not invite or len(invite) > MAX_INVITE_CHARS:
            raise RegistrationRefused(
                "invite",
                "this registration URL carries no invite, and this Passback does not accept registrations without one.",
                ASK_FOR_INVITE,
                status=403,
            )
        found = self.invites.get(invite)
        if found is None:
            raise RegistrationRefused("invite", "this invite is unknown.", ASK_FOR_INVITE, status=403)
        if found.used_at is not None:
            raise RegistrationRefused(
                "invite",
                f"this invite was already used ({found.used_at:%Y-%m-%d %H:%M} UTC).",
                ASK_FOR_INVITE,
                status=403,
            )
        if found.expires <= now:
            raise RegistrationRefused(
                "invite", f"this invite expired at {found.expires:%Y-%m-%d %H:%M} UTC.", ASK_FOR_INVITE, status=403
            )

    def prepare(
        self, invite: str | None, openid_configuration: str | None, registration_token: str | None, now: datetime
    ) -> PlatformConfiguration:
        """Check the invite and the platform's configuration; nothing is written."""
        self.check_invite(invite, now)
        return self.client.openid_configuration(openid_configuration or "", registration_token)

    def register(
        self,
        invite: str | None,
        openid_configuration: str | None,
        registration_token: str | None,
        base_url: str,
        now: datetime,
    ) -> Registered:
        config = self.prepare(invite, openid_configuration, registration_token, now)
        claimed = False
        if invite:
            if not self.invites.claim(invite, now, used_by=config.issuer):
                raise RegistrationRefused(
                    "invite", "this invite was used by another registration a moment ago.", ASK_FOR_INVITE, status=403
                )
            claimed = True
        try:
            answer, _ = self.client.register(config, registration_token, registration_request(base_url))
        except RegistrationRefused:
            if claimed and invite:
                self.invites.release(invite)  # nothing was registered: the admin may try again
            raise
        existing = self.platforms.get(config.issuer, answer.client_id)
        deployments = [answer.deployment_id] if answer.deployment_id else []
        if existing is not None:
            # Keep the deployments Passback knows; the platform's answer adds its current one.
            deployments = sorted(set(self.platforms.deployments(config.issuer, answer.client_id)) | set(deployments))
        platform = self.platforms.add(
            issuer=config.issuer,
            client_id=answer.client_id,
            deployment_ids=deployments,
            login_url=config.authorization_endpoint,
            token_url=config.token_endpoint,
            jwks_url=config.jwks_uri,
            name=existing.name if existing and existing.name else _name(config),
            token_audience=config.authorization_server,
            now=now,
            registered_by="dynamic",
        )
        logger.info(
            "platform registered",
            extra={
                "issuer": config.issuer,
                "client_id": answer.client_id,
                "deployment": answer.deployment_id,
                "updated": existing is not None,
                "platform": platform.platform_id,
            },
        )
        return Registered(platform, answer.deployment_id, existing is not None, config)


def _name(config: PlatformConfiguration) -> str:
    family = config.product_family_code or "LMS"
    return f"{family.capitalize()} at {config.issuer}"[:200]
