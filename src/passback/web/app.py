"""The launch function's resolver: every route of the API Gateway HTTP API it serves."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from passback.web import (
    advantage_routes,
    gradebook_routes,
    keys_routes,
    lti_routes,
    merge_routes,
    registration_routes,
)


def build() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    app.include_router(keys_routes.router)
    app.include_router(lti_routes.router)
    app.include_router(gradebook_routes.router)
    app.include_router(merge_routes.router)
    app.include_router(registration_routes.router)
    app.include_router(advantage_routes.router)
    return app
