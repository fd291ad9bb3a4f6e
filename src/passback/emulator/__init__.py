"""An LMS emulator (Canvas- or Moodle-like) on 127.0.0.1 for Passback's tests, benchmarks and demo.

It plays the platform side of LTI 1.3 (OIDC launch, AGS, NRPS) and LTI 1.1 (launch, Basic
Outcomes) over real HTTP, with fault switches and a control API for other processes::

    with LmsEmulator(mode="canvas") as emu:
        config = emu.register_tool("client-1", login_url=..., launch_url=..., jwks_url=...,
                                   deployment_ids=["d1"])
        emu.add_course("c1", "Course"); emu.add_user("u1", name="Ada L", email="a@x.edu")
        emu.enroll("c1", "u1", "student"); emu.add_link("c1", "l1", title="Quiz 1")
        response = emu.lti13_launch(requests.Session(), "client-1", "u1", "c1", "l1")
        ...
        emu.gradebook()

From another process: `EmulatorProcess()` starts `python -m passback.emulator --port 0`, and
`EmulatorClient(base_url)` has the same methods as `LmsEmulator`.
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
