"""The local stack's AWS: moto's server, with its state kept in a journal (local/journal.py).

`python -m passback.local.moto_server --host H --port P [--journal FILE [--fresh]]`: replays the journal
into a fresh moto, then serves on H:P, journaling every accepted mutation. Without --journal it
is plain moto in memory. Exit status 3: another server holds the journal.
"""

from __future__ import annotations

import argparse
import fcntl
import signal
import sys
from pathlib import Path
from typing import Any

IN_USE = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="passback.local.moto_server")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, required=True, help="port to bind")
    parser.add_argument("--journal", type=Path, default=None, help="the journal file (none: memory only)")
    parser.add_argument("--fresh", action="store_true", help="empty the journal first (once it is ours)")
    args = parser.parse_args(argv)

    import logging

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # not a line per request in moto.log
    app: Any = DomainDispatcherApplication(create_backend_app)
    lock = None
    if args.journal is not None:
        from passback.local.journal import Journal, JournalingApp, replay

        args.journal.parent.mkdir(parents=True, exist_ok=True)
        lock = (args.journal.parent / (args.journal.name + ".lock")).open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when this process ends, however
        except OSError:
            print(f"{args.journal} is in use by another local stack", file=sys.stderr)
            return IN_USE
        if args.fresh:
            # Only under the lock: emptying a journal another server still appends to loses its data.
            args.journal.unlink(missing_ok=True)
        replayed = replay(app, args.journal)
        print(f"replayed {replayed} requests from {args.journal}", file=sys.stderr, flush=True)
        journal = Journal(args.journal)
        app = JournalingApp(app, journal)

    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)

    def stop(*_: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever()
    finally:
        if args.journal is not None:
            journal.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
