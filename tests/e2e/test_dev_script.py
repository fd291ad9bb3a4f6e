"""`./dev` installs the environment only when what it is made from changed, and two calls started
together both work (one installs, the other waits for it): on a copy of the checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The tracked files, without a .venv; uv itself (.tools) is shared with this checkout."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    copy = tmp_path / "checkout"
    for name in listed.splitlines():
        source = ROOT / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (copy / ".tools").symlink_to(ROOT / ".tools")
    return copy


def dev(checkout: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT", "PYTHONPATH"))}
    return subprocess.Popen(
        ["./dev", *args], cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_two_dev_commands_started_together_both_work_and_a_third_installs_nothing(checkout: Path) -> None:
    first, second = dev(checkout, "passback", "--help"), dev(checkout, "passback", "--help")
    for process in (first, second):
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-2000:]
        assert "usage: passback" in out
    stamp = checkout / ".venv" / ".dev-stamp"
    installed_at = stamp.stat().st_mtime_ns

    third = dev(checkout, "passback", "activities", "--help")
    out, err = third.communicate(timeout=120)
    assert third.returncode == 0, err
    assert stamp.stat().st_mtime_ns == installed_at, "nothing changed, yet ./dev installed again"

    # A change to what the environment is made from installs again (once).
    with (checkout / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# changed\n")
    fourth = dev(checkout, "passback", "--help")
    _, err = fourth.communicate(timeout=600)
    assert fourth.returncode == 0, err
    assert stamp.stat().st_mtime_ns != installed_at
