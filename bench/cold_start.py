"""Cold start: the import time of each function's handler module, in fresh processes.

    ./dev bench cold_start [--small]

Each figure is the median of N fresh `python` processes timing one import (after one warm-up
process, so the bytecode cache is written as it is in a built layer), with the settings a
deployed function has by default (the template's DetailedTracing=false sets
POWERTOOLS_TRACE_DISABLED=true; Lambda's own X-Ray segments stay on), and again with
DetailedTracing=true (powertools' Tracer, so the X-Ray SDK). Compared with `import boto3` alone,
measured the same way in the same run; and whether pylti1p3 or jwcrypto got imported.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, median, table

FUNCTIONS = ("launch", "score", "release", "retry", "api")
NO_LTI_LIBRARIES = ("score", "release", "retry", "api")

PROBE = """
import importlib.util, json, sys, time
name, path = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if path == "-":
    __import__(name)
else:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
elapsed = time.perf_counter() - started
print(json.dumps({"ms": elapsed * 1000, "modules": sorted(sys.modules)}))
"""


def probe(name: str, path: str, *, tracing: bool = False) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        POWERTOOLS_SERVICE_NAME="passback",
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(Path(path).parent) if path != "-" else ""]),
    )
    # What the template's DetailedTracing parameter sets (default false).
    env["POWERTOOLS_TRACE_DISABLED"] = "false" if tracing else "true"
    out = subprocess.run(
        [sys.executable, "-c", PROBE, name, path], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="3 processes per figure instead of 11")
    parser.add_argument("-n", type=int)
    args = parser.parse_args(argv)
    runs = args.n or (3 if args.small else 11)

    targets = [("boto3 alone", "boto3", "-")]
    targets += [(f"functions/{f}", f"app_{f}", str(ROOT / "functions" / f / "app.py")) for f in FUNCTIONS]
    for _, name, path in targets:
        probe(name, path)  # warm-up: writes the bytecode cache
    results: dict[str, Any] = {}
    for label, name, path in targets:
        samples = [probe(name, path) for _ in range(runs)]
        traced = [probe(name, path, tracing=True) for _ in range(runs)]
        modules = set(samples[-1]["modules"])
        results[label] = {
            "ms": median([s["ms"] for s in samples]),
            "ms_traced": median([s["ms"] for s in traced]),
            "pylti1p3": any(m == "pylti1p3" or m.startswith("pylti1p3.") for m in modules),
            "jwcrypto": any(m == "jwcrypto" or m.startswith("jwcrypto.") for m in modules),
            "aws_xray_sdk": any(m.startswith("aws_xray_sdk") for m in modules),
        }
    base = results["boto3 alone"]["ms"]
    rows = []
    for label, figures in results.items():
        ratio = figures["ms"] / base
        budget = "" if label == "boto3 alone" else ("ok" if ratio <= 2.0 else "MISS")
        function = label.removeprefix("functions/")
        if function in NO_LTI_LIBRARIES and (figures["pylti1p3"] or figures["jwcrypto"]):
            budget = "MISS (LTI libraries)"
        rows.append(
            [
                label,
                figures["ms"],
                ratio,
                figures["ms_traced"] / results["boto3 alone"]["ms_traced"],
                figures["pylti1p3"],
                figures["jwcrypto"],
                figures["aws_xray_sdk"],
                budget,
            ]
        )
        figures["ratio"] = ratio
    table(
        f"Cold start: import of each handler module, median of {runs} fresh processes",
        [
            "module",
            "ms (as deployed)",
            "x boto3 (budget 2.0)",
            "x boto3, DetailedTracing=true",
            "pylti1p3",
            "jwcrypto",
            "aws_xray_sdk",
            "budget",
        ],
        rows,
    )
    return results


if __name__ == "__main__":
    main()
