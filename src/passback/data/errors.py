"""Errors from the tables, and whether a retry could help."""

from __future__ import annotations

from pynamodb.exceptions import PynamoDBException


def is_conditional_failure(error: BaseException) -> bool:
    """True when a conditional write lost a race (someone else wrote first)."""
    cause = getattr(error, "cause_response_code", None)
    return isinstance(error, PynamoDBException) and cause == "ConditionalCheckFailedException"


def is_throttle(error: BaseException) -> bool:
    cause = getattr(error, "cause_response_code", None)
    return cause in {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}


class Conflict(Exception):
    """An optimistic-locking write kept losing races; the caller's message should be retried."""
