"""The local stack's memory across restarts: a journal of the AWS requests moto accepted, replayed
into a fresh moto when `passback serve` starts again.

Why not moto's own recorder (`MOTO_ENABLE_RECORDING`): it writes every request *before* moto
handles it (reads, long polls, conditional writes that then fail), and replays SQS receives and
deletes whose receipt handles are random, so processed messages come back and their receive
counts climb into the dead-letter queue. This journal keeps the recorder's idea (requests as
JSON lines, replayed through moto's own request handling) and fixes those two points:

- a request is journaled *after* moto accepted it (2xx) and *before* the client hears so, with
  mutations applied one at a time, so the journal's order is the order they took effect, and
  everything a client was told was accepted is in it (a SIGKILL loses nothing accepted);
- SQS: a receive records which message each receipt handle names; a delete then marks that
  message as gone, and a replay leaves gone messages out. A message that was in flight at the
  crash comes back visible (as it would once its visibility timeout ran out in AWS).

Each start replays the journal into moto, then rewrites it with only what the replay kept (the
messages' new ids included), so it stays as small as the state it describes.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "TransactGet", "Head")
# Transient SQS state: where a message is in flight. Not part of what must survive a restart.
TRANSIENT = {"ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}
RECEIVES = {"ReceiveMessage"}
DELETES = {"DeleteMessage", "DeleteMessageBatch"}
SENDS = {"SendMessage", "SendMessageBatch"}


def action_of(environ: dict[str, Any], body: bytes) -> str | None:
    """The API action of a request: the JSON protocols' X-Amz-Target, the query protocol's Action."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    if body and "x-www-form-urlencoded" in str(environ.get("CONTENT_TYPE", "")):
        found = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if found:
            return found[0]
    query = parse_qs(str(environ.get("QUERY_STRING", ""))).get("Action")
    return query[0] if query else None


def journaled(action: str | None, method: str, path: str) -> bool:
    if path.startswith("/moto-api"):
        return False
    if action is None:
        return method in ("PUT", "POST", "DELETE", "PATCH")
    return action not in TRANSIENT and not action.startswith(READ_PREFIXES)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")

    def append(self, entry: dict[str, Any]) -> None:
        # One write per line; the OS has it once write() returns (a killed process loses nothing).
        self._file.write(json.dumps(entry, separators=(",", ":")).encode("utf-8") + b"\n")
        self._file.flush()

    def close(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def read_entries(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with path.open("rb") as lines:
        for line in lines:
            try:
                yield json.loads(line)
            except ValueError:
                continue  # the last line of a journal killed mid-write


def _request_entry(environ: dict[str, Any], body: bytes, action: str | None) -> dict[str, Any]:
    headers = {
        key[5:].replace("_", "-").title(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_LENGTH",)
    }
    if environ.get("CONTENT_TYPE"):
        headers["Content-Type"] = str(environ["CONTENT_TYPE"])
    return {
        "action": action,
        "method": environ.get("REQUEST_METHOD", "POST"),
        "path": environ.get("PATH_INFO", "/"),
        "query": environ.get("QUERY_STRING", ""),
        "headers": headers,
        "body": base64.b64encode(body).decode("ascii"),
    }


def _sqs_response(action: str | None, status: int, payload: bytes) -> dict[str, Any] | None:
    """What a replay needs from an SQS answer: message ids (sends) and receipt handles (receives)."""
    if action not in SENDS | RECEIVES or not 200 <= status < 300:
        return None
    try:
        parsed = json.loads(payload)
    except ValueError:
        return None  # the query protocol (XML): its messages are kept (at least once)
    if action == "SendMessage":
        return {"MessageId": parsed.get("MessageId")}
    if action == "SendMessageBatch":
        return {"Successful": [{"Id": s["Id"], "MessageId": s["MessageId"]} for s in parsed.get("Successful", [])]}
    return {
        "Messages": [
            {"MessageId": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in parsed.get("Messages", [])
        ]
    }


class JournalingApp:
    """WSGI middleware around moto's app: mutations run one at a time and are journaled on success."""

    def __init__(self, app: Wsgi, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action = action_of(environ, body)
        if not journaled(action, str(environ.get("REQUEST_METHOD")), str(environ.get("PATH_INFO", ""))):
            return self.app(environ, start_response)
        if action in RECEIVES:
            # Receives change nothing a restart keeps; only which message a receipt names.
            status, headers, payload = _call(self.app, environ)
            response = _sqs_response(action, status, payload)
            if response and response.get("Messages"):
                entry = _request_entry(environ, body, action)
                entry["response"] = response
                with self.journal.lock:
                    self.journal.append(entry)
            start_response(_status_line(status), headers)
            return [payload]
        with self.journal.lock:
            status, headers, payload = _call(self.app, environ)
            if 200 <= status < 300:
                entry = _request_entry(environ, body, action)
                response = _sqs_response(action, status, payload)
                if response is not None:
                    entry["response"] = response
                self.journal.append(entry)
        start_response(_status_line(status), headers)
        return [payload]


def _call(app: Wsgi, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run moto's app to the end, so the answer is known (and journaled) before it is sent."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> Callable[[bytes], None]:
        captured["status"], captured["headers"] = status, headers
        return lambda _data: None

    result = app(environ, start_response)
    try:
        payload = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return int(str(captured["status"]).split(" ", 1)[0]), list(captured["headers"]), payload


def _status_line(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


# ---------------------------------------------------------------------------------------- replay


def _gone_messages(entries: list[dict[str, Any]]) -> set[str]:
    """The ids of messages a client deleted (processed), from receipt handles seen in receives."""
    named: dict[str, str] = {}
    gone: set[str] = set()
    for entry in entries:
        action = entry.get("action")
        if action in RECEIVES:
            for message in (entry.get("response") or {}).get("Messages", []):
                named[message["ReceiptHandle"]] = message["MessageId"]
        elif action in DELETES:
            request = _json_body(entry)
            handles = (
                [request.get("ReceiptHandle")]
                if action == "DeleteMessage"
                else [e.get("ReceiptHandle") for e in request.get("Entries", [])]
            )
            gone.update(named[h] for h in handles if h in named)
    return gone


def _json_body(entry: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = json.loads(base64.b64decode(entry.get("body", "")) or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _without_gone(entry: dict[str, Any], gone: set[str]) -> dict[str, Any] | None:
    """A send, minus the messages since deleted; None when nothing of it is left."""
    action, response = entry.get("action"), entry.get("response") or {}
    if action == "SendMessage":
        return None if response.get("MessageId") in gone else entry
    if action == "SendMessageBatch":
        dropped = {s["Id"] for s in response.get("Successful", []) if s["MessageId"] in gone}
        if not dropped:
            return entry
        request = _json_body(entry)
        request["Entries"] = [e for e in request.get("Entries", []) if e.get("Id") not in dropped]
        if not request["Entries"]:
            return None
        return {**entry, "body": base64.b64encode(json.dumps(request).encode("utf-8")).decode("ascii")}
    return entry


def replay(app: Wsgi, path: Path) -> int:
    """Replay the journal at `path` into `app` (a fresh moto) and rewrite it with what was kept.
    Returns how many requests were replayed."""
    from werkzeug.test import EnvironBuilder

    entries = list(read_entries(path))
    if not entries:
        return 0
    gone = _gone_messages(entries)
    kept: list[dict[str, Any]] = []
    failed = 0
    for entry in entries:
        if entry.get("action") in RECEIVES | DELETES:
            continue
        trimmed = _without_gone(entry, gone)
        if trimmed is None:
            continue
        builder = EnvironBuilder(
            method=trimmed["method"],
            path=trimmed["path"],
            query_string=trimmed["query"],
            headers=trimmed["headers"],
            data=base64.b64decode(trimmed["body"]),
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        status, _, payload = _call(app, environ)
        if not 200 <= status < 300:
            failed += 1
            continue
        response = _sqs_response(trimmed.get("action"), status, payload)
        kept.append({**trimmed, "response": response} if response is not None else trimmed)
    fresh = path.with_suffix(".new")
    with fresh.open("wb") as out:
        for entry in kept:
            out.write(json.dumps(entry, separators=(",", ":")).encode("utf-8") + b"\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(fresh, path)
    if failed:
        print(f"journal: {failed} of {len(entries)} requests did not replay", file=sys.stderr)
    return len(kept)
