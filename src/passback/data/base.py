"""What every table shares: generic `pk`/`sk` keys and a discriminator naming each item's kind.

Each table holds several kinds of item (single-table design within a table), so one Query
over a partition returns typed models: a course's whole gradebook is one paginated Query.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import Attribute, UnicodeAttribute
from pynamodb.expressions.update import Action
from pynamodb.models import Model


class TableItem(Model):
    """Abstract base. Each table's base adds its own `kind` discriminator: a shared one would
    tie the tables' schemas together."""

    class Meta:
        abstract = True

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)

    def __init__(self, **kwargs: Any) -> None:
        # PynamoDB instantiates items it reads with _user_instantiated=False and sets keys itself.
        if kwargs.get("_user_instantiated", True) and ("pk" not in kwargs or "sk" not in kwargs):
            pk, sk = self.keys_for(**kwargs)
            kwargs.setdefault("pk", pk)
            kwargs.setdefault("sk", sk)
        super().__init__(**kwargs)

    @classmethod
    def keys_for(cls, **kwargs: Any) -> tuple[str, str]:
        raise NotImplementedError(f"{cls.__name__} must be built with pk and sk")


def due_stamp(moment: datetime) -> str:
    """A fixed-width UTC time for the `due` index's sort key, so string order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def set_or_remove(attribute: Attribute[Any], value: Any) -> Action:
    """An update action that sets a nullable attribute, or removes it for None."""
    return attribute.remove() if value is None else attribute.set(value)
