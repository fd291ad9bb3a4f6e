"""The product API at DEBUG logs no product private key, client assertion or access token."""

from __future__ import annotations

from typing import Any

from test_no_secrets_in_logs import logs, private_key_material  # noqa: F401 - the fixture

from product_kit import register_product
from stack_harness import Stack, activity, score


def test_the_product_api_logs_no_private_key_assertion_or_access_token(
    stack: Stack,
    clock: Any,
    logs: list[tuple[str, str]],  # noqa: F811 - the imported fixture
) -> None:
    product = register_product(stack.base_url)
    assertion = product.assertion()
    answer = product.token_response(assertion)
    assert answer.status_code == 200
    token = answer.json()["access_token"]
    assert product.token_response(assertion).status_code == 401  # a replay, refused (and logged as such)
    posted = product.post(
        [activity("quiz-1", "Quiz 1"), score({"email": "ann@example.edu"}, "quiz-1", 1, 9.0, clock.now)], token=token
    )
    assert posted.status_code == 202
    assert product.post([{"type": "nope"}], token=token).status_code == 400
    stack.drain()
    assert product.status(posted.json()["accepted"][1], token=token).json()["status"] == "applied"
    rotated = product.rotate()
    from passback import container

    container.product_admin().retire(product.product_id, product.kid)
    assert product.post([activity("quiz-2", "Quiz 2")], token=token).status_code == 401
    secrets = private_key_material(product.private_pem) | private_key_material(rotated.private_pem)
    secrets |= {assertion, token, assertion.split(".")[2], token.split(".")[2]}
    assert logs, "nothing was logged: the capture is broken"
    leaks = [(name, secret[:12]) for name, line in logs for secret in secrets if secret in line]
    assert leaks == []
