"""Which models live in which table, binding them to the deployment, and their definitions.

Table names and the endpoint come from settings on first use (never at import). The
definitions derived here are what `tests/test_template.py` compares with the SAM template,
so the models and the deployed tables cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pynamodb.models import Model

from passback.data.config_models import CONFIG_MODELS, ConfigItem
from passback.data.gradebook_models import GRADEBOOK_MODELS, GradebookItem
from passback.data.product_models import PRODUCT_CONFIG_MODELS, PRODUCT_GRADEBOOK_MODELS, PRODUCT_STATE_MODELS
from passback.data.refusal_models import REFUSAL_MODELS
from passback.data.state_models import STATE_MODELS, StateItem
from passback.settings import Settings, get_settings


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    base: type[Model]
    models: tuple[type[Model], ...]
    settings_field: str
    ttl_attribute: str | None


TABLES: tuple[TableSpec, ...] = (
    TableSpec("ConfigTable", ConfigItem, CONFIG_MODELS + PRODUCT_CONFIG_MODELS, "config_table", None),
    TableSpec("StateTable", StateItem, STATE_MODELS + PRODUCT_STATE_MODELS, "state_table", "expires"),
    TableSpec(
        "GradebookTable",
        GradebookItem,
        GRADEBOOK_MODELS + PRODUCT_GRADEBOOK_MODELS + REFUSAL_MODELS,
        "gradebook_table",
        "expires",
    ),
)


def bind(settings: Settings) -> None:
    """Point every model at its table and endpoint (and drop connections made for another)."""
    for spec in TABLES:
        name = getattr(settings, spec.settings_field)
        models = (spec.base, *spec.models)
        # Subclasses share their base's Meta, so decide once per table, before updating it: a model
        # keeps its own cached connection, and each one made for another endpoint must go.
        changed = any(
            model.Meta.table_name != name
            or getattr(model.Meta, "host", None) != settings.aws_endpoint_url
            or getattr(model.Meta, "region", None) != settings.region
            for model in models
        )
        for model in models:
            meta = model.Meta
            meta.table_name = name
            meta.host = settings.aws_endpoint_url
            meta.region = settings.region
            # Fail fast: a DynamoDB call on a request path should not hang for 30 s.
            meta.connect_timeout_seconds = 3
            meta.read_timeout_seconds = 10
            if changed:
                model._connection = None


@cache
def _bound() -> None:
    bind(get_settings())


def ensure_bound() -> None:
    """Bind on first use, once per container."""
    _bound()


def rebind() -> None:
    """Bind again after the settings changed (tests, the local stack)."""
    _bound.cache_clear()
    _bound()


def table_definition(spec: TableSpec) -> dict[str, Any]:
    """The table's keys, attribute definitions, indexes and TTL, in CloudFormation's shape."""
    schema = spec.base._get_schema()
    gsis = sorted(
        (
            {
                "IndexName": index["index_name"],
                "KeySchema": [
                    {"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in index["key_schema"]
                ],
                "Projection": dict(index["projection"]),
            }
            for index in schema["global_secondary_indexes"]
        ),
        key=lambda index: str(index["IndexName"]),
    )
    return {
        "KeySchema": [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in schema["key_schema"]],
        "AttributeDefinitions": sorted(
            (
                {"AttributeName": a["AttributeName"], "AttributeType": a["AttributeType"]}
                for a in schema["attribute_definitions"]
            ),
            key=lambda a: a["AttributeName"],
        ),
        "GlobalSecondaryIndexes": gsis,
        "TimeToLiveAttribute": spec.ttl_attribute,
    }
