"""One line and an exit status for each kind of failure a CLI verb can meet (no traceback).

2: the operator typed something wrong (CliError, a message that does not validate).
1: the environment failed (no region or credentials, an endpoint that does not answer, AWS refused).
"""

from __future__ import annotations

from typing import Any

DEBUG_HINT = "rerun with --debug for the traceback"


def describe(error: BaseException) -> tuple[str, int]:
    from passback.cli.errors import CliError

    if isinstance(error, CliError):
        return str(error), 2
    described = _pydantic(error) or _botocore(error)
    if described is not None:
        return described
    cause = getattr(error, "cause", None) or error.__cause__  # pynamodb wraps botocore's errors
    if isinstance(cause, Exception) and not isinstance(error, ValueError | OSError):
        line, status = describe(cause)
        if not line.startswith("unexpected error"):
            return line, status
    if isinstance(error, FileNotFoundError):
        return f"no such file: {error.filename}", 2
    if isinstance(error, PermissionError):
        return f"not allowed to read or write {error.filename}", 1
    if isinstance(error, TimeoutError):
        return f"timed out: {error}", 1
    if isinstance(error, ValueError):
        return f"{error}", 2
    return f"unexpected error ({type(error).__name__}: {str(error)[:300]}); {DEBUG_HINT}", 1


def _pydantic(error: BaseException) -> tuple[str, int] | None:
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        from passback.messages import describe_invalid

        return f"refused: {describe_invalid(error)}", 2
    return None


def _botocore(error: BaseException) -> tuple[str, int] | None:
    from botocore import exceptions as boto

    if isinstance(error, boto.NoRegionError):
        return "no AWS region: pass --region (e.g. --region us-east-1), or set AWS_REGION or a profile's region", 1
    if isinstance(error, boto.ProfileNotFound):
        return f"{error}: pass an existing --profile (see ~/.aws/config), or none", 1
    if isinstance(error, boto.NoCredentialsError | boto.PartialCredentialsError):
        return "no AWS credentials: pass --profile NAME, or set AWS_PROFILE or AWS_ACCESS_KEY_ID/SECRET", 1
    if isinstance(error, boto.EndpointConnectionError | boto.ConnectTimeoutError | boto.ReadTimeoutError):
        endpoint = getattr(error, "kwargs", {}).get("endpoint_url", "the endpoint")
        return (
            f"cannot reach {endpoint}: is the stack running (`passback serve`), or are --region and the network right?",
            1,
        )
    if isinstance(error, boto.ClientError):
        info: Any = error.response.get("Error", {})
        code, message = info.get("Code", "error"), info.get("Message", "")
        return f"AWS refused ({code}): {message}", 1
    if isinstance(error, boto.BotoCoreError):
        return f"AWS client error: {error}", 1
    return None
