"""Reading infra/template.yaml: the tables, queues, routes, queue mappings and schedule it declares.

The local stack creates its resources from these definitions, so what runs locally is what the
template deploys. Only the intrinsic functions the template uses are resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise ValueError(f"unsupported node for !{tag_suffix}")
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a template")
    return data


def default_template_path() -> Path:
    """infra/template.yaml of the checkout this package runs from."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "infra" / "template.yaml"
        if candidate.is_file():
            return candidate
    return Path.cwd() / "infra" / "template.yaml"


@dataclass(frozen=True)
class QueueDef:
    logical_id: str
    visibility_timeout: int
    retention: int
    dead_letter: str | None
    max_receive_count: int | None


@dataclass(frozen=True)
class SqsSource:
    queue: str
    batch_size: int
    partial_failures: bool
    max_concurrency: int


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    # A JWT authorizer on the route (issue 21): its audiences and the scopes the route asks for.
    jwt_audiences: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    def matches(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method):
            return None
        pattern = (
            "^"
            + re.sub(
                r"\\\{(\w+)\\\+\\\}", r"(?P<\1>.+)", re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path))
            )
            + "$"
        )
        found = re.match(pattern, path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class FunctionDef:
    logical_id: str
    code_dir: Path
    handler: str
    timeout: int
    routes: tuple[Route, ...] = ()
    sqs: tuple[SqsSource, ...] = ()
    schedules: tuple[str, ...] = ()
    environment: dict[str, Any] = field(default_factory=dict)


class Template:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = load(path)
        self.resources: dict[str, Any] = self.data.get("Resources", {})

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r.get("Properties", {}) for name, r in self.resources.items() if r.get("Type") == kind}

    def tables(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::DynamoDB::Table")

    def queues(self) -> list[QueueDef]:
        found = []
        for name, props in self.of_type("AWS::SQS::Queue").items():
            redrive = props.get("RedrivePolicy") or {}
            target = redrive.get("deadLetterTargetArn")
            found.append(
                QueueDef(
                    logical_id=name,
                    visibility_timeout=int(props.get("VisibilityTimeout", 30)),
                    retention=int(props.get("MessageRetentionPeriod", 345600)),
                    dead_letter=target["Fn::GetAtt"][0] if isinstance(target, dict) else None,
                    max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
                )
            )
        # Dead-letter queues first: a redrive policy names an existing queue.
        return sorted(found, key=lambda q: q.dead_letter is not None)

    def jwt_audiences(self) -> dict[str, tuple[str, ...]]:
        """The HTTP API's JWT authorizers by name, with their audiences (the issuer is the base URL)."""
        found: dict[str, tuple[str, ...]] = {}
        for props in self.of_type("AWS::Serverless::HttpApi").values():
            for name, spec in ((props.get("Auth") or {}).get("Authorizers") or {}).items():
                config = spec.get("JwtConfiguration") if isinstance(spec, dict) else None
                if config:
                    found[str(name)] = tuple(str(a) for a in config.get("audience") or ())
        return found

    def secrets(self) -> dict[str, dict[str, Any]]:
        return self.of_type("AWS::SecretsManager::Secret")

    def functions(self) -> list[FunctionDef]:
        globals_fn = self.data.get("Globals", {}).get("Function", {})
        found = []
        for name, props in self.of_type("AWS::Serverless::Function").items():
            routes, sqs, schedules = [], [], []
            for event in (props.get("Events") or {}).values():
                kind, eprops = event.get("Type"), event.get("Properties", {})
                if kind == "HttpApi":
                    auth = eprops.get("Auth") or {}
                    audiences = self.jwt_audiences().get(str(auth.get("Authorizer", "")), ())
                    routes.append(
                        Route(
                            method=str(eprops["Method"]).upper(),
                            path=str(eprops["Path"]),
                            jwt_audiences=audiences,
                            scopes=tuple(str(s) for s in auth.get("AuthorizationScopes") or ()),
                        )
                    )
                elif kind == "SQS":
                    sqs.append(
                        SqsSource(
                            queue=eprops["Queue"]["Fn::GetAtt"][0],
                            batch_size=int(eprops.get("BatchSize", 10)),
                            partial_failures="ReportBatchItemFailures" in (eprops.get("FunctionResponseTypes") or []),
                            max_concurrency=int((eprops.get("ScalingConfig") or {}).get("MaximumConcurrency", 2)),
                        )
                    )
                elif kind in ("Schedule", "ScheduleV2"):
                    schedules.append(str(eprops["Schedule"]))
            found.append(
                FunctionDef(
                    logical_id=name,
                    code_dir=(self.path.parent / str(props["CodeUri"])).resolve(),
                    handler=str(props.get("Handler", "app.handler")),
                    timeout=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
                    routes=tuple(routes),
                    sqs=tuple(sqs),
                    schedules=tuple(schedules),
                    environment=dict((globals_fn.get("Environment") or {}).get("Variables", {})),
                )
            )
        return found


def condition_refs(data: dict[str, Any], refs: dict[str, str]) -> dict[str, str]:
    """The template's Conditions evaluated on `refs` (parameter defaults), as `Condition:<name>` refs."""
    conditions = data.get("Conditions") or {}

    def truth(node: Any) -> Any:
        if isinstance(node, dict):
            if "Condition" in node:
                return truth(conditions[node["Condition"]])
            if "Fn::Equals" in node:
                left, right = (str(resolve(v, refs)) for v in node["Fn::Equals"])
                return left == right
            if "Fn::Not" in node:
                return not truth(node["Fn::Not"][0])
            if "Fn::And" in node:
                return all(truth(v) for v in node["Fn::And"])
            if "Fn::Or" in node:
                return any(truth(v) for v in node["Fn::Or"])
        return node

    return {f"Condition:{name}": "true" if truth(node) else "false" for name, node in conditions.items()}


def resolve(value: Any, refs: dict[str, str]) -> Any:
    """Resolve Ref, Sub (with ${Name} and ${AWS::StackName}) and If against known names."""
    if isinstance(value, dict):
        if "Ref" in value:
            return refs.get(str(value["Ref"]), "")
        if "Fn::If" in value:
            name, when_true, when_false = value["Fn::If"]
            return resolve(when_true if refs.get(f"Condition:{name}") == "true" else when_false, refs)
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return re.sub(r"\$\{([\w:.]+)\}", lambda m: refs.get(m.group(1), m.group(0)), str(text))
        return {k: resolve(v, refs) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    return value
