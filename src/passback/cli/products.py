"""`passback products add|list|rotate|assign|remove`: products as principals of the score API (issue 21)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from passback.cli.errors import CliError
from passback.cli.target import use_target
from passback.clock import utcnow


def register(verbs: Any) -> None:
    products = verbs.add_parser("products", help="products that report scores through the HTTPS API").add_subparsers(
        dest="action", required=True
    )
    add = products.add_parser("add", help="register a product and its first credential (a key pair)")
    add.add_argument("name", help="a short name, e.g. quiz-app (the product id adds a suffix)")
    add.add_argument("--issuer", action="append", default=[], help="an LTI 1.3 platform it is deployed on (repeat)")
    add.add_argument(
        "--consumer-key", action="append", default=[], help="an LTI 1.1 consumer it is deployed on (repeat)"
    )
    add.add_argument("--rate", type=int, default=100, help="messages per second it may post (default 100)")
    _key_options(add)
    add.set_defaults(run=products_add)
    products.add_parser("list", help="list products, their platforms and live key ids").set_defaults(run=products_list)
    rotate = products.add_parser(
        "rotate", help="add a credential (the old one stays live until --retire), or retire one with --retire KID"
    )
    rotate.add_argument("product_id", help="the product id, as `passback products list` shows")
    rotate.add_argument("--retire", metavar="KID", default=None, help="revoke this key id now (tokens stop at once)")
    _key_options(rotate)
    rotate.set_defaults(run=products_rotate)
    assign = products.add_parser(
        "assign", help="give activities that have no owner (e.g. published through the score queue) to a product"
    )
    assign.add_argument("product_id", help="the product id, as `passback products list` shows")
    assign.add_argument("activity_id", nargs="+", help="the activity ids")
    assign.set_defaults(run=products_assign)
    remove = products.add_parser("remove", help="remove a product and revoke every credential of it at once")
    remove.add_argument("product_id", help="the product id, as `passback products list` shows")
    remove.set_defaults(run=products_remove)

    openapi = verbs.add_parser("openapi", help="write the product API's OpenAPI document (docs/openapi.json)")
    openapi.add_argument("--out", type=Path, default=Path("docs/openapi.json"), help="output file")
    openapi.set_defaults(run=write_openapi)


def _key_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--public-key", type=Path, default=None, help="the product's own RSA public key (PEM); else a pair is made"
    )
    parser.add_argument(
        "--key-out", type=Path, default=None, help="where to write a made private key (default: ./<product>-<kid>.pem)"
    )


def _platform_ids(args: argparse.Namespace) -> list[str]:
    from passback import container
    from passback.ids import platform_id, platform_key_lti11, platform_key_lti13

    found = []
    for issuer in args.issuer:
        if not container.platforms().for_issuer(issuer):
            raise CliError(f"no LTI 1.3 platform has the issuer {issuer} (passback platforms list)")
        found.append(platform_id(platform_key_lti13(issuer)))
    for key in args.consumer_key:
        if container.consumers().get(key) is None:
            raise CliError(f"no LTI 1.1 consumer has the key {key} (passback consumers list)")
        found.append(platform_id(platform_key_lti11(key)))
    return found


def _public_pem(args: argparse.Namespace) -> str | None:
    if args.public_key is None:
        return None
    try:
        return str(args.public_key.read_text(encoding="utf-8"))
    except OSError as error:
        raise CliError(f"cannot read {args.public_key}: {error.strerror}") from None


def _hand_over(args: argparse.Namespace, credential: Any) -> dict[str, Any]:
    from passback.settings import get_settings

    base = get_settings().base_url.rstrip("/")
    shown: dict[str, Any] = {
        "product_id": credential.product_id,
        "kid": credential.kid,
        "token_url": f"{base}/api/v1/token",
        "messages_url": f"{base}/api/v1/messages",
    }
    if credential.private_pem is not None:
        path = args.key_out or Path(f"{credential.product_id}-{credential.kid[:8]}.pem")
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as error:
            raise CliError(f"cannot write the private key to {path}: {error.strerror}") from None
        with os.fdopen(descriptor, "w", encoding="ascii") as out:
            out.write(credential.private_pem)
        shown["private_key_file"] = str(path)
    return shown


def products_add(args: argparse.Namespace) -> int:
    from passback import container
    from passback.services.products import ProductError

    use_target(args)
    pem = _public_pem(args)
    try:
        credential = container.product_admin().add(
            args.name, platform_ids=_platform_ids(args), public_pem=pem, rate_per_second=args.rate, now=utcnow()
        )
    except ProductError as error:
        raise CliError(str(error)) from None
    print(json.dumps(_hand_over(args, credential), indent=2))
    return 0


def products_list(args: argparse.Namespace) -> int:
    from passback import container

    use_target(args)
    rows = container.product_admin().describe()
    if not rows:
        print("no products (passback products add NAME)")
    for row in rows:
        platforms = ", ".join(row["platforms"]) or "-"
        keys = ", ".join(row["keys"]) or "none (revoked)"
        print(f"{row['product_id']}  rate={row['rate_per_second']}/s  platforms={platforms}  keys={keys}")
    return 0


def products_rotate(args: argparse.Namespace) -> int:
    from passback import container
    from passback.services.products import ProductError

    use_target(args)
    admin = container.product_admin()
    try:
        if args.retire:
            admin.retire(args.product_id, args.retire)
            print(f"retired key {args.retire} of {args.product_id}: its tokens stop working now")
            return 0
        credential = admin.rotate(args.product_id, public_pem=_public_pem(args), now=utcnow())
    except ProductError as error:
        raise CliError(str(error)) from None
    shown = _hand_over(args, credential)
    shown["next"] = (
        f"switch the product to the new key, then: passback products rotate {args.product_id} --retire=OLD_KID"
    )
    print(json.dumps(shown, indent=2))
    return 0


def products_assign(args: argparse.Namespace) -> int:
    from passback import container
    from passback.services.products import ProductError

    use_target(args)
    admin = container.product_admin()
    for activity_id in args.activity_id:
        try:
            admin.assign(args.product_id, activity_id, utcnow())
        except ProductError as error:
            raise CliError(str(error)) from None
        print(f"{activity_id} belongs to {args.product_id}")
    return 0


def products_remove(args: argparse.Namespace) -> int:
    from passback import container
    from passback.services.products import ProductError

    use_target(args)
    try:
        container.product_admin().remove(args.product_id)
    except ProductError as error:
        raise CliError(str(error)) from None
    print(f"removed {args.product_id}: every credential of it is revoked")
    return 0


def write_openapi(args: argparse.Namespace) -> int:
    from passback.api.openapi import document_text

    args.out.write_text(document_text(), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0
