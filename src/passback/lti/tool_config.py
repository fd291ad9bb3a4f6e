"""pylti1p3's tool configuration, backed by the platform registrations in DynamoDB.

Many issuers, several client ids per issuer, several deployments each. Unknown issuers and
client ids return None (pylti1p3 then raises its own exception, mapped to a 4xx page); the
library's dictionary configuration raises a bare Exception instead, which became a 500.
"""

from __future__ import annotations

from typing import Any

from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config.abstract import ToolConfAbstract

from passback.data.config_models import Platform
from passback.data.platforms import PlatformRepository


def registration_of(platform: Platform) -> Registration:
    registration = Registration()
    registration.set_issuer(platform.issuer)
    registration.set_client_id(platform.client_id)
    registration.set_auth_login_url(platform.login_url)
    registration.set_auth_token_url(platform.token_url)
    registration.set_key_set_url(platform.jwks_url)
    if platform.token_audience:
        registration.set_auth_audience(platform.token_audience)
    return registration


class DynamoToolConf(ToolConfAbstract):  # type: ignore[type-arg]
    def __init__(self, platforms: PlatformRepository) -> None:
        super().__init__()
        self._platforms = platforms

    def knows_issuer(self, iss: str) -> bool:
        """Whether any registration has this issuer (an unknown one is refused as such, not as a 500)."""
        return bool(self._platforms.for_issuer(iss))

    def check_iss_has_one_client(self, iss: str) -> bool:
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(  # type: ignore[override]  # None: pylti1p3 then refuses cleanly
        self, iss: str, *args: Any, **kwargs: Any
    ) -> Registration | None:
        candidates = self._platforms.for_issuer(iss)
        return registration_of(candidates[0]) if len(candidates) == 1 else None

    def find_registration_by_params(  # type: ignore[override]
        self, iss: str, client_id: str | None, *args: Any, **kwargs: Any
    ) -> Registration | None:
        if not client_id:
            # A login request may leave client_id out; that is fine when the issuer has one registration.
            return self.find_registration_by_issuer(iss)
        platform = self._platforms.get(iss, client_id)
        return registration_of(platform) if platform is not None else None

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        return None

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        if not self._platforms.deployment_exists(iss, client_id, deployment_id):
            return None
        return Deployment().set_deployment_id(deployment_id)
