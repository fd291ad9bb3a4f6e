"""Check the locked dependency set against security/advisories.toml, with no network.

    python security/offline_audit.py [--lock uv.lock] [--advisories security/advisories.toml]

Exits 1 and names each match (package, locked version, advisory id, summary) when a locked
version falls in an advisory's affected range; exits 2 when either file cannot be read; 0 otherwise.
CI has no route to a vulnerability service, so this curated list is what refuses known-vulnerable pins.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Advisory:
    package: str
    id: str
    aliases: tuple[str, ...]
    affected: tuple[SpecifierSet, ...]
    summary: str


@dataclass(frozen=True)
class Finding:
    package: str
    version: str
    advisory: Advisory

    def __str__(self) -> str:
        aliases = f" ({', '.join(self.advisory.aliases)})" if self.advisory.aliases else ""
        return f"{self.package} {self.version}: {self.advisory.id}{aliases}: {self.advisory.summary}"


class AuditInputError(Exception):
    """The lock or the advisory file is missing or malformed: the audit cannot say "clean"."""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def load_advisories(path: Path) -> list[Advisory]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AuditInputError(f"cannot read advisories {path}: {error}") from error
    advisories = []
    for number, entry in enumerate(data.get("advisory", []), start=1):
        try:
            advisories.append(
                Advisory(
                    package=normalize(entry["package"]),
                    id=entry["id"],
                    aliases=tuple(entry.get("aliases", ())),
                    affected=tuple(SpecifierSet(spec) for spec in entry["affected"]),
                    summary=entry["summary"],
                )
            )
        except (KeyError, TypeError, InvalidSpecifier) as error:
            raise AuditInputError(f"advisory #{number} in {path} is malformed: {error!r}") from error
    if not advisories:
        # An empty list would make every lock look clean.
        raise AuditInputError(f"{path} holds no advisories")
    return advisories


def locked_versions(path: Path) -> list[tuple[str, str]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AuditInputError(f"cannot read lock {path}: {error}") from error
    packages = data.get("package")
    if not isinstance(packages, list) or not packages:
        raise AuditInputError(f"{path} lists no packages")
    return [(normalize(p["name"]), str(p["version"])) for p in packages if "name" in p and "version" in p]


def audit(lock: Path, advisories_path: Path) -> list[Finding]:
    advisories = load_advisories(advisories_path)
    findings = []
    for package, version in locked_versions(lock):
        try:
            parsed = Version(version)
        except InvalidVersion:
            continue  # not a PEP 440 release (a local path or VCS pin): no advisory can name it
        for advisory in advisories:
            if advisory.package == package and any(
                spec.contains(parsed, prereleases=True) for spec in advisory.affected
            ):
                findings.append(Finding(package, version, advisory))
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--lock", type=Path, default=ROOT / "uv.lock")
    parser.add_argument("--advisories", type=Path, default=ROOT / "security" / "advisories.toml")
    args = parser.parse_args(argv)
    try:
        findings = audit(args.lock, args.advisories)
        checked = len(locked_versions(args.lock))
        known = len(load_advisories(args.advisories))
    except AuditInputError as error:
        print(f"offline audit: {error}", file=sys.stderr)
        return 2
    for finding in findings:
        print(f"VULNERABLE {finding}")
    verdict = f"{len(findings)} known-vulnerable" if findings else "no known-vulnerable"
    print(f"offline audit: {checked} locked packages against {known} advisories: {verdict} versions")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
