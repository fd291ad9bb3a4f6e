"""LTI 1.1: signed launch forms and Basic Outcomes with OAuth 1.0a body hashes."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET

import pytest
import requests
from emulator_testkit import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    COURSE,
    INSTRUCTOR,
    LINK,
    STUDENT,
    FakeTool,
)
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1 import SIGNATURE_TYPE_AUTH_HEADER, Client
from oauthlib.oauth1.rfc5849 import signature

from passback.emulator import LmsEmulator

NS = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"
XML_TYPE = "application/xml"


def pox(operation: str, sourcedid: str, score: str | None = None, language: str = "en") -> str:
    result = ""
    if score is not None:
        result = (
            f"<result><resultScore><language>{language}</language>"
            f"<textString>{score}</textString></resultScore></result>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<imsx_POXEnvelopeRequest xmlns="{NS}">'
        "<imsx_POXHeader><imsx_POXRequestHeaderInfo><imsx_version>V1.0</imsx_version>"
        f"<imsx_messageIdentifier>msg-{operation}</imsx_messageIdentifier>"
        "</imsx_POXRequestHeaderInfo></imsx_POXHeader>"
        f"<imsx_POXBody><{operation}><resultRecord><sourcedGUID><sourcedId>{sourcedid}</sourcedId>"
        f"</sourcedGUID>{result}</resultRecord></{operation}></imsx_POXBody>"
        "</imsx_POXEnvelopeRequest>"
    )


def signed_post(
    url: str, body: str, secret: str = CONSUMER_SECRET, *, tamper_body: str | None = None
) -> requests.Response:
    client = Client(CONSUMER_KEY, client_secret=secret, signature_type=SIGNATURE_TYPE_AUTH_HEADER)
    # oauthlib adds oauth_body_hash itself because the content type is not form-encoded.
    _, headers, _ = client.sign(url, http_method="POST", body=body, headers={"Content-Type": XML_TYPE})
    assert "oauth_body_hash" in headers["Authorization"]
    return requests.post(url, data=(tamper_body or body).encode(), headers=headers, timeout=5)


def status(response: requests.Response) -> dict[str, str]:
    root = ET.fromstring(response.content)  # noqa: S314 - our own emulator's answer
    info = root.find(f"{{{NS}}}imsx_POXHeader/{{{NS}}}imsx_POXResponseHeaderInfo/{{{NS}}}imsx_statusInfo")
    assert info is not None
    return {child.tag.split("}")[1]: child.text or "" for child in info}


def read_score(response: requests.Response) -> str | None:
    root = ET.fromstring(response.content)  # noqa: S314 - our own emulator's answer
    node = root.find(f".//{{{NS}}}resultScore/{{{NS}}}textString")
    return None if node is None else node.text


@pytest.fixture
def sourcedid(emu: LmsEmulator, fake_tool: FakeTool) -> str:
    params = emu.lti11_launch_params(CONSUMER_KEY, fake_tool.lti11_url, STUDENT, COURSE, LINK)
    return params["lis_result_sourcedid"]


def test_launch_params_are_signed_by_oauthlib_and_verify(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    params = emu.lti11_launch_params(
        CONSUMER_KEY, fake_tool.lti11_url, STUDENT, COURSE, LINK, custom={"Extra Thing": "1"}
    )
    assert params["lti_message_type"] == "basic-lti-launch-request"
    assert params["lti_version"] == "LTI-1p0"
    assert params["custom_activity_id"] == "quiz-1"
    assert params["custom_extra_thing"] == "1"
    assert params["lis_outcome_service_url"] == emu.outcomes_url
    assert params["oauth_signature_method"] == "HMAC-SHA1"
    assert params["lis_person_contact_email_primary"] == "ada@example.edu"
    # Verify as a tool would, with oauthlib's own HMAC-SHA1 verifier.
    request = OAuthRequest(fake_tool.lti11_url, "POST")
    request.params = [(k, v) for k, v in params.items() if k != "oauth_signature"]
    request.signature = params["oauth_signature"]
    assert signature.verify_hmac_sha1(request, CONSUMER_SECRET)


def test_instructor_launch_has_no_outcome_service(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    params = emu.lti11_launch_params(CONSUMER_KEY, fake_tool.lti11_url, INSTRUCTOR, COURSE, LINK, roles="Instructor")
    assert "lis_result_sourcedid" not in params
    assert "lis_outcome_service_url" not in params


def test_lti11_launch_posts_the_form(emu: LmsEmulator, fake_tool: FakeTool) -> None:
    response = emu.lti11_launch(requests.Session(), CONSUMER_KEY, fake_tool.lti11_url, STUDENT, COURSE, LINK)
    assert response.status_code == 302
    (received,) = fake_tool.lti11_launches
    assert received["user_id"] == STUDENT
    assert received["lis_result_sourcedid"]


def test_sourcedid_is_stable_per_user_and_link(emu: LmsEmulator, fake_tool: FakeTool, sourcedid: str) -> None:
    again = emu.lti11_launch_params(CONSUMER_KEY, fake_tool.lti11_url, STUDENT, COURSE, LINK)
    assert again["lis_result_sourcedid"] == sourcedid


def test_replace_then_read_then_delete(emu: LmsEmulator, sourcedid: str) -> None:
    replaced = signed_post(emu.outcomes_url, pox("replaceResultRequest", sourcedid, "0.85"))
    assert replaced.status_code == 200, replaced.text
    info = status(replaced)
    assert info["imsx_codeMajor"] == "success"
    assert info["imsx_severity"] == "status"
    assert info["imsx_messageRefIdentifier"] == "msg-replaceResultRequest"
    assert info["imsx_operationRefIdentifier"] == "replaceResult"
    assert emu.gradebook() == {COURSE: {STUDENT: {LINK: 85.0}}}
    assert emu.outcomes()[0]["score"] == 0.85

    read = signed_post(emu.outcomes_url, pox("readResultRequest", sourcedid))
    assert status(read)["imsx_codeMajor"] == "success"
    assert read_score(read) == "0.85"

    deleted = signed_post(emu.outcomes_url, pox("deleteResultRequest", sourcedid))
    assert status(deleted)["imsx_codeMajor"] == "success"
    assert emu.outcomes() == []
    assert emu.counters["outcome"] == 3
    assert emu.counters["outcome_accepted"] == 1


def test_bad_signature_is_refused(emu: LmsEmulator, sourcedid: str) -> None:
    response = signed_post(emu.outcomes_url, pox("replaceResultRequest", sourcedid, "0.5"), secret="wrong")
    assert response.status_code == 401
    assert "signature" in response.text
    assert emu.outcomes() == []


def test_wrong_body_hash_is_refused(emu: LmsEmulator, sourcedid: str) -> None:
    body = pox("replaceResultRequest", sourcedid, "0.5")
    response = signed_post(emu.outcomes_url, body, tamper_body=body.replace("0.5", "1.0"))
    assert response.status_code == 401
    assert "body_hash" in response.text
    assert emu.outcomes() == []


def test_replayed_nonce_and_stale_timestamp_are_refused(emu: LmsEmulator, sourcedid: str) -> None:
    body = pox("replaceResultRequest", sourcedid, "0.5")
    client = Client(CONSUMER_KEY, client_secret=CONSUMER_SECRET)
    _, headers, _ = client.sign(emu.outcomes_url, "POST", body, {"Content-Type": XML_TYPE})
    assert requests.post(emu.outcomes_url, data=body, headers=headers, timeout=5).status_code == 200
    replay = requests.post(emu.outcomes_url, data=body, headers=headers, timeout=5)
    assert replay.status_code == 401
    assert "nonce" in replay.text
    stale = Client(CONSUMER_KEY, client_secret=CONSUMER_SECRET, timestamp="1000000000")
    _, headers, _ = stale.sign(emu.outcomes_url, "POST", body, {"Content-Type": XML_TYPE})
    old = requests.post(emu.outcomes_url, data=body, headers=headers, timeout=5)
    assert old.status_code == 401
    assert "timestamp" in old.text


def test_missing_authorization_is_refused(emu: LmsEmulator, sourcedid: str) -> None:
    response = requests.post(emu.outcomes_url, data=pox("readResultRequest", sourcedid), timeout=5)
    assert response.status_code == 401


@pytest.mark.parametrize("score", ["1.5", "-0.1", "abc", "0,5", "NaN", ""])
def test_out_of_range_or_malformed_scores_fail(emu: LmsEmulator, sourcedid: str, score: str) -> None:
    response = signed_post(emu.outcomes_url, pox("replaceResultRequest", sourcedid, score))
    assert response.status_code == 200
    info = status(response)
    assert info["imsx_codeMajor"] == "failure"
    assert info["imsx_severity"] == "error"
    assert emu.outcomes() == []


def test_non_english_language_fails(emu: LmsEmulator, sourcedid: str) -> None:
    response = signed_post(emu.outcomes_url, pox("replaceResultRequest", sourcedid, "0.5", language="fr"))
    assert status(response)["imsx_codeMajor"] == "failure"


def test_dropped_user_fails_with_not_in_course(emu: LmsEmulator, sourcedid: str) -> None:
    emu.drop(COURSE, STUDENT)
    response = signed_post(emu.outcomes_url, pox("replaceResultRequest", sourcedid, "0.5"))
    info = status(response)
    assert info["imsx_codeMajor"] == "failure"
    assert info["imsx_description"] == "User is not in course"


def test_unknown_sourcedid_and_unknown_operation(emu: LmsEmulator, sourcedid: str) -> None:
    unknown = signed_post(emu.outcomes_url, pox("replaceResultRequest", "forged-" + uuid.uuid4().hex, "0.5"))
    assert status(unknown)["imsx_codeMajor"] == "failure"
    unsupported = signed_post(emu.outcomes_url, pox("readMembershipRequest", sourcedid))
    info = status(unsupported)
    assert info["imsx_codeMajor"] == "unsupported"
    assert info["imsx_operationRefIdentifier"] == "readMembership"


def test_xml_with_a_dtd_is_refused(emu: LmsEmulator, sourcedid: str) -> None:
    evil = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + pox(
        "replaceResultRequest", sourcedid, "0.5"
    ).split("?>", 1)[1].replace("0.5", "&xxe;")
    response = signed_post(emu.outcomes_url, evil)
    assert response.status_code == 400
    assert "DOCTYPE" in response.text
    laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>'
    assert signed_post(emu.outcomes_url, laughs).status_code == 400


def test_malformed_xml_is_refused(emu: LmsEmulator) -> None:
    assert signed_post(emu.outcomes_url, "<not-closed>").status_code == 400
    assert signed_post(emu.outcomes_url, "<other/>").status_code == 400
