"""Counting DynamoDB requests and capacity units from the SDK, with botocore event hooks.

Every DynamoDB client made after `install()` (boto3's and PynamoDB's alike come from
botocore.session.Session.create_client) gets three hooks: one adds ReturnConsumedCapacity=TOTAL
to every call that accepts it, one remembers the call's parameters, one records the answer.

moto answers ConsumedCapacity with placeholder figures, so capacity is also computed the way
DynamoDB bills it, from item sizes: reads in 4 KB units (half for eventually consistent),
writes in 1 KB units of the larger of the item before and after, plus, per global secondary
index, what DynamoDB charges there: nothing when the write leaves the item's index key attributes
and projected attributes (both indexes project keys + `kind`) as they were; one write when it adds
the item to the index or removes it; two (a delete and a put) when it changes the index key.
The item before the write is read just before the call with an unhooked client (not counted).
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
# per table, per index: (key attributes, projected non-key attributes)
_gsi_keys: dict[str, list[tuple[list[str], list[str] | None]]] = {}  # None: ProjectionType ALL
_key_schema: dict[str, list[str]] = {}
_unhooked: dict[str, Any] = {}  # a client without the hooks, to read items back and size updates


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values, as its capacity documentation counts."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def raw_item(table: str, key: dict[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB stores it (typed attribute values), read without being counted."""
    found = _unhooked["client"].get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return dict(found) if found else {}


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


def _gsi_writes(table: str, old: dict[str, Any] | None, new: dict[str, Any] | None) -> float:
    """Index writes DynamoDB bills for replacing `old` by `new` (either may be None)."""
    old, new = old or {}, new or {}
    units = 0.0
    for keys, projected in _gsi_keys.get(table, []):
        # An item is in an index only when it carries every key attribute of it.
        was, now = all(k in old for k in keys), all(k in new for k in keys)
        if not was and not now:
            continue
        if was != now:
            units += 1.0  # the item enters or leaves the index
        elif any(old.get(k) != new.get(k) for k in keys):
            units += 2.0  # a key change is a delete of the old index entry plus a put of the new
        elif (old != new) if projected is None else any(old.get(a) != new.get(a) for a in projected):
            units += 1.0  # a projected attribute changed in place
    return units


def _old_item(op: str, params: dict[str, Any]) -> dict[str, Any] | None:
    if op not in _WRITES or "client" not in _unhooked:
        return None
    table = params.get("TableName", "")
    key = params.get("Key")
    if key is None and "Item" in params:
        schema = _key_schema.get(table, [])
        key = {name: params["Item"][name] for name in schema if name in params["Item"]}
    if not key:
        return None
    found = _unhooked["client"].get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
    return dict(found) if found else None


def _provide(params: dict[str, Any], model: Any, **_: Any) -> None:
    if model.name in _CAPACITY_OPS:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")
    _params.value = dict(params)
    _params.old = _old_item(model.name, params)


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
        old = getattr(_params, "old", None)
        after_item = params.get("Item")
        if op == "UpdateItem" and not failed and "client" in _unhooked:
            found = _unhooked["client"].get_item(TableName=table, Key=params["Key"], ConsistentRead=True).get("Item")
            after_item = found
        if op == "DeleteItem":
            after_item = None
        size = max(item_size(old or {}), item_size(after_item or {}))
        # A failed conditional write still costs its write units, but changes no index.
        wru = _write_units(size) + (0.0 if failed else _gsi_writes(table, old, after_item))
    elif op == "BatchWriteItem":
        for table, requests in params.get("RequestItems", {}).items():
            for request in requests:
                item = request.get("PutRequest", {}).get("Item")
                wru += _write_units(item_size(item or {})) + _gsi_writes(table, None, item)
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
        _key_schema[name] = [k["AttributeName"] for k in described["KeySchema"]]
        _gsi_keys[name] = [
            (
                [k["AttributeName"] for k in index["KeySchema"]],
                None
                if index.get("Projection", {}).get("ProjectionType") == "ALL"
                else list(index.get("Projection", {}).get("NonKeyAttributes", [])),
            )
            for index in described.get("GlobalSecondaryIndexes", [])
        ]
