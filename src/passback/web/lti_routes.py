"""LTI routes (fixed, so LMS admins can configure them from the docs)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from passback.clock import utcnow
from passback.web import deep_linking, flows
from passback.web.events import request_of, response_of

router = APIGatewayHttpRouter()


@router.route("/lti13/login", method=["GET", "POST"])
def lti13_login() -> Response[str]:
    return response_of(flows.lti13_login(request_of(router.current_event), utcnow()))


@router.post("/lti13/launch")
def lti13_launch() -> Response[str]:
    return response_of(flows.lti13_launch(request_of(router.current_event), utcnow()))


@router.post("/lti11/launch")
def lti11_launch() -> Response[str]:
    return response_of(flows.lti11_launch(request_of(router.current_event), utcnow()))


@router.post("/lti13/deep-link")
def lti13_deep_link() -> Response[str]:
    return response_of(deep_linking.picker_action(request_of(router.current_event), utcnow()))
