"""What Passback tells an LMS about itself, in each LMS's own words.

One source for the URLs, scopes, messages and placements, rendered three ways:

- the LTI Dynamic Registration client registration (1EdTech LTI Dynamic Registration 1.0), posted
  to the platform's registration endpoint;
- Canvas's JSON configuration (Developer Keys > + LTI Key > Method "Paste JSON");
- Moodle's "configure a tool manually" form, in the order Moodle shows its fields.

Plain functions over the tool's base URL: no I/O, importable without pylti1p3 (the CLI uses them).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

TOOL_NAME = "Passback"
TOOL_DESCRIPTION = "Sends learners' grades from learning products to this LMS's gradebook."

SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPES: tuple[str, ...] = (SCOPE_LINEITEM, SCOPE_LINEITEM_READONLY, SCOPE_RESULT_READONLY, SCOPE_SCORE, SCOPE_NRPS)

RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
# The message types the launch accepts (both at BASE/lti13/launch): the descriptions below offer
# the LMS only these. Deep linking is how instructors add activity links (docs/launches.md).
MESSAGE_TYPES: tuple[str, ...] = (RESOURCE_LINK, DEEP_LINKING)

# Canvas placements (docs/lms-setup.md): activity links are made with link/assignment selection,
# the homepage link lives in course navigation.
CANVAS_PLACEMENTS = ("link_selection", "assignment_selection", "course_navigation")
# Claims Passback needs: the user's id, name (the gradebook) and email (account merges, rule 12).
CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")

TOOL_CONFIGURATION_CLAIM = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION_CLAIM = "https://purl.imsglobal.org/spec/lti-platform-configuration"


def urls(base_url: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {
        "login": f"{base}/lti13/login",
        "launch": f"{base}/lti13/launch",
        "jwks": f"{base}/.well-known/jwks.json",
        "lti11_launch": f"{base}/lti11/launch",
        "register": f"{base}/lti13/register",
        "logo": f"{base}/lti13/config/logo.svg",
        "domain": urlsplit(base).netloc,
    }


def registration_request(base_url: str) -> dict[str, Any]:
    """The client registration posted to the platform (LTI Dynamic Registration 1.0, section 3.5)."""
    u = urls(base_url)
    messages: list[dict[str, Any]] = [
        {
            "type": RESOURCE_LINK,
            "target_link_uri": u["launch"],
            "label": TOOL_NAME,
            "placements": ["course_navigation"],
        }
    ]
    if DEEP_LINKING in MESSAGE_TYPES:
        messages.append(
            {
                "type": DEEP_LINKING,
                "target_link_uri": u["launch"],
                "label": f"{TOOL_NAME} activity",
                "placements": ["ContentArea", "link_selection", "assignment_selection"],
            }
        )
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": u["login"],
        "redirect_uris": [u["launch"]],
        "client_name": TOOL_NAME,
        "jwks_uri": u["jwks"],
        "logo_uri": u["logo"],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(SCOPES),
        TOOL_CONFIGURATION_CLAIM: {
            "domain": u["domain"],
            "description": TOOL_DESCRIPTION,
            "target_link_uri": u["launch"],
            # None at the tool level: they would apply to every link. An activity link names its
            # activity itself (activity_id per link, or ?activity_id= in its URL; docs/launches.md).
            "custom_parameters": {},
            "claims": list(CLAIMS),
            "messages": messages,
        },
    }


def canvas_json(base_url: str) -> dict[str, Any]:
    """What a Canvas admin pastes into Developer Keys > + LTI Key > Method: Paste JSON.

    Canvas's published LTI 1.3 configuration shape: title, description, oidc_initiation_url,
    target_link_uri, public_jwk_url (or public_jwk), scopes, extensions[platform
    "canvas.instructure.com", privacy_level, settings.placements[placement, message_type,
    target_link_uri, text]] and custom_fields.
    """
    u = urls(base_url)
    placements = [
        {
            "placement": placement,
            "message_type": DEEP_LINKING
            if DEEP_LINKING in MESSAGE_TYPES and placement != "course_navigation"
            else RESOURCE_LINK,
            "target_link_uri": u["launch"],
            "text": TOOL_NAME,
            "enabled": True,
        }
        for placement in CANVAS_PLACEMENTS
    ]
    return {
        "title": TOOL_NAME,
        "description": TOOL_DESCRIPTION,
        "oidc_initiation_url": u["login"],
        "target_link_uri": u["launch"],
        "public_jwk_url": u["jwks"],
        "scopes": list(SCOPES),
        "extensions": [
            {
                "platform": "canvas.instructure.com",
                "domain": u["domain"],
                "tool_id": "passback",
                # Public: Canvas sends the name and email (the gradebook and account merges need them).
                "privacy_level": "public",
                "settings": {"text": TOOL_NAME, "icon_url": u["logo"], "placements": placements},
            }
        ],
        # Canvas applies custom fields to every launch of the key, so none name an activity here.
        "custom_fields": {},
    }


def moodle_form(base_url: str) -> list[tuple[str, str]]:
    """Moodle's "External tool configuration" form (Site administration > Plugins > Activity modules >
    External tool > Manage tools > configure a tool manually), field by field in the order Moodle
    shows them (mod/lti/edit_form.php), with what to choose in each."""
    u = urls(base_url)
    return [
        ("Tool settings", ""),
        ("Tool name", TOOL_NAME),
        ("Tool URL", u["launch"]),
        ("Tool description", TOOL_DESCRIPTION),
        ("LTI version", "LTI 1.3"),
        ("Client ID", "(Moodle fills it in)"),
        ("Public key type", "Keyset URL"),
        ("Public keyset", u["jwks"]),
        ("Initiate login URL", u["login"]),
        ("Redirection URI(s)", u["launch"]),
        ("Custom parameters", "(leave empty; set activity_id=<id> on each activity link)"),
        ("Tool configuration usage", "Show as preconfigured tool when adding an external tool"),
        ("Default launch container", "Embed, without blocks"),
        ("Supports Deep Linking (Content-Item Message)", "Yes" if DEEP_LINKING in MESSAGE_TYPES else "No"),
        ("Icon URL", u["logo"]),
        ("Secure icon URL", u["logo"]),
        ("Services", ""),
        ("IMS LTI Assignment and Grade Services", "Use this service for grade sync and column management"),
        (
            "IMS LTI Names and Role Provisioning",
            "Use this service to retrieve members' information as per privacy settings",
        ),
        ("Tool Settings", "Do not use this service"),
        ("Privacy", ""),
        ("Share launcher's name with tool", "Always"),
        ("Share launcher's email with tool", "Always"),
        ("Accept grades from the tool", "Always"),
    ]


def moodle_form_text(base_url: str) -> str:
    lines = []
    for label, value in moodle_form(base_url):
        lines.append(f"\n[{label}]" if not value else f"  {label}: {value}")
    return "\n".join(lines).lstrip("\n")
