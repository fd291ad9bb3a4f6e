"""Counting DynamoDB requests and capacity units from the SDK, with botocore event hooks.

Every DynamoDB client made after `install()` (boto3's and PynamoDB's alike come from
botocore.session.Session.create_client) gets three hooks: one adds ReturnConsumedCapacity=TOTAL
to every call that accepts it, one remembers the call's parameters, one records the answer.

moto answers ConsumedCapacity with placeholder figures, so capacity is also computed the way
DynamoDB bills it, from item sizes: reads in 4 KB units (half for eventually consistent),
writes in 1 KB units of the larger of the item before and after, plus one write per global
secondary index whose key the item carries (both indexes project only `kind`, so under 1 KB).
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import botocore.session

_CAPACITY_OPS = {
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
}
_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}


@dataclass
class Meter:
    calls: Counter[str] = field(default_factory=Counter)
    rru: float = 0.0
    wru: float = 0.0
    reported: float = 0.0  # what the SDK answered in ConsumedCapacity (moto's placeholder)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.rru = self.wru = self.reported = 0.0

    def snapshot(self) -> tuple[Counter[str], float, float]:
        with self.lock:
            return Counter(self.calls), self.rru, self.wru


METER = Meter()
_params = threading.local()
_gsi_keys: dict[str, list[str]] = {}
_unhooked: dict[str, Any] = {}  # a client without the hooks, to read items back and size updates


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values, as its capacity documentation counts."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, raw), *_ = value.items()
    if kind == "S":
        return len(str(raw).encode())
    if kind == "N":
        digits = len(str(raw).lstrip("-").replace(".", "").strip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind == "B":
        return len(raw) if isinstance(raw, bytes | bytearray) else len(str(raw))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in raw.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in raw)
    return 0


def _read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


def _write_units(size: int) -> float:
    return float(max(1, math.ceil(size / 1024)))


def _gsi_writes(table: str, item: dict[str, Any] | None) -> float:
    if not item:
        return 0.0
    return float(sum(1 for key in _gsi_keys.get(table, []) if key in item))


def _provide(params: dict[str, Any], model: Any, **_: Any) -> None:
    if model.name in _CAPACITY_OPS:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")
    _params.value = dict(params)


def _after(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    op = model.name
    params = getattr(_params, "value", {})
    rru = wru = 0.0
    consistent = bool(params.get("ConsistentRead"))
    failed = "Error" in parsed
    if op == "GetItem":
        rru = _read_units(item_size(parsed.get("Item") or {}), consistent)
    elif op == "Query":
        size = sum(item_size(i) for i in parsed.get("Items", []))
        rru = _read_units(size, consistent and "IndexName" not in params)
    elif op == "BatchGetItem":
        for items in parsed.get("Responses", {}).values():
            rru += sum(_read_units(item_size(i), False) for i in items)
    elif op in _WRITES:
        table = params.get("TableName", "")
        before = item_size(params.get("Item") or {})
        after_item = params.get("Item")
        if op == "UpdateItem" and not failed and "client" in _unhooked:
            found = _unhooked["client"].get_item(TableName=table, Key=params["Key"], ConsistentRead=True).get("Item")
            after_item = found
        size = max(before, item_size(after_item or {}))
        wru = _write_units(size) + (0.0 if failed or op == "DeleteItem" else _gsi_writes(table, after_item))
    elif op == "BatchWriteItem":
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                item = request.get("PutRequest", {}).get("Item")
                wru += _write_units(item_size(item or {})) + _gsi_writes(table, item)
    elif op == "TransactWriteItems":
        wru = 2.0 * len(params.get("TransactItems", []))
    reported = sum(
        float(c.get("CapacityUnits", 0)) for c in _as_list(parsed.get("ConsumedCapacity")) if isinstance(c, dict)
    )
    with METER.lock:
        METER.calls[op] += 1
        METER.rru += rru
        METER.wru += wru
        METER.reported += reported


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def install() -> None:
    """Hook every DynamoDB client made from now on (call inside mock_aws, before the stack)."""
    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(self, service_name, *args, **kwargs)
        if service_name == "dynamodb":
            client.meta.events.register("provide-client-params.dynamodb.*", _provide)
            client.meta.events.register("after-call.dynamodb.*", _after)
        return client

    _unhooked["client"] = original(botocore.session.get_session(), "dynamodb", region_name="us-east-1")
    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]


def learn_indexes() -> None:
    """Which attributes put an item in a global secondary index, per table."""
    sizer = _unhooked["client"]
    for name in sizer.list_tables()["TableNames"]:
        described = sizer.describe_table(TableName=name)["Table"]
        _gsi_keys[name] = [
            index["KeySchema"][0]["AttributeName"] for index in described.get("GlobalSecondaryIndexes", [])
        ]
