"""The launch function's resolver: every route of the API Gateway HTTP API it serves."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from passback.web import keys_routes


def build() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()
    app.include_router(keys_routes.router)
    return app
