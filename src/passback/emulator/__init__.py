"""An LMS emulator (Canvas- or Moodle-like) on 127.0.0.1 for Passback's tests, benchmarks and demo.

It plays the platform side of LTI 1.3 (OIDC launch, AGS, NRPS) and LTI 1.1 (launch, Basic
Outcomes) over real HTTP, with fault switches and a control API for other processes.
"""

from .browser import LaunchError
from .client import EmulatorClient, EmulatorError
from .emulator import LmsEmulator
from .process import EmulatorProcess
from .stats import RequestRecord

__all__ = [
    "EmulatorClient",
    "EmulatorError",
    "EmulatorProcess",
    "LaunchError",
    "LmsEmulator",
    "RequestRecord",
]
