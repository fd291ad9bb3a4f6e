"""The SAM template is valid, and its tables are exactly what the PynamoDB models need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from passback.data.tables import TABLES, table_definition
from passback.local.template import Template, default_template_path


def _template_table(props: dict[str, Any]) -> dict[str, Any]:
    gsis = sorted(
        (
            {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
            for g in props.get("GlobalSecondaryIndexes", [])
        ),
        key=lambda g: g["IndexName"],
    )
    ttl = props.get("TimeToLiveSpecification")
    return {
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "GlobalSecondaryIndexes": gsis,
        "TimeToLiveAttribute": ttl["AttributeName"] if ttl and ttl.get("Enabled") else None,
    }


@pytest.mark.parametrize("spec", TABLES, ids=lambda s: s.logical_id)
def test_template_tables_match_the_pynamodb_models(spec: Any) -> None:
    tables = Template(default_template_path()).tables()
    assert spec.logical_id in tables, f"{spec.logical_id} is missing from the template"
    assert _template_table(tables[spec.logical_id]) == table_definition(spec)


def test_every_template_table_is_backed_by_models() -> None:
    assert set(Template(default_template_path()).tables()) == {spec.logical_id for spec in TABLES}


def test_tables_have_point_in_time_recovery_and_on_demand_billing() -> None:
    for name, props in Template(default_template_path()).tables().items():
        assert props["BillingMode"] == "PAY_PER_REQUEST", name
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, name


def test_queues_have_dead_letter_queues_with_redrive() -> None:
    queues = {q.logical_id: q for q in Template(default_template_path()).queues()}
    for name in ("ScoreQueue", "ReleaseQueue"):
        assert queues[name].dead_letter in queues
        assert queues[name].max_receive_count == 5


def test_the_template_names_a_current_python_runtime() -> None:
    runtime = Template(default_template_path()).data["Globals"]["Function"]["Runtime"]
    major, minor = runtime.removeprefix("python").split(".")
    assert (int(major), int(minor)) >= (3, 12)


def test_cfn_lint_reports_no_errors() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(default_template_path())], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
