"""LTI 1.3 registrations (issuer + client id) and their deployments; LTI 1.1 consumers."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from passback.data.config_models import Consumer, Deployment, Platform
from passback.data.errors import is_conditional_failure
from passback.data.secret_store import SecretDocument
from passback.data.tables import ensure_bound
from passback.ids import platform_id, platform_key_lti11, platform_key_lti13


class PlatformRepository:
    def __init__(self) -> None:
        ensure_bound()

    def get(self, issuer: str, client_id: str) -> Platform | None:
        pk, sk = Platform.keys_for(issuer=issuer, client_id=client_id)
        try:
            item = Platform.get(pk, sk)
        except Platform.DoesNotExist:
            return None
        return item if isinstance(item, Platform) else None

    def for_issuer(self, issuer: str) -> list[Platform]:
        pk = f"ISS#{issuer}"
        return [item for item in Platform.query(pk, Platform.sk.startswith("CLIENT#")) if isinstance(item, Platform)]

    def deployment_exists(self, issuer: str, client_id: str, deployment_id: str) -> bool:
        pk, sk = Deployment.keys_for(issuer=issuer, client_id=client_id, deployment_id=deployment_id)
        try:
            Deployment.get(pk, sk)
        except Deployment.DoesNotExist:
            return False
        return True

    def deployments(self, issuer: str, client_id: str) -> list[str]:
        prefix = f"CLIENT#{client_id}#DEP#"
        return [
            item.deployment_id
            for item in Deployment.query(f"ISS#{issuer}", Deployment.sk.startswith(prefix))
            if isinstance(item, Deployment)
        ]

    def add(
        self,
        *,
        issuer: str,
        client_id: str,
        deployment_ids: list[str],
        login_url: str,
        token_url: str,
        jwks_url: str,
        name: str | None,
        token_audience: str | None,
        now: datetime,
        registered_by: str | None = None,
    ) -> Platform:
        """Register, or update in place: the same issuer and client id is one item, never two.

        An update sets only the registration's own fields, never the whole item: a launch tying the
        platform to its LTI 1.1 consumer (or an operator's `link-legacy`) between this read and this
        write must not be undone by a re-registration (docs/migration.md)."""
        existing = self.get(issuer, client_id)
        if existing is None:
            platform = Platform(
                issuer=issuer,
                client_id=client_id,
                platform_id=platform_id(platform_key_lti13(issuer)),
                name=name,
                login_url=login_url,
                token_url=token_url,
                jwks_url=jwks_url,
                token_audience=token_audience,
                created_at=now,
                registered_by=registered_by,
            )
            try:
                platform.save(condition=Platform.pk.does_not_exist())
            except PutError as error:
                if not is_conditional_failure(error):
                    raise
                existing = platform  # a racing registration created it first: update that one
        if existing is not None:
            pk, sk = Platform.keys_for(issuer=issuer, client_id=client_id)
            actions: list[Any] = [
                Platform.login_url.set(login_url),
                Platform.token_url.set(token_url),
                Platform.jwks_url.set(jwks_url),
                Platform.updated_at.set(now),
                Platform.name.set(name) if name else Platform.name.remove(),
                Platform.token_audience.set(token_audience) if token_audience else Platform.token_audience.remove(),
            ]
            if registered_by:
                actions.append(Platform.registered_by.set(registered_by))
            Platform(pk=pk, sk=sk).update(actions=actions, condition=Platform.pk.exists())
            platform = Platform.get(pk, sk, consistent_read=True)
        for deployment_id in deployment_ids:
            Deployment(issuer=issuer, client_id=client_id, deployment_id=deployment_id, created_at=now).save()
        return platform

    def add_deployment(self, issuer: str, client_id: str, deployment_id: str, now: datetime) -> None:
        Deployment(issuer=issuer, client_id=client_id, deployment_id=deployment_id, created_at=now).save()

    def set_legacy_consumer(
        self, issuer: str, client_id: str, consumer_key: str | None, *, by: str = "operator"
    ) -> bool:
        """Tie this 1.3 registration to the LTI 1.1 consumer it was (None unties); False if no such registration.

        `by` is "operator" (`link-legacy`: a claim for another consumer is then refused) or "claim" (the
        first verified `lti1p1` claim: a verified claim for another consumer of the same LMS still continues)."""
        pk, sk = Platform.keys_for(issuer=issuer, client_id=client_id)
        actions: list[Any] = (
            [Platform.legacy_consumer_key.remove(), Platform.legacy_tied_by.remove()]
            if consumer_key is None
            else [Platform.legacy_consumer_key.set(consumer_key), Platform.legacy_tied_by.set(by)]
        )
        try:
            Platform(pk=pk, sk=sk).update(actions=actions, condition=Platform.pk.exists())
        except UpdateError as error:
            if is_conditional_failure(error):
                return False
            raise
        return True

    def remove(self, issuer: str, client_id: str) -> bool:
        found = self.get(issuer, client_id)
        for item in Deployment.query(f"ISS#{issuer}", Deployment.sk.startswith(f"CLIENT#{client_id}#DEP#")):
            item.delete()
        if found is None:
            return False
        found.delete()
        return True

    def list_all(self) -> list[Platform]:
        return [item for item in Platform.by_kind.query("platform") if isinstance(item, Platform)]


RECHECK_SECONDS = 10.0


class ConsumerRepository:
    """LTI 1.1 consumers; the shared secrets are in one Secrets Manager document by consumer key."""

    def __init__(self, secrets: SecretDocument) -> None:
        ensure_bound()
        self._secrets = secrets

    def get(self, consumer_key: str) -> Consumer | None:
        pk, sk = Consumer.keys_for(consumer_key=consumer_key)
        try:
            item = Consumer.get(pk, sk)
        except Consumer.DoesNotExist:
            return None
        return item if isinstance(item, Consumer) else None

    def secret(self, consumer_key: str) -> str | None:
        """The current shared secret (what outcomes are signed with first)."""
        value = self._secrets.read().get(consumer_key)
        if value is None:
            # A consumer added after this container cached the document.
            value = self._secrets.read(fresh=True).get(consumer_key)
        return value if isinstance(value, str) else None

    def secrets(self, consumer_key: str, now: datetime, *, recheck: bool = False) -> list[str]:
        """The secrets a launch or an outcome may use now: the current one, then the previous one
        while its grace period after a rotation lasts (so the LMS can be updated at its own pace).
        `recheck` (a signature none of the cached secrets verified): read the document again unless
        this container read it in the last RECHECK_SECONDS, so an LMS already switched to a rotated
        secret is not refused for the cache's five minutes (and forged launches cannot make every
        request a Secrets Manager call)."""
        if recheck:
            document = self._secrets.read(max_age=RECHECK_SECONDS)
            value = document.get(consumer_key)
            current = value if isinstance(value, str) else None
        else:
            current = self.secret(consumer_key)
            document = self._secrets.read()
        if current is None:
            return []
        found = [current]
        previous = document.get(_previous_entry(consumer_key))
        if isinstance(previous, dict) and isinstance(previous.get("secret"), str):
            until = datetime.fromisoformat(str(previous.get("until")))
            if now < until and previous["secret"] != current:
                found.append(previous["secret"])
        return found

    def add(self, *, consumer_key: str, secret: str, name: str | None, now: datetime) -> Consumer:
        document = dict(self._secrets.read(fresh=True))
        document[consumer_key] = secret
        document.pop(_previous_entry(consumer_key), None)
        self._secrets.write(document)
        consumer = Consumer(
            consumer_key=consumer_key,
            platform_id=platform_id(platform_key_lti11(consumer_key)),
            name=name,
            created_at=now,
        )
        consumer.save()
        return consumer

    def rotate(self, *, consumer_key: str, secret: str, now: datetime, grace: timedelta) -> datetime:
        """Replace the shared secret; the old one stays valid for `grace`. Returns when it stops."""
        document = dict(self._secrets.read(fresh=True))
        old = document.get(consumer_key)
        until = now + grace
        document[consumer_key] = secret
        if isinstance(old, str) and grace > timedelta(0):
            document[_previous_entry(consumer_key)] = {"secret": old, "until": until.isoformat()}
        else:
            document.pop(_previous_entry(consumer_key), None)
        self._secrets.write(document)
        pk, sk = Consumer.keys_for(consumer_key=consumer_key)
        Consumer(pk=pk, sk=sk).update(
            actions=[Consumer.rotated_at.set(now), Consumer.previous_valid_until.set(until)],
            condition=Consumer.pk.exists(),
        )
        return until

    def remove(self, consumer_key: str) -> bool:
        document = dict(self._secrets.read(fresh=True))
        had_secret = document.pop(consumer_key, None) is not None
        document.pop(_previous_entry(consumer_key), None)
        self._secrets.write(document)
        found = self.get(consumer_key)
        if found is not None:
            found.delete()
        return had_secret or found is not None

    def list_all(self) -> list[Consumer]:
        return [item for item in Consumer.by_kind.query("consumer") if isinstance(item, Consumer)]


def _previous_entry(consumer_key: str) -> str:
    # '#' cannot be in a consumer key (the CLI refuses it), so this never names a real consumer.
    return f"{consumer_key}#previous"
