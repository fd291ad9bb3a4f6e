"""IMS POX envelopes for LTI 1.1 Basic Outcomes: safe parsing and response building.

Parsing refuses any document with a DTD: no entity of any kind, internal or external, is ever
expanded. An expat pass with handlers that raise runs before ElementTree sees the bytes.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, NoReturn
from xml.parsers import expat

NS = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"


class UnsafeXmlError(ValueError):
    """The document declares a DTD or entities; we never process those."""


def _q(tag: str) -> str:
    return f"{{{NS}}}{tag}"


def _refuse(*_: Any) -> NoReturn:
    raise UnsafeXmlError("XML with a DOCTYPE or entity declarations is refused")


def parse_xml(body: bytes) -> ET.Element:
    """Parse `body`, raising UnsafeXmlError for DTDs/entities and ValueError for malformed XML."""
    guard = expat.ParserCreate()
    guard.StartDoctypeDeclHandler = _refuse
    guard.EntityDeclHandler = _refuse
    guard.UnparsedEntityDeclHandler = _refuse
    guard.ExternalEntityRefHandler = _refuse
    try:
        guard.Parse(body, True)
    except expat.ExpatError as exc:
        raise ValueError(f"malformed XML: {exc}") from exc
    return ET.fromstring(body)  # noqa: S314 - the guard above refused DTDs and entities


@dataclass(frozen=True)
class PoxRequest:
    message_id: str
    operation: str
    element: ET.Element

    def text(self, path: str) -> str | None:
        """Text at a slash-separated path of un-namespaced tag names below the operation element."""
        node = self.element.find("/".join(_q(part) for part in path.split("/")))
        return None if node is None or node.text is None else node.text.strip()


def parse_request(root: ET.Element) -> PoxRequest:
    if root.tag != _q("imsx_POXEnvelopeRequest"):
        raise ValueError("the root element is not an imsx_POXEnvelopeRequest in the IMS OMS namespace")
    message_id = root.find(f"{_q('imsx_POXHeader')}/{_q('imsx_POXRequestHeaderInfo')}/{_q('imsx_messageIdentifier')}")
    body = root.find(_q("imsx_POXBody"))
    if body is None or len(body) != 1:
        raise ValueError("imsx_POXBody must hold exactly one operation")
    operation = body[0]
    local_name = operation.tag.rpartition("}")[2] if operation.tag.startswith("{") else operation.tag
    return PoxRequest(
        message_id=(message_id.text or "").strip() if message_id is not None else "",
        operation=local_name,
        element=operation,
    )


def build_response(
    *,
    code_major: str,
    description: str,
    message_ref: str,
    operation: str,
    body: ET.Element | None,
) -> bytes:
    root = ET.Element(_q("imsx_POXEnvelopeResponse"))
    info = ET.SubElement(ET.SubElement(root, _q("imsx_POXHeader")), _q("imsx_POXResponseHeaderInfo"))
    ET.SubElement(info, _q("imsx_version")).text = "V1.0"
    ET.SubElement(info, _q("imsx_messageIdentifier")).text = uuid.uuid4().hex
    status = ET.SubElement(info, _q("imsx_statusInfo"))
    ET.SubElement(status, _q("imsx_codeMajor")).text = code_major
    ET.SubElement(status, _q("imsx_severity")).text = "error" if code_major == "failure" else "status"
    ET.SubElement(status, _q("imsx_description")).text = description
    ET.SubElement(status, _q("imsx_messageRefIdentifier")).text = message_ref
    # The operation reference names the operation without its "Request" suffix, as Canvas does.
    ET.SubElement(status, _q("imsx_operationRefIdentifier")).text = operation.removesuffix("Request")
    pox_body = ET.SubElement(root, _q("imsx_POXBody"))
    if body is not None:
        pox_body.append(body)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=NS)
    return document


def element(tag: str, text: str | None = None) -> ET.Element:
    node = ET.Element(_q(tag))
    node.text = text
    return node


def sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    node = ET.SubElement(parent, _q(tag))
    node.text = text
    return node


def read_result_body(score: float | None) -> ET.Element:
    response = element("readResultResponse")
    result_score = sub(sub(response, "result"), "resultScore")
    sub(result_score, "language", "en")
    sub(result_score, "textString", "" if score is None else format_score(score))
    return response


def format_score(score: float) -> str:
    return repr(float(score))
