"""LTI Dynamic Registration (one URL registers Passback in an LMS) and the per-LMS configurations."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from passback.clock import utcnow
from passback.web import registration_flows as flows
from passback.web.events import request_of, response_of

router = APIGatewayHttpRouter()


@router.get("/lti13/register")
def register_start() -> Response[str]:
    return response_of(flows.start(request_of(router.current_event), utcnow()))


@router.post("/lti13/register")
def register_finish() -> Response[str]:
    return response_of(flows.finish(request_of(router.current_event), utcnow()))


@router.get("/lti13/config/<lms>")
def tool_configuration(lms: str) -> Response[str]:
    return response_of(flows.configuration(request_of(router.current_event), lms))
