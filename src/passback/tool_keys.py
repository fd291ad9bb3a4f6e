"""The tool's RSA signing keys: private halves in Secrets Manager, public JWKs in the config table.

Used to sign AGS client assertions, the product handoff token and instructor sessions, and
served as the JWKS. A private key is parsed once per container (parsing a PEM costs tens of
milliseconds; signing with the loaded object is a fraction of one).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from passback.data.config_models import ToolKey
from passback.data.secret_store import SecretDocument
from passback.data.tables import ensure_bound

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

_JWKS_CACHE_SECONDS = 60.0
MIN_AGE_BEFORE_RETIRE = timedelta(minutes=15)
# Platforms check a tool's `iat` without leeway (Moodle's php-jwt refuses "a token with iat prior to"
# its own clock), so a tool clock one second ahead of the LMS's would get its client assertions and
# deep-linking responses refused. What Passback signs for a platform is dated this much earlier
# (pylti1p3 takes 5 s off its client assertions for the same reason); lifetimes count from that date.
ISSUED_EARLIER = timedelta(seconds=30)


def issued_at(now: datetime) -> int:
    """The `iat` of a JWT Passback signs for a platform (see ISSUED_EARLIER)."""
    return int((now - ISSUED_EARLIER).timestamp())


class NoToolKey(Exception):
    """No signing key yet: run `passback keys rotate` once after deploying."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: RSAPrivateKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(private_key: RSAPrivateKey) -> dict[str, str]:
    numbers = private_key.public_key().public_numbers()
    n = _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"))
    e = _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"))
    # RFC 7638 thumbprint: the kid changes exactly when the key does.
    thumbprint = _b64(
        hashlib.sha256(json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":")).encode()).digest()
    )
    return {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": thumbprint, "n": n, "e": e}


class ToolKeys:
    def __init__(self, secret: SecretDocument) -> None:
        ensure_bound()
        self._secret = secret
        self._loaded: dict[str, RSAPrivateKey] = {}
        self._jwks: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()

    def signing_key(self) -> SigningKey:
        document = self._secret.read()
        active = [k for k in document.get("keys", []) if k.get("status") == "active"]
        if not active:
            document = self._secret.read(fresh=True)
            active = [k for k in document.get("keys", []) if k.get("status") == "active"]
        if not active:
            raise NoToolKey("the tool has no signing key yet: run `passback keys rotate`")
        newest = max(active, key=lambda k: str(k.get("created_at", "")))
        kid = str(newest["kid"])
        with self._lock:
            key = self._loaded.get(kid)
            if key is None:
                key = _load_private(str(newest["private_pem"]))
                self._loaded[kid] = key
        return SigningKey(kid=kid, private_key=key)

    def link_keys(self) -> tuple[str, dict[str, bytes]]:
        """HMAC keys for signed links (the merge email), derived from each private key in the secret.

        Returns the current key's id and every key by id: a link signed just before a rotation still
        verifies until the previous key is retired.
        """
        import hashlib
        import hmac

        current = self.signing_key().kid
        document = self._secret.read()
        label = b"passback signed links v1"
        keys = {
            str(k["kid"]): hmac.new(str(k["private_pem"]).encode(), label, hashlib.sha256).digest()
            for k in document.get("keys", [])
            if k.get("private_pem")
        }
        return current, keys

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        import jwt

        key = self.signing_key()
        return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid, **(headers or {})})

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            if self._jwks is not None and time.monotonic() - self._jwks[0] < _JWKS_CACHE_SECONDS:
                return self._jwks[1]
        try:
            keys = [json.loads(item.public_jwk) for item in ToolKey.query("TOOLKEY") if isinstance(item, ToolKey)]
        except Exception:
            # A throttled or failed read must not make LMSs refuse our tokens: an older key set
            # is still right unless a rotation happened within the cache period.
            with self._lock:
                if self._jwks is not None:
                    return self._jwks[1]
            raise
        value = {"keys": keys}
        with self._lock:
            self._jwks = (time.monotonic(), value)
        return value

    def public_keys(self) -> list[ToolKey]:
        return [item for item in ToolKey.query("TOOLKEY") if isinstance(item, ToolKey)]

    def ensure_key(self, now: datetime) -> str:
        """Generate the first key if there is none (the local stack's first use)."""
        document = self._secret.read(fresh=True)
        active = [k for k in document.get("keys", []) if k.get("status") == "active"]
        if active:
            return str(active[0]["kid"])
        return self.rotate(now)

    def rotate(self, now: datetime) -> str:
        """Add a new active key; the previous ones stay in the JWKS until retired."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii")
        jwk = public_jwk(private_key)
        document = self._secret.read(fresh=True)
        keys = [dict(k, status="previous") for k in document.get("keys", [])]
        keys.append({"kid": jwk["kid"], "private_pem": pem, "status": "active", "created_at": now.isoformat()})
        self._secret.write({**document, "keys": keys})
        for item in self.public_keys():
            if item.status == "active":
                item.status = "previous"
                item.save()
        ToolKey(kid=jwk["kid"], public_jwk=json.dumps(jwk), status="active", created_at=now).save()
        with self._lock:
            self._jwks = None
        return jwk["kid"]

    def retire(self, now: datetime, *, force: bool = False) -> list[str]:
        """Drop previous keys from the JWKS and the secret.

        Refused within 15 minutes of a rotation unless forced: containers cache the secret for
        five minutes, and a token signed just before the rotation must still verify.
        """
        document = self._secret.read(fresh=True)
        keys = document.get("keys", [])
        active = [k for k in keys if k.get("status") == "active"]
        if active and not force:
            newest = max(datetime.fromisoformat(str(k["created_at"])) for k in active)
            if now - newest < MIN_AGE_BEFORE_RETIRE:
                wait = MIN_AGE_BEFORE_RETIRE - (now - newest)
                raise ValueError(f"the active key is only {now - newest} old; retire in {wait} (or --force)")
        retired = [str(k["kid"]) for k in keys if k.get("status") != "active"]
        self._secret.write({**document, "keys": active})
        for item in self.public_keys():
            if item.kid in retired:
                item.delete()
        with self._lock:
            self._jwks = None
        return retired


def _load_private(pem: str) -> RSAPrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise TypeError("the tool key must be RSA")
    return key
