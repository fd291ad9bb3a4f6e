"""Running the real handlers in this process, as Lambda would: one module per function, a context."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any

from passback.local.template import FunctionDef

Handler = Callable[[dict[str, Any], Any], Any]


class LocalContext:
    """What a handler reads from Lambda's context object."""

    def __init__(self, function: FunctionDef, region: str) -> None:
        self.function_name = f"passback-local-{function.logical_id}"
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:000000000000:function:{self.function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = uuid.uuid4().hex
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """A function of the template, its handler imported from its own code directory."""

    _lock = threading.Lock()

    def __init__(self, function: FunctionDef, region: str) -> None:
        self.definition = function
        self.region = region
        self._handler: Handler | None = None
        self.invocations = 0
        self.errors = 0

    @property
    def handler(self) -> Handler:
        with self._lock:
            if self._handler is None:
                module_file, attribute = self.definition.handler.rsplit(".", 1)
                module = _import(
                    f"passback_fn_{self.definition.logical_id.lower()}", self.definition.code_dir / f"{module_file}.py"
                )
                self._handler = getattr(module, attribute)
            return self._handler

    def invoke(self, event: dict[str, Any]) -> Any:
        self.invocations += 1
        try:
            return self.handler(event, LocalContext(self.definition, self.region))
        except Exception:
            self.errors += 1
            raise


def _import(name: str, path: Any) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
