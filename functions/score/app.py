"""Score function (SQS): product score and activity messages become grades, then sync."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from passback import container
from passback.clock import utcnow
from passback.observability import logger, metrics, tracer


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_source(data_class=SQSEvent)
def handler(event: SQSEvent, context: LambdaContext) -> dict[str, Any]:
    # Partial batch response: only the failed records come back to the queue.
    return container.scoring().process_batch(event.raw_event["Records"], utcnow())
