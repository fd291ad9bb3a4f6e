"""The platform's RSA signing keys, its public JWKS, and a small JWS encoder.

The encoder is hand-rolled rather than PyJWT's because hostile tests need tokens PyJWT refuses to
make on purpose: `alg: none`, and HS256 keyed with an RSA public key PEM (key confusion).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_RSA_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
_HMAC_HASHES = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64url(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def generate_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, kid: str, alg: str = "RS256") -> dict[str, str]:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    numbers = public.public_numbers()
    return {
        "kty": "RSA",
        "n": _int_b64url(numbers.n),
        "e": _int_b64url(numbers.e),
        "kid": kid,
        "alg": alg,
        "use": "sig",
    }


def load_private_key(key: bytes | rsa.RSAPrivateKey) -> rsa.RSAPrivateKey:
    if isinstance(key, rsa.RSAPrivateKey):
        return key
    loaded = serialization.load_pem_private_key(key, password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError("RS* signing needs an RSA private key")
    return loaded


def encode_jws(header: dict[str, Any], payload: dict[str, Any], key: bytes | rsa.RSAPrivateKey | None) -> str:
    """Compact-serialise a JWS with whatever `alg` the header names, sound or not."""
    alg = str(header.get("alg", ""))
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(payload, separators=(",", ":")).encode())
    )
    if alg == "none":
        return signing_input + "."
    if key is None:
        raise ValueError(f"alg {alg} needs a key")
    if alg in _RSA_HASHES:
        signature = load_private_key(key).sign(signing_input.encode(), padding.PKCS1v15(), _RSA_HASHES[alg]())
    elif alg in _HMAC_HASHES:
        if not isinstance(key, bytes):
            raise ValueError(f"alg {alg} needs the HMAC key as bytes")
        signature = hmac.new(key, signing_input.encode(), _HMAC_HASHES[alg]).digest()
    else:
        raise ValueError(f"unsupported alg {alg!r}")
    return signing_input + "." + b64url(signature)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class KeyRing:
    """The current signing key plus any retired keys still published for overlap."""

    def __init__(self, lock: threading.RLock, initial: rsa.RSAPrivateKey | None = None) -> None:
        self._lock = lock
        self._current = (
            SigningKey(kid=uuid.uuid4().hex[:16], private_key=initial) if initial is not None else self._new_key()
        )
        self._published: list[SigningKey] = [self._current]

    @staticmethod
    def _new_key() -> SigningKey:
        return SigningKey(kid=uuid.uuid4().hex[:16], private_key=generate_rsa_key())

    @property
    def current(self) -> SigningKey:
        with self._lock:
            return self._current

    def rotate(self, keep_old: bool = False) -> str:
        # Key generation is slow enough (tens of ms) to keep outside the lock.
        fresh = self._new_key()
        with self._lock:
            self._published = [*self._published, fresh] if keep_old else [fresh]
            self._current = fresh
        return fresh.kid

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        with self._lock:
            return {"keys": [public_jwk(k.private_key, k.kid) for k in self._published]}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        kid: str | None = None,
        alg: str = "RS256",
        key: bytes | rsa.RSAPrivateKey | None = None,
        headers: dict[str, Any] | None = None,
    ) -> str:
        current = self.current
        header: dict[str, Any] = {"alg": alg, "typ": "JWT", "kid": kid or current.kid}
        # A None value in `headers` removes that field, so tests can send e.g. a token without kid.
        for name, value in (headers or {}).items():
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value
        signing_key: bytes | rsa.RSAPrivateKey | None = key
        if signing_key is None and alg in _RSA_HASHES:
            signing_key = current.private_key
        return encode_jws(header, claims, signing_key)
