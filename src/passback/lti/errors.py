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


MAX_ID_BYTES = 255  # LTI 1.3 caps user, context, resource link and deployment ids at 255 characters
MAX_EMAIL_CHARS = 254  # RFC 5321
MAX_NAME_CHARS = 300


def fits(value: str | None, max_bytes: int = MAX_ID_BYTES) -> bool:
    """An id short enough to be part of a DynamoDB key (and sane): at most 255 UTF-8 bytes."""
    return value is None or len(value.encode("utf-8", "surrogatepass")) <= max_bytes


def usable_email(value: str | None) -> str | None:
    """The email, or None when the LMS sent something that cannot be one (it keys the merge index)."""
    if not value or len(value) > MAX_EMAIL_CHARS or "@" not in value:
        return None
    return value


def usable_name(value: str | None) -> str | None:
    return (value.strip()[:MAX_NAME_CHARS] or None) if value else None


def check_activity_id(activity_id: str | None) -> None:
    if not fits(activity_id):
        raise LaunchRefused(
            "activity id",
            f"the link's activity_id is longer than {MAX_ID_BYTES} bytes.",
            "The instructor or LMS administrator should set the link's activity_id to the product's activity id.",
        )
