"""Re-registration racing a migration tie: a registration read-then-write must not undo a tie made
between its read and its write (the platform would silently stop continuing its 1.1 courses)."""

from __future__ import annotations

from typing import Any

import pytest

from passback import container
from passback.data.platforms import PlatformRepository

ISSUER = "https://lms.example.edu"
CLIENT = "client-1"


def register(now: Any, jwks: str = "https://lms.example.edu/jwks") -> Any:
    return container.platforms().add(
        issuer=ISSUER,
        client_id=CLIENT,
        deployment_ids=["dep-1"],
        login_url="https://lms.example.edu/auth",
        token_url="https://lms.example.edu/token",
        jwks_url=jwks,
        name="State U",
        token_audience=None,
        now=now,
        registered_by="dynamic",
    )


def test_a_re_registration_racing_a_legacy_tie_keeps_the_tie(
    aws: dict[str, str], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    container.reset()
    first = register(clock.now)
    real_get = PlatformRepository.get
    tied: list[bool] = []

    def get_then_tie(self: PlatformRepository, issuer: str, client_id: str) -> Any:
        found = real_get(self, issuer, client_id)
        if not tied:  # a migrating launch ties the platform right after the re-registration's read
            tied.append(real_get(self, issuer, client_id) is not None)
            self.set_legacy_consumer(issuer, client_id, "school-11")
        return found

    monkeypatch.setattr(PlatformRepository, "get", get_then_tie)
    again = register(clock.advance(minutes=5), jwks="https://lms.example.edu/jwks-2")
    monkeypatch.setattr(PlatformRepository, "get", real_get)

    stored = container.platforms().get(ISSUER, CLIENT)
    assert stored is not None
    assert stored.legacy_consumer_key == "school-11"
    assert stored.jwks_url == "https://lms.example.edu/jwks-2"
    assert stored.created_at == first.created_at
    assert stored.updated_at is not None
    assert again.legacy_consumer_key == "school-11"
    assert len(container.platforms().for_issuer(ISSUER)) == 1
