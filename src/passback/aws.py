"""boto3 clients, made on first use and kept for the container's life."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from passback.settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sqs import SQSClient


@cache
def _session() -> Any:
    import boto3

    return boto3.session.Session(region_name=get_settings().region)


def _client(service: str) -> Any:
    from botocore.config import Config

    settings = get_settings()
    config = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "max_attempts": 4})
    return _session().client(service, endpoint_url=settings.aws_endpoint_url, config=config)


@cache
def sqs() -> SQSClient:
    client: SQSClient = _client("sqs")
    return client


@cache
def secrets() -> SecretsManagerClient:
    client: SecretsManagerClient = _client("secretsmanager")
    return client


@cache
def ses() -> SESClient:
    client: SESClient = _client("ses")
    return client


def reset_clients() -> None:
    for made in (sqs, secrets, ses, _session):
        made.cache_clear()


@cache
def dynamodb() -> Any:
    """A plain DynamoDB client, for powertools' idempotency store (PynamoDB has its own)."""
    return _client("dynamodb")
