"""LTI Dynamic Registration, the tool's side of the wire: read the platform's OpenID configuration,
post the client registration. Every refusal names its check, what failed and what to do.

The checks (1EdTech LTI Dynamic Registration 1.0, and the issue's stricter reading):
- the `openid_configuration` URL and the registration endpoint are https (plain http only on the
  loopback host, for local runs), so a pasted URL cannot make Passback read plain-http services
  inside its network (an instance metadata service, say) and echo their answers into the page;
- the document is a JSON object under 256 KiB, fetched with no redirects (a redirect could carry
  the registration token elsewhere) and within a deadline for the whole answer, not only per read
  (a platform trickling bytes cannot hold a Lambda copy for its whole timeout);
- its `issuer` has the same origin (scheme, host, port) as the `openid_configuration` URL, so a
  page cannot hand Passback someone else's configuration;
- its `registration_endpoint` is on the issuer's host, so the registration token and Passback's
  registration go nowhere but the platform that issued them;
- the endpoints Passback needs later (authorization, token, key set) are present and http(s).
"""

from __future__ import annotations

import ipaddress
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from passback.lti.descriptions import PLATFORM_CONFIGURATION_CLAIM, TOOL_CONFIGURATION_CLAIM

TIMEOUT_SECONDS = 10.0
MAX_BYTES = 256 * 1024

RESTART = (
    "Start the registration again from the LMS. If it keeps failing, give the Passback operator the reference below."
)


class RegistrationRefused(Exception):
    def __init__(self, check: str, detail: str, advice: str, *, status: int = 400) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check
        self.detail = detail
        self.advice = advice
        self.status = status


@dataclass(frozen=True)
class PlatformConfiguration:
    """What Passback keeps from the platform's OpenID configuration."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    # The token audience, when the platform's authorization server is not its token URL (Brightspace).
    authorization_server: str | None
    product_family_code: str | None
    version: str | None
    messages_supported: tuple[str, ...]


@dataclass(frozen=True)
class ClientRegistration:
    client_id: str
    deployment_id: str | None


def origin(url: str) -> str | None:
    """scheme://host:port, or None for a URL Passback will not use. A URL with userinfo or a backslash is
    refused, and so is one whose host Python's parser and the HTTP client's parser read differently:
    `https://attacker.example\\@lms.example.edu/` is lms.example.edu to `urlsplit` but requests connects to
    attacker.example, which would let anyone register under another LMS's issuer."""
    try:
        parts = urlsplit(url)
        connects_to = parse_url(url).host
        port = parts.port
    except (ValueError, LocationParseError):
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or "\\" in url or "@" in parts.netloc:
        return None
    if not url.isprintable() or " " in url:  # control characters would reach `platforms list` on a terminal
        return None
    if (connects_to or "").lower().strip("[]") != parts.hostname.lower():
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def secure(url: str) -> bool:
    """https, or plain http to the loopback host (`passback serve` and the LMS emulator)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))


HTTPS_ADVICE = (
    "The LMS must be served over https (plain http is accepted only on this machine's loopback address). The LMS "
    "administrator should check the LMS's site URL, then start the registration again."
)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class RegistrationClient:
    def __init__(self, session: requests.Session | None = None, timeout: float = TIMEOUT_SECONDS) -> None:
        self._session = session or requests.Session()
        self._timeout = timeout

    def openid_configuration(self, url: str, registration_token: str | None) -> PlatformConfiguration:
        if origin(url) is None:
            raise RegistrationRefused(
                "openid_configuration",
                f"the LMS sent no usable openid_configuration URL ({_shown(url)}).",
                "Open the registration from the LMS's own screen (Canvas: LTI Registration by URL; Moodle: Manage "
                "tools > Tool URL), not by pasting the URL into a browser.",
            )
        if not secure(url):
            raise RegistrationRefused(
                "openid_configuration", f"the openid_configuration URL {_shown(url)} is not https.", HTTPS_ADVICE
            )
        headers = {"Accept": "application/json"}
        if registration_token:
            headers["Authorization"] = f"Bearer {registration_token}"
        document = self._json("GET", url, headers=headers, what="the LMS's OpenID configuration")
        return parse_configuration(document, url)

    def register(
        self, config: PlatformConfiguration, registration_token: str | None, payload: dict[str, Any]
    ) -> tuple[ClientRegistration, dict[str, Any]]:
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if registration_token:
            headers["Authorization"] = f"Bearer {registration_token}"
        answer = self._json(
            "POST", config.registration_endpoint, headers=headers, body=payload, what="the LMS's registration endpoint"
        )
        client_id = answer.get("client_id")
        if not isinstance(client_id, str) or not client_id or len(client_id) > 255:
            raise RegistrationRefused(
                "registration answer",
                "the LMS accepted the registration but its answer has no client_id.",
                RESTART,
                status=502,
            )
        tool_config = answer.get(TOOL_CONFIGURATION_CLAIM)
        deployment = tool_config.get("deployment_id") if isinstance(tool_config, dict) else None
        if deployment is not None and (not isinstance(deployment, str | int) or len(str(deployment)) > 255):
            deployment = None
        return ClientRegistration(client_id, str(deployment) if deployment is not None else None), answer

    def _json(
        self, method: str, url: str, *, headers: dict[str, str], what: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        check = "openid_configuration" if method == "GET" else "registration"
        try:
            response = self._session.request(
                method,
                url,
                headers=headers,
                data=json.dumps(body) if body is not None else None,
                timeout=self._timeout,
                allow_redirects=False,
                stream=True,
            )
            raw = self._body(response)
        except requests.RequestException as error:
            raise RegistrationRefused(
                check,
                f"{what} ({_shown(url)}) could not be reached ({type(error).__name__}).",
                "Check that the LMS is reachable from Passback, then start the registration again.",
                status=502,
            ) from error
        if raw is None:
            raise RegistrationRefused(
                check,
                f"{what} ({_shown(url)}) took over {self._timeout:g} s to answer.",
                "Check that the LMS is reachable from Passback, then start the registration again.",
                status=502,
            )
        if len(raw) > MAX_BYTES:
            raise RegistrationRefused(check, f"{what} is over {MAX_BYTES // 1024} KiB.", RESTART, status=502)
        if response.status_code >= 300:
            text = raw.decode("utf-8", "replace").strip()[:200]
            raise RegistrationRefused(
                check,
                f"{what} answered HTTP {response.status_code}: {text or '(no body)'}",
                "The registration link from the LMS may have expired or been used: start the registration again "
                "from the LMS."
                if response.status_code in (401, 403)
                else RESTART,
                status=502,
            )
        try:
            document = json.loads(raw.decode("utf-8"))
        except ValueError as error:
            raise RegistrationRefused(check, f"{what} is not JSON.", RESTART, status=502) from error
        if not isinstance(document, dict):
            raise RegistrationRefused(check, f"{what} is not a JSON object.", RESTART, status=502)
        return document

    def _body(self, response: requests.Response) -> bytes | None:
        """At most MAX_BYTES + 1 bytes of the answer, or None past the deadline: `timeout` bounds each read
        only, so a platform sending a byte a second would otherwise hold this copy for minutes."""
        deadline = time.monotonic() + self._timeout
        chunks: list[bytes] = []
        size = 0
        try:
            while size <= MAX_BYTES:
                if time.monotonic() > deadline:
                    return None
                # read1: what has arrived (one socket read), so the deadline is checked between arrivals.
                chunk = response.raw.read1(min(16 * 1024, MAX_BYTES + 1 - size), decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        finally:
            response.close()
        return b"".join(chunks)


def parse_configuration(document: dict[str, Any], url: str) -> PlatformConfiguration:
    issuer = document.get("issuer")
    if not isinstance(issuer, str) or origin(issuer) is None or len(issuer) > 1024:
        raise RegistrationRefused(
            "issuer", f"the LMS's OpenID configuration has no usable issuer ({_shown(issuer)}).", RESTART
        )
    if origin(issuer) != origin(url):
        raise RegistrationRefused(
            "issuer",
            f"the OpenID configuration at {_shown(url)} names issuer {_shown(issuer)}, which is not on that "
            "configuration's host: Passback registers only with the LMS that serves the configuration.",
            "The LMS administrator should check the LMS's own URL settings (its issuer must be its site URL), "
            "then start the registration again.",
            status=403,
        )
    endpoints: dict[str, str] = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint"):
        value = document.get(name)
        if not isinstance(value, str) or origin(value) is None or len(value) > 2048:
            raise RegistrationRefused(
                "openid_configuration", f"the LMS's OpenID configuration has no usable {name}.", RESTART
            )
        endpoints[name] = value
    if not secure(endpoints["registration_endpoint"]):
        raise RegistrationRefused(
            "registration endpoint",
            f"the registration endpoint {_shown(endpoints['registration_endpoint'])} is not https: the registration "
            "token would cross the network in clear.",
            HTTPS_ADVICE,
            status=403,
        )
    issuer_host = urlsplit(issuer).hostname
    if urlsplit(endpoints["registration_endpoint"]).hostname != issuer_host:
        raise RegistrationRefused(
            "registration endpoint",
            f"the registration endpoint {_shown(endpoints['registration_endpoint'])} is not on the issuer's host "
            f"({issuer_host}).",
            "The LMS administrator should check the LMS's URL settings, then start the registration again.",
            status=403,
        )
    platform = document.get(PLATFORM_CONFIGURATION_CLAIM)
    platform = platform if isinstance(platform, dict) else {}
    messages = platform.get("messages_supported")
    supported = tuple(
        str(m.get("type")) for m in (messages if isinstance(messages, list) else []) if isinstance(m, dict)
    )
    server = document.get("authorization_server")
    return PlatformConfiguration(
        issuer=issuer,  # exactly as the platform writes it: launches must carry the same `iss`
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        jwks_uri=endpoints["jwks_uri"],
        registration_endpoint=endpoints["registration_endpoint"],
        authorization_server=server if isinstance(server, str) and server else None,
        product_family_code=_text(platform.get("product_family_code")),
        version=_text(platform.get("version")),
        messages_supported=supported,
    )


def _text(value: Any) -> str | None:
    """A short label from the platform, printable only: it becomes the platform's name in `platforms list`,
    where an escape sequence would rewrite the operator's terminal."""
    text = "".join(c for c in value if c.isprintable())[:100] if isinstance(value, str) else ""
    return text or None
