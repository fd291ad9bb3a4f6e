"""The tool's configuration in each LMS's own words: Canvas's "Paste JSON", Moodle's manual form.

CANVAS_LTI13_SHAPE is Canvas's published LTI 1.3 developer key JSON configuration (Canvas developer
docs, "Configuring LTI Advantage Tools" > "Anatomy of a JSON configuration", and the Developer Key
tool_configuration API): the keys Canvas reads, their types, which are required, and the values it
accepts for the enumerations. A key Canvas does not know, or a placement name it has never had, fails.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from passback.cli import main as cli_main
from passback.lti.descriptions import MESSAGE_TYPES, SCOPES, canvas_json, moodle_form
from stack_harness import Stack

CANVAS_LTI13_SHAPE: dict[str, Any] = {
    "required": {"title": str, "description": str, "target_link_uri": "url", "oidc_initiation_url": "url"},
    # One of the two is required: the key itself, or the URL of the tool's key set.
    "one_of": {"public_jwk": dict, "public_jwk_url": "url"},
    "optional": {"scopes": list, "extensions": list, "custom_fields": dict},
    "scopes": {
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
        "https://purl.imsglobal.org/spec/lti-ags/scope/score",
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
        "https://canvas.instructure.com/lti/public_jwk/scope/update",
        "https://canvas.instructure.com/lti/account_lookup/scope/show",
        "https://canvas.instructure.com/lti-ags/progress/scope/show",
        "https://canvas.instructure.com/lti/data_services/scope/create",
    },
    "extension": {
        "required": {"platform": str, "settings": dict},
        "optional": {"domain": str, "tool_id": str, "privacy_level": str},
        "platform": "canvas.instructure.com",
        "privacy_levels": {"public", "name_only", "email_only", "anonymous"},
    },
    "settings": {"required": {"placements": list}, "optional": {"text": str, "icon_url": "url"}},
    "placement": {
        "required": {"placement": str, "message_type": str},
        "optional": {"target_link_uri": "url", "text": str, "enabled": bool, "icon_url": "url"},
        "message_types": {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"},
        "placements": {
            "account_navigation",
            "assignment_edit",
            "assignment_menu",
            "assignment_selection",
            "assignment_view",
            "collaboration",
            "course_assignments_menu",
            "course_home_sub_navigation",
            "course_navigation",
            "course_settings_sub_navigation",
            "discussion_topic_menu",
            "editor_button",
            "file_menu",
            "global_navigation",
            "homework_submission",
            "link_selection",
            "migration_selection",
            "module_menu",
            "module_index_menu",
            "post_grades",
            "quiz_menu",
            "student_context_card",
            "submission_type_selection",
            "tool_configuration",
            "top_navigation",
            "user_navigation",
            "wiki_page_menu",
        },
    },
}


def _typed(value: Any, kind: Any) -> bool:
    if kind == "url":
        parts = urlsplit(value) if isinstance(value, str) else None
        return parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc)
    return isinstance(value, kind)


def _object_problems(where: str, value: Any, spec: dict[str, Any]) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where} is not an object"]
    problems = [f"{where}.{k} missing" for k in spec["required"] if k not in value]
    known = {**spec["required"], **spec.get("optional", {}), **spec.get("one_of", {})}
    problems += [f"{where}.{k} is not a key Canvas reads" for k in value if k not in known]
    problems += [
        f"{where}.{k} has the wrong type" for k, kind in known.items() if k in value and not _typed(value[k], kind)
    ]
    return problems


def canvas_shape_problems(config: Any) -> list[str]:
    """Everything in `config` that does not fit CANVAS_LTI13_SHAPE (an empty list: it fits)."""
    shape = CANVAS_LTI13_SHAPE
    problems = _object_problems("config", config, shape)
    if problems and "config is not an object" in problems:
        return problems
    if not any(k in config for k in shape["one_of"]):
        problems.append("config needs public_jwk or public_jwk_url")
    problems += [f"scope {s!r} is not a Canvas scope" for s in config.get("scopes", []) if s not in shape["scopes"]]
    for i, extension in enumerate(config.get("extensions", [])):
        where = f"extensions[{i}]"
        problems += _object_problems(where, extension, shape["extension"])
        if extension.get("platform") != shape["extension"]["platform"]:
            problems.append(f"{where}.platform must be canvas.instructure.com")
        if extension.get("privacy_level", "anonymous") not in shape["extension"]["privacy_levels"]:
            problems.append(f"{where}.privacy_level is not one Canvas has")
        settings = extension.get("settings", {})
        problems += _object_problems(f"{where}.settings", settings, shape["settings"])
        for j, placement in enumerate(settings.get("placements", [])):
            at = f"{where}.settings.placements[{j}]"
            problems += _object_problems(at, placement, shape["placement"])
            if placement.get("placement") not in shape["placement"]["placements"]:
                problems.append(f"{at}.placement is not a Canvas placement")
            if placement.get("message_type") not in shape["placement"]["message_types"]:
                problems.append(f"{at}.message_type is not an LTI 1.3 message type")
    fields = config.get("custom_fields", {})
    problems += [f"custom_fields.{k} is not text" for k, v in fields.items() if not isinstance(v, str)]
    return problems


def test_the_shape_check_catches_what_canvas_would_refuse() -> None:
    """The checker must be able to fail: each of these breaks the published shape."""
    good = canvas_json("https://passback.example.edu")
    assert canvas_shape_problems(good) == []
    broken: list[dict[str, Any]] = [
        {k: v for k, v in good.items() if k != "oidc_initiation_url"},
        {k: v for k, v in good.items() if k != "public_jwk_url"},
        {**good, "openid_connect_initiation_url": good["oidc_initiation_url"]},  # Passback's old key name
        {**good, "scopes": [*good["scopes"], "https://purl.imsglobal.org/spec/lti-ags/scope/everything"]},
        {**good, "extensions": [{**good["extensions"][0], "platform": "canvas"}]},
    ]
    placement = {**good["extensions"][0]["settings"]["placements"][0], "placement": "homepage"}
    broken.append(
        {**good, "extensions": [{**good["extensions"][0], "settings": {"placements": [placement]}}]},
    )
    for config in broken:
        assert canvas_shape_problems(config), config


def test_the_canvas_json_fits_canvas_published_lti13_configuration_shape() -> None:
    config = canvas_json("https://passback.example.edu")
    assert canvas_shape_problems(config) == []
    assert config["oidc_initiation_url"] == "https://passback.example.edu/lti13/login"
    assert config["target_link_uri"] == "https://passback.example.edu/lti13/launch"
    assert config["public_jwk_url"] == "https://passback.example.edu/.well-known/jwks.json"
    assert config["scopes"] == list(SCOPES)
    [extension] = config["extensions"]
    assert extension["privacy_level"] == "public"  # name and email: the gradebook and account merges
    assert extension["domain"] == "passback.example.edu"
    placements = {p["placement"]: p for p in extension["settings"]["placements"]}
    assert set(placements) == {"link_selection", "assignment_selection", "course_navigation"}
    assert all(p["message_type"] in MESSAGE_TYPES for p in placements.values())
    assert config["custom_fields"] == {}  # Canvas applies them to every link: none may name an activity


def test_platforms_add_prints_the_canvas_json_to_paste_and_moodles_form(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli_main(
        [
            "platforms", "add", "--issuer", "https://canvas.instructure.com", "--client-id", "10000000000042",
            "--deployment-id", "1:abc", "--login-url", "https://sso.canvaslms.com/api/lti/authorize_redirect",
            "--token-url", "https://sso.canvaslms.com/login/oauth2/token",
            "--jwks-url", "https://sso.canvaslms.com/api/lti/security/jwks",
        ]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    start = out.index("{\n")
    printed, end = json.JSONDecoder().raw_decode(out[start:])
    assert printed == canvas_json(stack.base_url)
    assert canvas_shape_problems(printed) == []
    moodle = out[start + end :]
    labels = [label for label, _ in moodle_form(stack.base_url)]
    positions = [moodle.index(label) for label in labels]
    assert positions == sorted(positions), "Moodle's fields are printed in the order Moodle shows them"
    assert f"Public keyset: {stack.base_url}/.well-known/jwks.json" in moodle


def test_the_canvas_json_and_moodle_form_are_served_at_a_url(stack: Stack) -> None:
    canvas = requests.get(f"{stack.base_url}/lti13/config/canvas.json", timeout=60)
    assert canvas.status_code == 200
    assert canvas.headers["Content-Type"].startswith("application/json")
    assert canvas.json() == canvas_json(stack.base_url)
    moodle = requests.get(f"{stack.base_url}/lti13/config/moodle", timeout=60)
    assert moodle.status_code == 200
    assert "Initiate login URL: " + f"{stack.base_url}/lti13/login" in moodle.text
    missing = requests.get(f"{stack.base_url}/lti13/config/blackboard", timeout=60)
    assert missing.status_code == 404
    assert "canvas.json" in missing.text
