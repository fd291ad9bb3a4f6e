"""LTI 1.1 Basic Outcomes: replaceResult and readResult, signed with OAuth 1.0a and a body hash."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

from passback.domain.grading import grades_are_percentages_outcomes
from passback.lms.errors import LmsError, lms_message
from passback.lms.http import Http, PlatformGate, retry_after_seconds

NS = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"
_UNSAFE_XML = re.compile(r"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True)
class OutcomeResult:
    code: str
    description: str
    score: str | None = None


def _envelope(operation: str, sourcedid: str, result: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<imsx_POXEnvelopeRequest xmlns="{NS}">'
        "<imsx_POXHeader><imsx_POXRequestHeaderInfo><imsx_version>V1.0</imsx_version>"
        f"<imsx_messageIdentifier>{uuid.uuid4().hex}</imsx_messageIdentifier>"
        "</imsx_POXRequestHeaderInfo></imsx_POXHeader>"
        f"<imsx_POXBody><{operation}><resultRecord><sourcedGUID><sourcedId>{escape(sourcedid)}</sourcedId>"
        f"</sourcedGUID>{result}</resultRecord></{operation}></imsx_POXBody></imsx_POXEnvelopeRequest>"
    )


def replace_result_body(sourcedid: str, percent: float) -> str:
    score = grades_are_percentages_outcomes(percent)
    result = f"<result><resultScore><language>en</language><textString>{score}</textString></resultScore></result>"
    return _envelope("replaceResultRequest", sourcedid, result)


def parse_response(text: str) -> OutcomeResult:
    if _UNSAFE_XML.search(text):
        raise ValueError("the LMS's answer declares a DTD or entities; refused")
    root = ET.fromstring(text)  # noqa: S314 - DTDs and entities refused above
    q = f"{{{NS}}}"
    code = root.findtext(f".//{q}imsx_codeMajor") or ""
    description = root.findtext(f".//{q}imsx_description") or ""
    score = root.findtext(f".//{q}resultScore/{q}textString")
    return OutcomeResult(code=code.strip(), description=description.strip(), score=score)


class OutcomesClient:
    def __init__(self, http: Http, gate: PlatformGate) -> None:
        self._http = http
        self._gate = gate
        self.posts = 0

    def replace_result(
        self, platform_id: str, service_url: str, sourcedid: str, percent: float, consumer_key: str, secret: str
    ) -> None:
        result = self._call(platform_id, service_url, replace_result_body(sourcedid, percent), consumer_key, secret)
        if result.code != "success":
            raise LmsError(
                f"The LMS answered {result.code or 'nothing'}: {result.description or 'no description'}",
                status=200,
            )

    def read_result(
        self, platform_id: str, service_url: str, sourcedid: str, consumer_key: str, secret: str
    ) -> float | None:
        result = self._call(platform_id, service_url, _envelope("readResultRequest", sourcedid), consumer_key, secret)
        if result.code != "success":
            raise LmsError(f"The LMS answered {result.code}: {result.description}", status=200)
        return None if not result.score else float(result.score) * 100.0

    def _call(self, platform_id: str, url: str, body: str, consumer_key: str, secret: str) -> OutcomeResult:
        from oauthlib.oauth1 import SIGNATURE_HMAC, Client

        # oauthlib adds oauth_body_hash itself for a non-form content type.
        client = Client(consumer_key, client_secret=secret, signature_method=SIGNATURE_HMAC)
        uri, headers, signed_body = client.sign(
            url, http_method="POST", body=body, headers={"Content-Type": "application/xml"}
        )
        with self._gate.slot(platform_id):
            self.posts += 1
            response = self._http.request("POST", uri, data=signed_body.encode("utf-8"), headers=headers)
        if response.status_code == 429:
            self._gate.back_off(platform_id, retry_after_seconds(response) or 60.0)
        if response.status_code != 200:
            raise LmsError(
                lms_message(response.status_code, response.text, response.headers.get("Content-Type", "")),
                status=response.status_code,
                retry_after=retry_after_seconds(response),
            )
        try:
            return parse_response(response.text)
        except (ET.ParseError, ValueError) as error:
            raise LmsError(f"The LMS's answer was not a Basic Outcomes response: {error}", status=200) from error
