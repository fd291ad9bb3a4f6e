"""The tool's JWKS keeps answering when its table read fails, so LMSs do not refuse our tokens for it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pynamodb.exceptions import QueryError

from passback import container
from passback.data.tables import TABLES


class _Refusal:
    status_code = 400
    headers: dict[str, str] = {}
    content = b""


@pytest.fixture
def throttled_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, bool]]:
    """DynamoDB refuses every Query while `on`: botocore's before-call hook answers for the table."""
    import botocore.session
    import pynamodb.connection.base as pynamodb_base

    state = {"on": False}

    def before_call(model: Any, **_: Any) -> Any:
        if not state["on"] or model.name != "Query":
            return None
        error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeds"}}
        return (_Refusal(), {**error, "ResponseMetadata": {"HTTPStatusCode": 400}})

    def session() -> botocore.session.Session:
        made = botocore.session.get_session()
        made.register("before-call.dynamodb", before_call)
        return made

    monkeypatch.setattr(pynamodb_base, "get_session", session)
    for spec in TABLES:
        for model in (spec.base, *spec.models):
            model._connection = None
    yield state
    for spec in TABLES:
        for model in (spec.base, *spec.models):
            model._connection = None


def test_a_throttled_key_read_serves_the_key_set_already_known(
    aws: dict[str, str], throttled_reads: dict[str, bool]
) -> None:
    keys = container.tool_keys()
    known = keys.jwks()
    assert known["keys"]
    keys._jwks = (0.0, known)  # the cached copy is past its refresh time
    throttled_reads["on"] = True
    assert keys.jwks() == known


def test_without_a_known_key_set_a_throttled_read_is_not_hidden(
    aws: dict[str, str], throttled_reads: dict[str, bool]
) -> None:
    throttled_reads["on"] = True
    with pytest.raises(QueryError, match="ProvisionedThroughputExceeded"):
        container.tool_keys().jwks()
