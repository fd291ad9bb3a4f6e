"""Retry function (EventBridge schedule): deadline zeros, automatic releases, due retries."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from passback import container
from passback.clock import utcnow
from passback.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    report = container.sweeper().sweep(utcnow())
    return {
        "deadlines": report.deadlines,
        "releases": report.releases,
        "retries": report.retries,
        "merges": report.merges,
        "rosters": report.rosters,
    }
