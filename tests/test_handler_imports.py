"""The score, release and retry functions never import the LTI launch libraries (a cold start
would pay for pylti1p3 and jwcrypto on every new container, for nothing those functions use)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("pylti1p3", "jwcrypto"))))
"""


@pytest.mark.parametrize("function", ["score", "release", "retry", "api"])
def test_score_release_retry_and_api_handlers_import_neither_pylti1p3_nor_jwcrypto(function: str) -> None:
    path = ROOT / "functions" / function / "app.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(path.parent)])}
    env.update(AWS_DEFAULT_REGION="us-east-1", POWERTOOLS_TRACE_DISABLED="true")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_import_probe_does_see_pylti1p3_when_a_module_imports_it(tmp_path: Path) -> None:
    # Guards the test above against passing because the probe cannot see anything.
    module = tmp_path / "app.py"
    module.write_text("import pylti1p3.service_connector\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(module)], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    assert "pylti1p3.service_connector" in json.loads(done.stdout.strip().splitlines()[-1])


XRAY_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps(any(m.split(".")[0] == "aws_xray_sdk" for m in sys.modules)))
"""


@pytest.mark.parametrize(("disabled", "expected"), [("true", False), ("false", True)])
def test_handlers_import_the_xray_sdk_only_when_detailed_tracing_is_on(disabled: str, expected: bool) -> None:
    # The template's DetailedTracing=false sets POWERTOOLS_TRACE_DISABLED=true (the default).
    path = ROOT / "functions" / "release" / "app.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(path.parent)])}
    env.update(AWS_DEFAULT_REGION="us-east-1", POWERTOOLS_TRACE_DISABLED=disabled)
    done = subprocess.run(
        [sys.executable, "-c", XRAY_PROBE, str(path)], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) is expected


def test_counting_past_a_hundred_values_prints_nothing_when_metrics_are_disabled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # powertools flushes a metric to stdout on its 100th value by itself; disabled must mean silent.
    from passback.observability import count, metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    for _ in range(150):
        count("SentInTest")
    assert capsys.readouterr().out == ""
    metrics.clear_metrics()


SCORING_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("handler_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps("passback.services.scoring" in sys.modules))
"""


@pytest.mark.parametrize("function", ["release", "retry"])
def test_release_and_retry_handlers_do_not_import_the_score_pipeline(function: str) -> None:
    path = ROOT / "functions" / function / "app.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(path.parent)])}
    env.update(AWS_DEFAULT_REGION="us-east-1", POWERTOOLS_TRACE_DISABLED="true")
    done = subprocess.run(
        [sys.executable, "-c", SCORING_PROBE, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) is False
