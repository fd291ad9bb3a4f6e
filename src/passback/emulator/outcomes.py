"""LTI 1.1 Basic Outcomes: OAuth 1.0a (HMAC-SHA1 + body hash) verification and the POX operations."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import xml.etree.ElementTree as ET

from oauthlib.oauth1 import Client
from oauthlib.oauth1.rfc5849 import signature as oauth_signature
from oauthlib.oauth1.rfc5849 import utils as oauth_utils

from . import pox
from .lms import Lms
from .state import OutcomeRecord, SourcedId
from .wire import Request, Response, text_response

TIMESTAMP_WINDOW_S = 300
_DECIMAL = re.compile(r"^(\d+(\.\d*)?|\.\d+)$")
_REQUIRED_OAUTH = (
    "oauth_consumer_key",
    "oauth_signature_method",
    "oauth_signature",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_body_hash",
)


class OAuthRejectedError(Exception):
    pass


def verify_oauth(lms: Lms, request: Request) -> str:
    """Check the request's OAuth 1.0a signature and body hash; return the consumer key."""
    authorization = request.header("authorization")
    if not authorization.lower().startswith("oauth "):
        raise OAuthRejectedError("an OAuth Authorization header is required")
    try:
        raw = oauth_utils.parse_authorization_header(authorization)
    except ValueError as exc:
        raise OAuthRejectedError(f"malformed OAuth Authorization header: {exc}") from exc
    params: dict[str, str] = {str(k): str(oauth_utils.unescape(str(v))) for k, v in raw}
    missing = [name for name in _REQUIRED_OAUTH if not params.get(name)]
    if missing:
        raise OAuthRejectedError(f"missing OAuth parameters: {', '.join(missing)}")
    if params["oauth_signature_method"] != "HMAC-SHA1":
        raise OAuthRejectedError("only HMAC-SHA1 is supported")
    if params.get("oauth_version", "1.0") != "1.0":
        raise OAuthRejectedError("oauth_version must be 1.0")
    consumer_key = params["oauth_consumer_key"]
    tool = lms.state.tool_by_consumer_key(consumer_key)
    if tool is None or tool.lti11_secret is None:
        raise OAuthRejectedError("unknown consumer key")
    try:
        timestamp = int(params["oauth_timestamp"])
    except ValueError as exc:
        raise OAuthRejectedError("oauth_timestamp is not an integer") from exc
    if abs(lms.state.now() - timestamp) > TIMESTAMP_WINDOW_S:
        raise OAuthRejectedError("oauth_timestamp is more than 5 minutes off")

    host = request.header("host") or lms.urls.base.split("://", 1)[1]
    form_body = (
        request.body.decode("utf-8", "replace") if request.content_type == "application/x-www-form-urlencoded" else None
    )
    collected = oauth_signature.collect_parameters(
        uri_query=request.query, body=form_body, headers={"Authorization": authorization}
    )
    base_string = oauth_signature.signature_base_string(
        "POST",
        oauth_signature.base_string_uri(f"http://{host}{request.path}"),
        oauth_signature.normalize_parameters(collected),
    )
    signer = Client(consumer_key, client_secret=tool.lti11_secret)
    expected = str(oauth_signature.sign_hmac_sha1_with_client(base_string, signer))
    if not hmac.compare_digest(expected, params["oauth_signature"]):
        raise OAuthRejectedError("OAuth signature does not match")

    body_hash = base64.b64encode(hashlib.sha1(request.body).digest()).decode("ascii")  # noqa: S324 - the LTI 1.1 spec mandates SHA-1
    if not hmac.compare_digest(body_hash, params["oauth_body_hash"]):
        raise OAuthRejectedError("oauth_body_hash does not match the body")

    with lms.state.lock:
        nonce_key = (consumer_key, params["oauth_nonce"])
        if nonce_key in lms.state.used_oauth1_nonces:
            raise OAuthRejectedError("oauth_nonce was already used")
        lms.state.used_oauth1_nonces.add(nonce_key)
    return consumer_key


def parse_result_score(text: str | None, language: str | None) -> float | str:
    """The score as a float in [0, 1], or a message saying why it is not acceptable."""
    if language is not None and not re.fullmatch(r"en(-[A-Za-z]{2})?", language):
        return f"resultScore language must be en, not {language!r}"
    if text is None or not _DECIMAL.match(text):
        return f"resultScore textString must be a decimal number in en format, got {text!r}"
    value = float(text)
    if not 0.0 <= value <= 1.0:
        return f"resultScore must be between 0.0 and 1.0, got {text}"
    return value


class Outcomes:
    def __init__(self, lms: Lms) -> None:
        self._lms = lms

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return text_response(405, "Basic Outcomes only accepts POST")
        try:
            consumer_key = verify_oauth(self._lms, request)
        except OAuthRejectedError as exc:
            return text_response(401, f"OAuth verification failed: {exc}")
        try:
            pox_request = pox.parse_request(pox.parse_xml(request.body))
        except pox.UnsafeXmlError as exc:
            return text_response(400, str(exc))
        except (ValueError, ET.ParseError) as exc:
            return text_response(400, f"not an IMS POX request: {exc}")
        return self._answer(pox_request, consumer_key)

    def _answer(self, pox_request: pox.PoxRequest, consumer_key: str) -> Response:
        operation = pox_request.operation
        handlers = {
            "replaceResultRequest": self._replace,
            "readResultRequest": self._read,
            "deleteResultRequest": self._delete,
        }
        if operation not in handlers:
            return self._respond(pox_request, "unsupported", f"{operation} is not supported", None)
        sourcedid = pox_request.text("resultRecord/sourcedGUID/sourcedId")
        with self._lms.state.lock:
            sourced = self._lms.state.sourcedids.get(sourcedid or "")
            enrolled = sourced is not None and (
                self._lms.state.course_role(sourced.context_id, sourced.user_id) is not None
            )
        empty_body = pox.element(operation.replace("Request", "Response"))
        if sourcedid is None or sourced is None:
            return self._respond(pox_request, "failure", "Unknown sourcedId", empty_body)
        if sourced.consumer_key != consumer_key:
            return self._respond(pox_request, "failure", "sourcedId does not belong to this consumer", empty_body)
        if not enrolled:
            return self._respond(pox_request, "failure", "User is not in course", empty_body)
        return handlers[operation](pox_request, sourcedid, sourced)

    def _replace(self, pox_request: pox.PoxRequest, sourcedid: str, sourced: SourcedId) -> Response:
        score = parse_result_score(
            pox_request.text("resultRecord/result/resultScore/textString"),
            pox_request.text("resultRecord/result/resultScore/language"),
        )
        if isinstance(score, str):
            return self._respond(pox_request, "failure", score, pox.element("replaceResultResponse"))
        result_data = pox_request.text("resultRecord/result/resultData/text") or pox_request.text(
            "resultRecord/result/resultData/url"
        )
        record = OutcomeRecord(
            sourcedid=sourcedid,
            consumer_key=sourced.consumer_key,
            context_id=sourced.context_id,
            resource_link_id=sourced.resource_link_id,
            user_id=sourced.user_id,
            score=score,
            result_data=result_data,
            received_at=self._lms.state.now(),
        )
        with self._lms.state.lock:
            self._lms.state.outcomes[sourcedid] = record
            self._lms.state.outcome_history.append(record)
        self._lms.stats.count("outcome_accepted")
        description = f"Score for {sourcedid} is now {pox.format_score(score)}"
        return self._respond(pox_request, "success", description, pox.element("replaceResultResponse"))

    def _read(self, pox_request: pox.PoxRequest, sourcedid: str, _: SourcedId) -> Response:
        with self._lms.state.lock:
            record = self._lms.state.outcomes.get(sourcedid)
        score = record.score if record else None
        description = "Result read" if record else "No result stored"
        return self._respond(pox_request, "success", description, pox.read_result_body(score))

    def _delete(self, pox_request: pox.PoxRequest, sourcedid: str, _: SourcedId) -> Response:
        with self._lms.state.lock:
            self._lms.state.outcomes.pop(sourcedid, None)
        return self._respond(pox_request, "success", "Result deleted", pox.element("deleteResultResponse"))

    def _respond(
        self, pox_request: pox.PoxRequest, code_major: str, description: str, body: ET.Element | None
    ) -> Response:
        payload = pox.build_response(
            code_major=code_major,
            description=description,
            message_ref=pox_request.message_id,
            operation=pox_request.operation,
            body=body,
        )
        return Response(200, payload, "application/xml; charset=utf-8")
