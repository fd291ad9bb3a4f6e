"""Loopback-only guards: the emulator is a test tool and must never talk to anything off this machine."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

# Every outbound call (the tool's JWKS, the browser dance) uses this; nothing waits forever.
OUTBOUND_TIMEOUT_S = 5.0


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        # A DNS name other than localhost could resolve anywhere; we do not resolve it to find out.
        return False


def require_loopback_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not is_loopback_host(parts.hostname):
        raise ValueError(f"the LMS emulator only talks to loopback addresses, not {parts.hostname!r}")
    return url


def require_loopback_bind(host: str) -> str:
    """Return an IPv4 loopback address to bind, refusing anything else."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"bind address must be an IPv4 loopback address, not {host!r}") from exc
    if address.version != 4 or not address.is_loopback:
        raise ValueError(f"bind address must be an IPv4 loopback address, not {host!r}")
    return host
