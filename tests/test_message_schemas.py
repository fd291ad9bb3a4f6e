"""docs/schemas holds exactly the JSON Schemas the message models produce (regenerate: `passback schemas`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from passback.messages import json_schemas, parse_product_message, schema_text

SCHEMAS = Path(__file__).resolve().parents[1] / "docs" / "schemas"


@pytest.mark.parametrize("name", sorted(json_schemas()))
def test_published_schema_equals_the_model(name: str) -> None:
    published = SCHEMAS / f"{name}.schema.json"
    assert published.is_file(), f"{published} is missing: run `passback schemas`"
    assert published.read_text(encoding="utf-8") == schema_text(json_schemas()[name]), "run `passback schemas`"


def test_no_stale_schema_files() -> None:
    assert {p.name.removesuffix(".schema.json") for p in SCHEMAS.glob("*.schema.json")} == set(json_schemas())


def test_the_documented_examples_parse() -> None:
    doc = (SCHEMAS.parent / "messages.md").read_text(encoding="utf-8")
    examples = [block.split("```", 1)[0] for block in doc.split("```json\n")[1:]]
    products = [json.loads(e) for e in examples if '"type": "score"' in e or '"type": "activity"' in e]
    assert len(products) >= 2
    for example in products:
        parse_product_message(json.dumps(example))
