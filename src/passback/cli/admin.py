"""Administration: LTI 1.3 platforms, LTI 1.1 consumers, the tool's keys."""

from __future__ import annotations

import argparse
import json
import secrets
from typing import Any

from passback.cli import validate as v
from passback.cli.errors import CliError
from passback.cli.target import use_target
from passback.clock import utcnow

# Long enough for an LMS admin to type the new secret in; short enough not to keep a leaked one.
DEFAULT_GRACE_HOURS = 72


def register(verbs: Any) -> None:
    platforms = verbs.add_parser("platforms", help="LTI 1.3 platform registrations").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    add = platforms.add_parser("add", help="register an LMS (issuer + client id) and print the tool's side")
    add.add_argument(
        "--issuer",
        required=True,
        type=v.url("issuer"),
        help="the platform's issuer (iss), an https URL, e.g. https://canvas.instructure.com",
    )
    add.add_argument(
        "--client-id",
        required=True,
        type=v.name_id("client id", "10000000000001"),
        help="the client id the LMS gave this tool",
    )
    add.add_argument(
        "--deployment-id",
        action="append",
        default=[],
        required=True,
        type=v.name_id("deployment id", "1:abc123"),
        help="a deployment id (repeat for several)",
    )
    add.add_argument(
        "--login-url", required=True, type=v.url("login URL"), help="the platform's OIDC authorization endpoint (https)"
    )
    add.add_argument(
        "--token-url", required=True, type=v.url("token URL"), help="the platform's OAuth2 token endpoint (https)"
    )
    add.add_argument("--jwks-url", required=True, type=v.url("JWKS URL"), help="the platform's public key set (https)")
    add.add_argument("--audience", default=None, help="token audience, when not the token URL (Brightspace)")
    add.add_argument(
        "--name", default=None, type=v.text("name", max_length=200), help="a name for people (e.g. 'State U Canvas')"
    )
    add.set_defaults(run=platforms_add)
    lister = platforms.add_parser("list", help="list registrations")
    lister.set_defaults(run=platforms_list)
    register_one_url_and_migration(platforms)
    remove = platforms.add_parser("remove", help="remove a registration and its deployments")
    remove.add_argument("--issuer", required=True, help="the registration's issuer, as `platforms list` shows")
    remove.add_argument("--client-id", required=True, help="the registration's client id, as `platforms list` shows")
    remove.set_defaults(run=platforms_remove)

    consumers = verbs.add_parser("consumers", help="LTI 1.1 consumers").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    cadd = consumers.add_parser(
        "add", help="add a consumer key and shared secret (printed once if generated); --rotate-secret to replace one"
    )
    cadd.add_argument(
        "--key", required=True, type=v.name_id("consumer key", "state-u-moodle"), help="the consumer key (no spaces)"
    )
    cadd.add_argument(
        "--secret",
        default=None,
        type=v.text("shared secret", max_length=256),
        help="the shared secret (default: a new random one, printed once)",
    )
    cadd.add_argument("--name", default=None, type=v.text("name", max_length=200), help="a name for people")
    cadd.add_argument(
        "--rotate-secret",
        action="store_true",
        help="the key exists: give it a new secret; the old one keeps working for --grace-hours",
    )
    cadd.add_argument(
        "--grace-hours",
        type=v.integer("grace period in hours", 0, 24 * 90),
        default=DEFAULT_GRACE_HOURS,
        help=f"with --rotate-secret: how long the old secret stays valid (default {DEFAULT_GRACE_HOURS}, 0: none)",
    )
    cadd.set_defaults(run=consumers_add)
    consumers.add_parser("list", help="list consumers (never their secrets)").set_defaults(run=consumers_list)
    cremove = consumers.add_parser("remove", help="remove a consumer")
    cremove.add_argument("--key", required=True, help="the consumer key, as `consumers list` shows")
    cremove.set_defaults(run=consumers_remove)

    keys = verbs.add_parser("keys", help="the tool's signing keys").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    keys.add_parser("list", help="list the keys in the JWKS").set_defaults(run=keys_list)
    keys.add_parser("rotate", help="add a new signing key (the old one stays in the JWKS)").set_defaults(
        run=keys_rotate
    )
    retire = keys.add_parser("retire", help="remove the previous keys from the JWKS")
    retire.add_argument("--force", action="store_true", help="even within 15 minutes of a rotation")
    retire.set_defaults(run=keys_retire)


def register_one_url_and_migration(platforms: Any) -> None:
    """The verbs of LTI Dynamic Registration, the per-LMS configurations and the LTI 1.1 -> 1.3 tie."""
    invite = platforms.add_parser(
        "invite", help="make a one-time LTI Dynamic Registration URL (valid for a day) for an LMS admin to paste"
    )
    invite.add_argument("--name", default=None, help="who or what the invite is for (shown to operators only)")
    invite.add_argument("--hours", type=float, default=24.0, help="how long the invite stays valid (default 24)")
    invite.set_defaults(run=platforms_invite)
    config = platforms.add_parser("config", help="print the tool's configuration in an LMS's own format")
    config.add_argument(
        "--lms", choices=("canvas", "moodle"), required=True, help="the LMS whose format to print: canvas or moodle"
    )
    config.set_defaults(run=platforms_config)
    deployment = platforms.add_parser(
        "add-deployment", help="add a deployment id to a registration (one made by Dynamic Registration, say)"
    )
    deployment.add_argument("--issuer", required=True, help="the registration's issuer, as `platforms list` shows")
    deployment.add_argument("--client-id", required=True, help="the registration's client id (platforms list)")
    deployment.add_argument("--deployment-id", required=True, help="the deployment id the LMS shows")
    deployment.set_defaults(run=platforms_add_deployment)
    legacy = platforms.add_parser(
        "link-legacy",
        help="tie an LTI 1.3 registration to the LTI 1.1 consumer it was, so its courses and learners continue",
    )
    legacy.add_argument("--issuer", required=True, help="the 1.3 registration's issuer, as `platforms list` shows")
    legacy.add_argument("--client-id", required=True, help="the 1.3 registration's client id (platforms list)")
    target = legacy.add_mutually_exclusive_group(required=True)
    target.add_argument("--consumer-key", help="the LTI 1.1 consumer key this LMS used (passback consumers list)")
    target.add_argument("--unlink", action="store_true", help="remove the tie")
    legacy.set_defaults(run=platforms_link_legacy)


def platforms_add(args: argparse.Namespace) -> int:
    from passback import container
    from passback.settings import get_settings

    use_target(args)
    existed = container.platforms().get(args.issuer, args.client_id) is not None
    platform = container.platforms().add(
        issuer=args.issuer,
        client_id=args.client_id,
        deployment_ids=list(args.deployment_id),
        login_url=args.login_url,
        token_url=args.token_url,
        jwks_url=args.jwks_url,
        name=args.name,
        token_audience=args.audience,
        now=utcnow(),
    )
    verb = "Updated" if existed else "Registered"
    print(f"{verb} {platform.issuer} (client {platform.client_id}), platform id {platform.platform_id}.")
    print_lms_side(get_settings().base_url)
    return 0


def print_lms_side(base_url: str) -> None:
    from passback.lti.descriptions import canvas_json, moodle_form_text

    print(
        f"\nCanvas: Developer Keys > + Developer Key > + LTI Key > Method: Paste JSON, paste this "
        f"(also served at {base_url}/lti13/config/canvas.json):"
    )
    print(json.dumps(canvas_json(base_url), indent=2))
    print(f"\nMoodle: Manage tools > configure a tool manually, in this order ({base_url}/lti13/config/moodle):")
    print(moodle_form_text(base_url))
    print(f"\nOther LMSs: see docs/lms-setup.md. LTI 1.1 launch URL: {base_url}/lti11/launch")


def platforms_invite(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from passback import container
    from passback.cli.errors import CliError
    from passback.settings import get_settings

    if not 0 < args.hours <= 24 * 30:
        raise CliError("--hours must be more than 0 and at most 720 (30 days)")
    use_target(args)
    now = utcnow()
    token = container.registrations().invite(now, name=args.name, valid_for=timedelta(hours=args.hours))
    expires = now + timedelta(hours=args.hours)
    print(f"{get_settings().base_url}/lti13/register?invite={token}")
    print(
        f"One-time LTI Dynamic Registration URL, valid until {expires:%Y-%m-%d %H:%M} UTC. Give it to the LMS "
        "admin only (it registers one LMS): Canvas > Developer Keys > + LTI Registration; Moodle > Manage tools > "
        "Tool URL > Add LTI Advantage (docs/lms-setup.md)."
    )
    return 0


def platforms_config(args: argparse.Namespace) -> int:
    from passback.lti.descriptions import canvas_json, moodle_form_text
    from passback.settings import get_settings

    use_target(args)
    base = get_settings().base_url
    print(json.dumps(canvas_json(base), indent=2) if args.lms == "canvas" else moodle_form_text(base))
    return 0


def platforms_add_deployment(args: argparse.Namespace) -> int:
    from passback import container
    from passback.cli.errors import CliError

    use_target(args)
    platforms = container.platforms()
    if platforms.get(args.issuer, args.client_id) is None:
        raise CliError(f"no registration for issuer {args.issuer}, client {args.client_id} (passback platforms list)")
    if not 0 < len(args.deployment_id.encode("utf-8")) <= 255:
        raise CliError("--deployment-id must be 1 to 255 bytes")
    platforms.add_deployment(args.issuer, args.client_id, args.deployment_id, utcnow())
    print(f"Deployment {args.deployment_id} added to {args.issuer} (client {args.client_id}).")
    return 0


def platforms_link_legacy(args: argparse.Namespace) -> int:
    from passback import container
    from passback.cli.errors import CliError

    use_target(args)
    platforms = container.platforms()
    if platforms.get(args.issuer, args.client_id) is None:
        raise CliError(
            f"no registration for issuer {args.issuer} and client {args.client_id} (passback platforms list)"
        )
    if args.unlink:
        platforms.set_legacy_consumer(args.issuer, args.client_id, None)
        print(f"{args.issuer} (client {args.client_id}) is no longer tied to an LTI 1.1 consumer.")
        return 0
    if container.consumers().get(args.consumer_key) is None:
        raise CliError(f"no LTI 1.1 consumer {args.consumer_key!r} (passback consumers list)")
    platforms.set_legacy_consumer(args.issuer, args.client_id, args.consumer_key)
    print(
        f"{args.issuer} (client {args.client_id}) is now tied to LTI 1.1 consumer {args.consumer_key}: its LTI 1.3 "
        "launches continue that consumer's courses, learners and links (an lti1p1 claim, when the LMS sends one, "
        "still has to verify). See docs/migration.md."
    )
    return 0


def platforms_list(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    repo = container.platforms()
    found = repo.list_all()
    for p in found:
        deployments = ", ".join(repo.deployments(p.issuer, p.client_id)) or "-"
        legacy = f"  lti11={p.legacy_consumer_key}" if p.legacy_consumer_key else ""
        print(
            f"{p.platform_id}  {p.issuer}  client={p.client_id}  deployments={deployments}  name={p.name or '-'}"
            f"{legacy}"
        )
        if p.line_item_put_refused and p.line_item_put_refused_at:
            # services/column_labels.py: no label PUT goes to it for a month after.
            print(
                f"  refuses column label changes since {p.line_item_put_refused_at:%Y-%m-%d %H:%M} UTC "
                f"({p.line_item_put_refused}): renamed activities keep their old column names there"
            )
    if not found:
        print("no LTI 1.3 platforms registered yet: add one with `passback platforms add` (docs/lms-setup.md)")
    return 0


def platforms_remove(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    removed = container.platforms().remove(args.issuer, args.client_id)
    print("removed" if removed else "no such registration")
    return 0 if removed else 1


def consumers_add(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from passback import container
    from passback.settings import get_settings

    use_target(args)
    repo = container.consumers()
    exists = repo.get(args.key) is not None or repo.secret(args.key) is not None
    if exists and not args.rotate_secret:
        raise CliError(
            f"consumer key {args.key} already exists: replacing its secret would break every LTI 1.1 link of that "
            "LMS; to replace it, add --rotate-secret (the old secret keeps working for --grace-hours)"
        )
    if args.rotate_secret and not exists:
        raise CliError(f"no consumer key {args.key} to rotate: leave out --rotate-secret to add it")
    secret = args.secret or secrets.token_urlsafe(24)
    now = utcnow()
    if args.rotate_secret:
        until = repo.rotate(consumer_key=args.key, secret=secret, now=now, grace=timedelta(hours=args.grace_hours))
        print(f"New shared secret for LTI 1.1 consumer {args.key}.")
        if args.grace_hours:
            print(
                f"The previous secret is accepted too until {until:%Y-%m-%d %H:%M} UTC: enter the new one in the LMS "
                "before then."
            )
        else:
            print("The previous secret no longer works: enter the new one in the LMS now.")
    else:
        consumer = repo.add(consumer_key=args.key, secret=secret, name=args.name, now=now)
        print(f"Added LTI 1.1 consumer {consumer.consumer_key} (platform id {consumer.platform_id}).")
        print(f"Launch URL: {get_settings().base_url}/lti11/launch")
    if args.secret is None:
        print(f"Shared secret (shown once, give it to the LMS admin): {secret}")
    return 0


def consumers_list(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    found = container.consumers().list_all()
    now = utcnow()
    for c in found:
        rotation = ""
        if c.previous_valid_until is not None and c.previous_valid_until > now:
            rotation = f"  previous secret valid until {c.previous_valid_until:%Y-%m-%d %H:%M} UTC"
        print(f"{c.platform_id}  {c.consumer_key}  name={c.name or '-'}  added={c.created_at:%Y-%m-%d}{rotation}")
    if not found:
        print("no LTI 1.1 consumers yet: add one with `passback consumers add --key KEY`")
    return 0


def consumers_remove(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    removed = container.consumers().remove(args.key)
    print("removed" if removed else "no such consumer")
    return 0 if removed else 1


def keys_list(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    for key in container.tool_keys().public_keys():
        print(f"{key.kid}  {key.status}  created={key.created_at:%Y-%m-%d %H:%M}")
    return 0


def keys_rotate(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    kid = container.tool_keys().rotate(utcnow())
    print(f"New signing key {kid}; the previous keys stay in the JWKS until `passback keys retire`.")
    return 0


def keys_retire(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    try:
        retired = container.tool_keys().retire(utcnow(), force=args.force)
    except ValueError as error:
        raise CliError(str(error)) from error
    print(f"Retired {len(retired)} key(s): {', '.join(retired) or '-'}")
    return 0
