"""Release function: course jobs from the release queue (SQS), and release requests (HTTP API, IAM)."""

from __future__ import annotations

import json
import logging
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

from passback import container
from passback.clock import utcnow
from passback.messages import CourseJob, ReleaseRequest
from passback.observability import logger, metrics, tracer
from passback.services.jobs import run_once

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

processor = BatchProcessor(event_type=EventType.SQS, logger=logging.getLogger("passback"))


def run_job(record: SQSRecord, lambda_context: LambdaContext) -> int:
    job = parse(event=record.json_body, model=CourseJob)
    return run_once(container.jobs(), job, utcnow(), container.idempotency_store(), lambda_context)


@cache
def api() -> APIGatewayHttpResolver:
    """The HTTP route, built on its first request: the queue path (nearly every cold start) skips the import."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
    from pydantic import ValidationError

    app = APIGatewayHttpResolver()

    @app.exception_handler(ValidationError)  # type: ignore[untyped-decorator]
    def refused(error: ValidationError) -> Response[str]:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
        return Response(400, content_types.APPLICATION_JSON, json.dumps({"error": f"bad release request: {problems}"}))

    @app.post("/api/v1/releases")
    def release() -> Response[str]:
        request = parse(event=app.current_event.json_body, model=ReleaseRequest)
        job = container.jobs().request(
            "release", request.course_id, utcnow(), activity_id=request.activity_id, requested_by=request.requested_by
        )
        return Response(202, content_types.APPLICATION_JSON, f'{{"job_id": "{job.job_id}"}}')

    return app


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        return dict(process_partial_response(event=event, record_handler=run_job, processor=processor, context=context))
    return api().resolve(event, context)
