"""`python -m passback.emulator --port 0`: run the LMS emulator until Ctrl-C or SIGTERM.

Prints one JSON line with the base URL and the platform endpoints, then serves; drive it with
`EmulatorClient(base_url)` from another process.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from .emulator import LmsEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m passback.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--mode", choices=["canvas", "moodle"], default="canvas")
    parser.add_argument("--issuer", default=None, help="issuer to use instead of the base URL")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="access token lifetime in seconds")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        emulator = LmsEmulator(
            args.host, args.port, issuer=args.issuer, token_lifetime=args.token_lifetime, mode=args.mode
        )
    except ValueError as exc:
        parser.error(str(exc))
    with emulator:
        sys.stdout.write(json.dumps(emulator.config()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
