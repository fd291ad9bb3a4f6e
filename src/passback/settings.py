"""Deployment settings, read from the environment once per container.

The SAM template and `passback serve` both set these variables; nothing else is read
from the environment anywhere in the package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache

from passback.domain.delivery import slot_wait_budget


@dataclass(frozen=True)
class Settings:
    stage: str = "local"
    region: str = "us-east-1"
    # None means AWS itself; `passback serve` points this at its moto server.
    aws_endpoint_url: str | None = None
    config_table: str = "passback-config"
    state_table: str = "passback-state"
    gradebook_table: str = "passback-gradebook"
    score_queue_url: str = ""
    score_dlq_url: str = ""
    release_queue_url: str = ""
    release_dlq_url: str = ""
    tool_keys_secret: str = "passback/tool-keys"
    consumer_secrets_secret: str = "passback/lti11-consumers"
    # The public base URL of the API (what an LMS admin types in), without a trailing slash.
    # Empty: derived from each request (the API Gateway URL), see web.http.public_base_url.
    base_url: str = ""
    # Where a learner goes after a homepage-link launch (an activity link goes to the activity's URL).
    product_home_url: str = ""
    default_release_policy: str = "immediate"
    http_timeout_seconds: float = 10.0
    platform_concurrency: int = 8
    retry_horizon_seconds: int = 3600
    # A score dated more than this after the queue received it is refused (docs/messages.md).
    score_clock_skew_seconds: int = 300
    sender_email: str = "no-reply@passback.invalid"
    mail_dir: str | None = None
    # LTI Dynamic Registration without an invite (docs/lms-setup.md); off unless the deployment opens it.
    open_registration: bool = False
    extra: dict[str, str] = field(default_factory=dict)


_ENV = {
    "stage": "PASSBACK_STAGE",
    "region": "AWS_REGION",
    "aws_endpoint_url": "AWS_ENDPOINT_URL",
    "config_table": "PASSBACK_CONFIG_TABLE",
    "state_table": "PASSBACK_STATE_TABLE",
    "gradebook_table": "PASSBACK_GRADEBOOK_TABLE",
    "score_queue_url": "PASSBACK_SCORE_QUEUE_URL",
    "score_dlq_url": "PASSBACK_SCORE_DLQ_URL",
    "release_queue_url": "PASSBACK_RELEASE_QUEUE_URL",
    "release_dlq_url": "PASSBACK_RELEASE_DLQ_URL",
    "tool_keys_secret": "PASSBACK_TOOL_KEYS_SECRET",
    "consumer_secrets_secret": "PASSBACK_CONSUMER_SECRETS_SECRET",
    "base_url": "PASSBACK_BASE_URL",
    "product_home_url": "PASSBACK_PRODUCT_HOME_URL",
    "default_release_policy": "PASSBACK_DEFAULT_RELEASE_POLICY",
    "http_timeout_seconds": "PASSBACK_HTTP_TIMEOUT_SECONDS",
    "platform_concurrency": "PASSBACK_PLATFORM_CONCURRENCY",
    "retry_horizon_seconds": "PASSBACK_RETRY_HORIZON_SECONDS",
    "score_clock_skew_seconds": "PASSBACK_SCORE_CLOCK_SKEW_SECONDS",
    "sender_email": "PASSBACK_SENDER_EMAIL",
    "mail_dir": "PASSBACK_MAIL_DIR",
    "open_registration": "PASSBACK_OPEN_REGISTRATION",
}


def settings_from_env(env: dict[str, str] | None = None) -> Settings:
    source = os.environ if env is None else env
    values: dict[str, object] = {}
    defaults = Settings()
    for name, var in _ENV.items():
        raw = source.get(var)
        if raw is None or raw == "":
            continue
        default = getattr(defaults, name)
        if isinstance(default, bool):
            values[name] = raw.lower() in {"1", "true", "yes"}
        elif isinstance(default, int):
            values[name] = int(raw)
        elif isinstance(default, float):
            values[name] = float(raw)
        else:
            values[name] = raw.rstrip("/") if name == "base_url" else raw
    if "region" not in values and source.get("AWS_DEFAULT_REGION"):
        values["region"] = source["AWS_DEFAULT_REGION"]
    settings = Settings(**values)  # type: ignore[arg-type]
    # Checked when the settings are read (every function's start): a send must fit its claim's lease.
    slot_wait_budget(settings.http_timeout_seconds)
    return settings


@cache
def get_settings() -> Settings:
    """The container's settings: read on first use, kept for the container's life."""
    return settings_from_env()


def reset_settings() -> None:
    """Forget cached settings (tests and the local stack change the environment)."""
    get_settings.cache_clear()
