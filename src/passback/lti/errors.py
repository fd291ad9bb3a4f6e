"""A refused launch: which check failed, the HTTP status, and what the LMS admin should do."""

from __future__ import annotations


class LaunchRefused(Exception):
    def __init__(self, check: str, detail: str, advice: str, *, status: int = 400) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check
        self.detail = detail
        self.advice = advice
        self.status = status


ADMIN_REGISTRATION = (
    "The LMS administrator should check that this tool is registered in Passback with the LMS's issuer and client "
    "id (`passback platforms add`, see docs/lms-setup.md), and that the LMS uses the tool's login and launch URLs."
)
RELAUNCH = "Go back to the LMS and open the link again. If it keeps happening, tell the LMS administrator."
