"""The instructor's gradebook pages (GET and the page's own POSTs) and actions, authorised by the session."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from passback.clock import utcnow
from passback.web import gradebook_actions, gradebook_flows
from passback.web.events import request_of, response_of

router = APIGatewayHttpRouter()


# The page of a large course is a few MB of repetitive HTML: gzip it when the browser accepts it.
@router.get("/gradebook/<course_id>", compress=True)
def gradebook(course_id: str) -> Response[str]:
    return response_of(gradebook_flows.page(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>", compress=True)
def gradebook_view(course_id: str) -> Response[str]:
    """The page again, from its own forms (view options, refresh), the session in the POST body."""
    return response_of(gradebook_flows.page(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>/live", compress=True)
def live(course_id: str) -> Response[str]:
    return response_of(gradebook_flows.live(request_of(router.current_event), course_id, utcnow()))


@router.get("/gradebook/<course_id>/export.csv", compress=True)
def export_csv(course_id: str) -> Response[str]:
    return response_of(gradebook_flows.export_csv(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>/export.csv", compress=True)
def export_csv_from_page(course_id: str) -> Response[str]:
    return response_of(gradebook_flows.export_csv(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>/history.csv", compress=True)
def export_history(course_id: str) -> Response[str]:
    return response_of(gradebook_flows.export_history(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>/release", compress=True)
def release(course_id: str) -> Response[str]:
    return response_of(gradebook_actions.release(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>/resync", compress=True)
def resync(course_id: str) -> Response[str]:
    return response_of(gradebook_actions.resync(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>/settings/policy", compress=True)
def set_policy(course_id: str) -> Response[str]:
    return response_of(gradebook_actions.set_policy(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>/settings/gau", compress=True)
def set_deadlines(course_id: str) -> Response[str]:
    return response_of(gradebook_actions.set_deadlines(request_of(router.current_event), course_id, utcnow()))


@router.post("/gradebook/<course_id>/settings/extend", compress=True)
def extend_deadline(course_id: str) -> Response[str]:
    return response_of(gradebook_actions.extend_deadline(request_of(router.current_event), course_id, utcnow()))
