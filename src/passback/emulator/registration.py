"""The platform side of LTI Dynamic Registration (1EdTech LTI Dynamic Registration 1.0).

The LMS admin pastes the tool's registration URL; the LMS opens it with `openid_configuration`
(where this LMS describes itself) and a one-time `registration_token`. The tool reads the
configuration and posts its client registration to the registration endpoint with the token as a
bearer token; the LMS makes (or, for an update token, updates) the tool's client and deployment and
answers with the client id and the deployment id. Paths are Canvas's or Moodle's.

Test knobs: `issuer_override` serves a configuration whose issuer is not this LMS (the tool must
refuse it); `registration_host` puts the registration endpoint on another host.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .claims import GRANTABLE_SCOPES
from .lms import Lms
from .state import EmulatorState
from .wire import Request, Response, json_response

TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"

PATHS = {
    "canvas": ("/api/lti/security/openid-configuration", "/api/lti/registrations"),
    "moodle": ("/mod/lti/openid-configuration.php", "/mod/lti/openid-registration.php"),
}


@dataclass
class Grant:
    """One registration the admin started: its token works once."""

    update_client_id: str | None
    used: bool = False


@dataclass
class RegistrationKnobs:
    issuer_override: str | None = None
    registration_host: str | None = None


@dataclass
class Registrations:
    state: EmulatorState
    grants: dict[str, Grant] = field(default_factory=dict)
    knobs: RegistrationKnobs = field(default_factory=RegistrationKnobs)
    # Every registration request the tool posted, in order (tests read what it asked for).
    received: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, lms: Lms, tool_url: str, *, update_client_id: str | None = None) -> str:
        """The URL the LMS opens in its registration window for this tool registration URL."""
        token = secrets.token_urlsafe(16)
        with self._lock:
            self.grants[token] = Grant(update_client_id)
        query = urlencode({"openid_configuration": self.configuration_url(lms), "registration_token": token})
        return tool_url + ("&" if "?" in tool_url else "?") + query

    def configuration_url(self, lms: Lms) -> str:
        return lms.urls.base + PATHS[lms.mode][0]

    def paths(self, lms: Lms) -> tuple[str, str]:
        return PATHS[lms.mode]

    def openid_configuration(self, lms: Lms, _: Request) -> Response:
        base = lms.urls.base
        registration_base = self.knobs.registration_host or base
        return json_response(
            200,
            {
                "issuer": self.knobs.issuer_override or lms.issuer,
                "authorization_endpoint": lms.urls.auth,
                "token_endpoint": lms.urls.token,
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
                "jwks_uri": lms.urls.jwks,
                "registration_endpoint": registration_base + PATHS[lms.mode][1],
                "scopes_supported": ["openid", *sorted(GRANTABLE_SCOPES)],
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public", "pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "claims_supported": ["sub", "iss", "name", "given_name", "family_name", "email"],
                PLATFORM_CONFIGURATION: {
                    "product_family_code": lms.mode,
                    "version": "emulator",
                    "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
                },
            },
        )

    def register(self, request: Request) -> Response:
        if request.method != "POST":
            return json_response(405, {"error": "POST a client registration here"})
        auth = request.header("authorization")
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        with self._lock:
            grant = self.grants.get(token)
            if grant is None or grant.used:
                return json_response(401, {"error": "invalid_token", "error_description": "unknown or used token"})
            grant.used = True
        try:
            body = json.loads(request.body.decode("utf-8"))
        except ValueError:
            return json_response(400, {"error": "invalid_client_metadata", "error_description": "not JSON"})
        problem = _problem(body)
        if problem:
            return json_response(400, {"error": "invalid_client_metadata", "error_description": problem})
        with self._lock:
            self.received.append(body)
        tool_config = body[TOOL_CONFIGURATION]
        client_id = grant.update_client_id or f"dyn-{secrets.token_hex(4)}"
        existing = self.state.tools.get(client_id)
        deployment_ids = existing.deployment_ids if existing else [f"dep-{client_id}"]
        self.state.register_tool(
            client_id,
            login_url=body["initiate_login_uri"],
            launch_url=tool_config.get("target_link_uri") or body["redirect_uris"][0],
            jwks_url=body["jwks_uri"],
            deployment_ids=deployment_ids,
            lti11_consumer_key=existing.lti11_consumer_key if existing else None,
            lti11_secret=existing.lti11_secret if existing else None,
        )
        answer = dict(body)
        answer["client_id"] = client_id
        answer[TOOL_CONFIGURATION] = {**tool_config, "deployment_id": deployment_ids[0]}
        granted = [s for s in str(body.get("scope", "")).split() if s in GRANTABLE_SCOPES]
        answer["scope"] = " ".join(granted)
        return json_response(200, answer)


def _problem(body: Any) -> str | None:
    """What the registration lacks (the fields the spec and Moodle's endpoint require), or None."""
    if not isinstance(body, dict):
        return "the registration must be a JSON object"
    for name in ("initiate_login_uri", "jwks_uri", "client_name"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"{name} is required"
    uris = body.get("redirect_uris")
    if not isinstance(uris, list) or not uris or not all(isinstance(u, str) for u in uris):
        return "redirect_uris must be a list of URLs"
    if body.get("token_endpoint_auth_method") != "private_key_jwt":
        return "token_endpoint_auth_method must be private_key_jwt"
    if body.get("response_types") != ["id_token"]:
        return "response_types must be ['id_token']"
    if not {"implicit", "client_credentials"} <= set(body.get("grant_types") or []):
        return "grant_types must include implicit and client_credentials"
    tool_config = body.get(TOOL_CONFIGURATION)
    if not isinstance(tool_config, dict) or not isinstance(tool_config.get("domain"), str):
        return f"{TOOL_CONFIGURATION} with a domain is required"
    return None
