"""The offline dependency audit (security/offline_audit.py) refuses known-vulnerable pins."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "security" / "offline_audit.py"
ADVISORIES = ROOT / "security" / "advisories.toml"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("offline_audit", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


offline_audit = _load()


def fake_lock(tmp_path: Path, packages: dict[str, str]) -> Path:
    entries = "".join(
        f'[[package]]\nname = "{name}"\nversion = "{version}"\nsource = {{ registry = "x" }}\n\n'
        for name, version in packages.items()
    )
    lock = tmp_path / "uv.lock"
    lock.write_text(f'version = 1\nrequires-python = ">=3.11"\n\n{entries}', encoding="utf-8")
    return lock


def run(lock: Path, advisories: Path = ADVISORIES) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--lock", str(lock), "--advisories", str(advisories)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_lock_pinning_a_known_vulnerable_requests_fails_the_audit_naming_the_advisory(tmp_path: Path) -> None:
    result = run(fake_lock(tmp_path, {"requests": "2.30.0", "idna": "3.10"}))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "VULNERABLE requests 2.30.0: GHSA-j8r2-6x86-q33q (CVE-2023-32681)" in result.stdout
    assert "idna" not in result.stdout.split("offline audit:")[0]  # 3.10 is past the fix


@pytest.mark.parametrize(
    ("package", "version", "advisory"),
    [
        ("urllib3", "2.0.5", "GHSA-v845-jxx5-vc9f"),
        ("urllib3", "1.26.16", "GHSA-v845-jxx5-vc9f"),
        ("PyJWT", "2.3.0", "GHSA-ffqj-6fqr-9h24"),
        ("pyjwt", "2.10.0", "GHSA-75c5-xw7c-p5pm"),
        ("Jinja2", "3.1.2", "GHSA-h5c8-rqwp-cp95"),
        ("cryptography", "41.0.0", "GHSA-3ww4-gg4f-jr7f"),
        ("Werkzeug", "3.0.0", "GHSA-hrfv-mqp8-q5rw"),
    ],
)
def test_each_seeded_advisory_catches_a_version_in_its_range(
    tmp_path: Path, package: str, version: str, advisory: str
) -> None:
    findings = offline_audit.audit(fake_lock(tmp_path, {package: version}), ADVISORIES)
    assert advisory in {f.advisory.id for f in findings}


@pytest.mark.parametrize(
    ("package", "version"),
    [("urllib3", "2.5.0"), ("pyjwt", "2.10.1"), ("jinja2", "3.1.6"), ("werkzeug", "3.1.3"), ("requests", "2.32.4")],
)
def test_the_first_fixed_version_passes(tmp_path: Path, package: str, version: str) -> None:
    assert offline_audit.audit(fake_lock(tmp_path, {package: version}), ADVISORIES) == []


def test_our_own_lock_has_no_known_vulnerable_version() -> None:
    result = run(ROOT / "uv.lock")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no known-vulnerable versions" in result.stdout


def test_an_empty_or_unreadable_advisory_file_never_passes_as_clean(tmp_path: Path) -> None:
    lock = fake_lock(tmp_path, {"requests": "2.30.0"})
    empty = tmp_path / "empty.toml"
    empty.write_text("# nothing\n", encoding="utf-8")
    assert run(lock, empty).returncode == 2
    assert run(lock, tmp_path / "missing.toml").returncode == 2
    broken = tmp_path / "broken.toml"
    broken.write_text('[[advisory]]\npackage = "requests"\nid = "X"\naffected = ["<<2"]\nsummary = "s"\n')
    assert run(lock, broken).returncode == 2
