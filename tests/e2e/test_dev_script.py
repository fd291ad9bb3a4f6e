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


def test_an_install_killed_midway_leaves_no_lock_that_blocks_the_next_call_even_without_flock(tmp_path: Path) -> None:
    """`./dev` on a machine with only python3 (no flock(1), as on macOS): the first call is killed
    with SIGKILL while it installs; the next call installs and runs (nothing left behind waits forever)."""
    import signal
    import sys
    import time

    checkout = tmp_path / "checkout"
    (checkout / ".tools" / "bin").mkdir(parents=True)
    shutil.copy2(ROOT / "dev", checkout / "dev")
    (checkout / "uv.lock").write_text("lock\n")
    (checkout / "pyproject.toml").write_text("[project]\n")
    uv = checkout / ".tools" / "bin" / "uv"  # stands in for `uv sync`: makes a .venv with a passback
    uv.write_text(
        "#!/bin/bash\n"
        "if [ -f slow ]; then rm slow; exec sleep 600; fi\n"
        "mkdir -p .venv/bin\n"
        "printf '#!/bin/bash\\necho passback ran\\n' > .venv/bin/passback\n"
        "chmod +x .venv/bin/passback\n"
        'ln -sf "$(command -v python3)" .venv/bin/python\n'
    )
    uv.chmod(0o755)
    tools = tmp_path / "bin"  # a PATH with python3 and the basics, and no flock
    tools.mkdir()
    for name in ("bash", "env", "cat", "mkdir", "rmdir", "rm", "sleep", "dirname", "chmod", "ln", "printf"):
        found = shutil.which(name)
        assert found is not None
        (tools / name).symlink_to(found)
    (tools / "python3").symlink_to(os.path.realpath(sys.executable))
    env = {"PATH": str(tools), "HOME": str(tmp_path)}

    (checkout / "slow").write_text("")
    killed = subprocess.Popen(["./dev", "passback"], cwd=checkout, env=env, start_new_session=True)
    while (checkout / "slow").exists():  # the install has started (and holds the lock)
        assert killed.poll() is None
        time.sleep(0.1)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()

    after = subprocess.run(
        ["./dev", "passback"], check=False, cwd=checkout, env=env, capture_output=True, text=True, timeout=120
    )
    assert after.returncode == 0, after.stderr
    assert after.stdout == "passback ran\n"
