"""The stdlib HTTP server that carries requests to the router, on a loopback address only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .wire import Request, Response, text_response

logger = logging.getLogger("passback.emulator")

MAX_BODY_BYTES = 1024 * 1024

Dispatch = Callable[[Request], Response]


class EmulatorHTTPServer(ThreadingHTTPServer):
    # Handler threads are daemons so a hung request (faults.hang) never blocks shutdown.
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 makes concurrent benchmark clients see SYN retries.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive, as real LMSes do; benchmarks then measure the tool, not TCP setup.
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one buffered write with Nagle off; otherwise keep-alive clients
    # wait ~40 ms per request on delayed ACKs.
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True
    server: EmulatorHTTPServer

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _handle(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._write(text_response(411, "chunked request bodies are not supported; send Content-Length"))
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length", "0") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self._write(text_response(413, "request body too large or Content-Length invalid"))
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )
        self._write(self.server.dispatch(request))

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (typically its timeout fired during an injected hang).
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s " + format, self.address_string(), *args)
