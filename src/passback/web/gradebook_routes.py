"""The instructor's gradebook pages (GET) and actions (POST), authorised by the launch session."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from passback.clock import utcnow
from passback.web import gradebook_flows
from passback.web.events import request_of, response_of

router = APIGatewayHttpRouter()


@router.get("/gradebook/<course_id>")
def gradebook(course_id: str) -> Response[str]:
    return response_of(gradebook_flows.page(request_of(router.current_event), course_id, utcnow()))
