"""The template's production tooling: every alarm has a runbook entry, the dashboard is valid and
shows only metrics the code emits, logs expire, and the HTTP API is throttled."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from passback.local.template import Template, default_template_path

ROOT = Path(__file__).resolve().parents[1]


def resources(kind: str) -> dict[str, dict[str, Any]]:
    return Template(default_template_path()).of_type(kind)


def emitted_metrics() -> set[str]:
    found: set[str] = set()
    for source in (ROOT / "src" / "passback").rglob("*.py"):
        found.update(re.findall(r"\bcount\(\s*\"([A-Za-z]+)\"", source.read_text(encoding="utf-8")))
    return found


def test_every_alarm_in_the_template_is_named_in_the_runbook() -> None:
    runbook = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = runbook.split("## Alarms", 1)[1].split("\n## ", 1)[0]
    alarms = resources("AWS::CloudWatch::Alarm")
    assert len(alarms) >= 10
    missing = [name for name in alarms if f"`{name}`" not in section]
    assert missing == [], "alarms without a runbook entry in docs/operations.md (## Alarms)"


def test_backlog_age_and_latency_alarms_watch_the_right_metrics() -> None:
    alarms = resources("AWS::CloudWatch::Alarm")
    for name, queue in (("ScoreBacklogAgeAlarm", "ScoreQueue"), ("ReleaseBacklogAgeAlarm", "ReleaseQueue")):
        assert alarms[name]["MetricName"] == "ApproximateAgeOfOldestMessage"
        assert alarms[name]["Dimensions"][0]["Value"] == {"Fn::GetAtt": [queue, "QueueName"]}
    latency = alarms["ScoreToLmsLatencyAlarm"]
    assert latency["MetricName"] == "ScoreToLmsLatency"
    assert latency["ExtendedStatistic"] == "p95"


def test_the_dashboard_is_valid_json_and_shows_only_metrics_the_code_emits() -> None:
    (dashboard,) = resources("AWS::CloudWatch::Dashboard").values()
    body = dashboard["DashboardBody"]
    text = body["Fn::Sub"] if isinstance(body, dict) else body
    parsed = json.loads(re.sub(r"\$\{[^}]+\}", "1", text))
    metrics = [m for w in parsed["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]]
    ours = {m[1] for m in metrics if m[0] == "Passback"}
    assert {"ScoresApplied", "Sent", "FailedRetryable", "FailedPermanent", "GaveUp", "ScoreToLmsLatency"} <= ours
    assert ours <= emitted_metrics(), "the dashboard shows a metric nothing emits"
    sqs = {m[1] for m in metrics if m[0] == "AWS/SQS"}
    assert {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage", "NumberOfMessagesSent"} <= sqs
    alarmed = {a["MetricName"] for a in resources("AWS::CloudWatch::Alarm").values() if a["Namespace"] == "Passback"}
    assert alarmed <= emitted_metrics()


def test_every_function_has_a_log_group_with_the_retention_parameter() -> None:
    template = Template(default_template_path())
    functions = set(template.of_type("AWS::Serverless::Function"))
    groups = template.of_type("AWS::Logs::LogGroup").values()
    named = {g["LogGroupName"]["Fn::Sub"].rsplit("${", 1)[1].rstrip("}") for g in groups}
    assert named == functions
    assert all(g["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups)
    assert template.data["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_the_http_api_is_throttled() -> None:
    (api,) = resources("AWS::Serverless::HttpApi").values()
    settings = api["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiBurstLimit"}
