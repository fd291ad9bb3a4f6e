"""Registering products and their credentials (`passback products add|list|rotate|remove`).

A credential is an RSA key pair: Passback keeps only the public half (a JWK, its kid the
RFC 7638 thumbprint). `add` and `rotate` either take the product's own public key (the private
key never leaves the product) or make a pair and hand back the private key once. A rotation adds
a key and leaves the old one live until it is retired, so a product can switch without downtime.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from passback.data.products import ProductRecord, ProductRepository
from passback.tool_keys import public_jwk

DEFAULT_RATE = 100  # messages per second per product
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")


class ProductError(Exception):
    """A request an operator must change (the CLI prints it and exits 2)."""


@dataclass(frozen=True)
class NewCredential:
    product_id: str
    kid: str
    private_pem: str | None  # only when Passback made the key pair


def jwk_of_public_pem(pem: str) -> dict[str, str]:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        loaded = load_pem_public_key(pem.encode("utf-8"))
    except ValueError as error:
        raise ProductError(f"not a PEM public key: {error}") from None
    if not isinstance(loaded, RSAPublicKey) or loaded.key_size < 2048:
        raise ProductError("the key must be an RSA public key of at least 2048 bits (RS256)")
    key: RSAPublicKey = loaded

    class _Wrapper:  # public_jwk() takes a private key only to call .public_key() on it
        def public_key(self) -> RSAPublicKey:
            return key

    return public_jwk(_Wrapper())  # type: ignore[arg-type]


def _new_pair() -> tuple[dict[str, str], str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    return public_jwk(private), pem


def _pair(public_pem: str | None) -> tuple[dict[str, str], str | None]:
    """The credential's public JWK, and the private key PEM when Passback made the pair."""
    if public_pem is not None:
        return jwk_of_public_pem(public_pem), None
    jwk, private = _new_pair()
    return jwk, private


class ProductAdmin:
    def __init__(self, products: ProductRepository) -> None:
        self.products = products

    def add(
        self,
        name: str,
        *,
        platform_ids: list[str],
        public_pem: str | None,
        rate_per_second: int,
        now: datetime,
    ) -> NewCredential:
        if not _NAME.match(name):
            raise ProductError("a product name is 2-41 lowercase letters, digits or '-', e.g. quiz-app")
        if rate_per_second < 1:
            raise ProductError("--rate must be at least 1 message per second")
        product_id = f"{name}-{secrets.token_hex(3)}"
        record = ProductRecord(
            product_id=product_id,
            name=name,
            platforms=tuple(dict.fromkeys(platform_ids)),
            rate_per_second=rate_per_second,
            created_at=now,
        )
        pair = _pair(public_pem)  # a bad key refuses the whole add: no product without a credential
        if not self.products.create(record):
            raise ProductError(f"a product {product_id} exists already")
        return self._credential(product_id, pair, now)

    def rotate(self, product_id: str, *, public_pem: str | None, now: datetime) -> NewCredential:
        self._require(product_id)
        return self._credential(product_id, _pair(public_pem), now)

    def retire(self, product_id: str, kid: str) -> None:
        self._require(product_id)
        if not self.products.revoke_key(product_id, kid):
            live = ", ".join(k for k, _ in self.products.keys(product_id)) or "none"
            raise ProductError(f"{product_id} has no live key {kid} (live: {live})")

    def remove(self, product_id: str) -> None:
        if not self.products.delete(product_id):
            raise ProductError(f"no product {product_id} (passback products list)")

    def assign(self, product_id: str, activity_id: str, now: datetime) -> None:
        """Give an unowned activity (e.g. one the score queue published) to a product; never takes one."""
        self._require(product_id)
        owner = self.products.claim_activity(activity_id, product_id, now)
        if owner != product_id:
            raise ProductError(f"activity {activity_id} belongs to {owner}: it stays that product's")

    def describe(self) -> list[dict[str, Any]]:
        found = []
        for product in sorted(self.products.list_all(), key=lambda p: p.product_id):
            found.append(
                {
                    "product_id": product.product_id,
                    "name": product.name,
                    "platforms": list(product.platforms),
                    "rate_per_second": product.rate_per_second,
                    "keys": [kid for kid, _ in self.products.keys(product.product_id)],
                }
            )
        return found

    def _require(self, product_id: str) -> ProductRecord:
        product = self.products.get(product_id)
        if product is None:
            raise ProductError(f"no product {product_id} (passback products list)")
        return product

    def _credential(self, product_id: str, pair: tuple[dict[str, str], str | None], now: datetime) -> NewCredential:
        jwk, private = pair
        if any(kid == jwk["kid"] for kid, _ in self.products.keys(product_id)):
            raise ProductError(f"this key is already live for {product_id} (kid {jwk['kid']})")
        self.products.add_key(product_id, jwk, now)
        return NewCredential(product_id=product_id, kid=jwk["kid"], private_pem=private)


def grant_handoff(
    products: ProductRepository, *, learner_id: str, activity_id: str | None, platform_id: str, now: datetime
) -> list[str]:
    """At a learner's handoff, the products the learner id is issued to: the activity's owner, or
    (a homepage link) the products deployed on the launch's platform. They may report on it."""
    if activity_id is not None:
        owner = products.activity_owner(activity_id)
        granted = [owner] if owner else []
    else:
        granted = products.deployed_on(platform_id)
    for product_id in granted:
        products.grant(product_id, learner_id, now)
    return granted
