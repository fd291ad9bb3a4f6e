"""`passback build`: the deployable artifacts, built here without Docker.

Each function's code is its own `functions/<name>/app.py` (the template's CodeUri). What they
import comes in two layers, with wheels fetched for the Lambda runtime's Python and CPU
(`--python-version`, `--arch`), not this machine's:

- core: the passback package minus the launch-only modules, and the locked dependencies;
- launch: the launch-only modules (LTI validation, pages) and pylti1p3 and jwcrypto.

Lambda unpacks layers into /opt in order, so the launch layer's `passback/lti` and
`passback/web` land inside the core layer's `passback`: each function ships only what it imports.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

LAUNCH_ONLY = ("lti", "web")
NEVER_SHIPPED = ("local", "emulator", "cli")
PLATFORMS = {"arm64": "aarch64-manylinux2014", "x86_64": "x86_64-manylinux2014"}


def register(verbs: Any) -> None:
    build = verbs.add_parser("build", help="build the Lambda layers for `sam deploy` (no Docker needed)")
    build.add_argument("--out", type=Path, default=Path("build"), help="output folder (the template reads build/)")
    build.add_argument("--python-version", default="3.13", help="the Lambda runtime's Python")
    build.add_argument("--arch", default="arm64", choices=sorted(PLATFORMS), help="the functions' architecture")
    build.set_defaults(run=run)


def project_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "uv.lock").is_file():
            return parent
    raise FileNotFoundError("run `passback build` from a checkout (pyproject.toml and uv.lock)")


def _uv(*args: str, cwd: Path) -> str:
    result = subprocess.run(  # noqa: S603 - our interpreter running uv, arguments are ours
        [sys.executable, "-m", "uv", *args], cwd=cwd, check=True, capture_output=True, text=True
    )
    return result.stdout


def locked_requirements(root: Path, *extras: str) -> list[str]:
    args = [
        "export",
        "--frozen",
        "--no-dev",
        "--no-emit-project",
        "--no-hashes",
        "--no-header",
        "--format",
        "requirements-txt",
    ]
    for extra in extras:
        args += ["--extra", extra]
    lines = [line.strip() for line in _uv(*args, cwd=root).splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "-e", "."))]


def install(requirements: list[str], target: Path, python_version: str, arch: str, root: Path) -> None:
    listing = target.parent / "requirements.txt"
    listing.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    _uv(
        "pip",
        "install",
        "--target",
        str(target),
        "--python-platform",
        PLATFORMS[arch],
        "--python-version",
        python_version,
        "--only-binary",
        ":all:",
        "--no-deps",
        "-r",
        str(listing),
        cwd=root,
    )


def copy_package(root: Path, target: Path, *, include: tuple[str, ...] | None, exclude: tuple[str, ...]) -> None:
    source = root / "src" / "passback"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    if include is None:
        shutil.copytree(source, target / "passback", ignore=ignore, dirs_exist_ok=True)
        for name in exclude:
            shutil.rmtree(target / "passback" / name, ignore_errors=True)
        return
    for name in include:
        shutil.copytree(source / name, target / "passback" / name, ignore=ignore, dirs_exist_ok=True)


def build(out: Path, python_version: str, arch: str) -> dict[str, Path]:
    root = project_root()
    out = out if out.is_absolute() else root / out
    core, launch = out / "layers" / "core" / "python", out / "layers" / "launch" / "python"
    for folder in (core.parent, launch.parent):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    core_reqs = locked_requirements(root)
    launch_reqs = [r for r in locked_requirements(root, "launch") if r not in set(core_reqs)]
    install(core_reqs, core, python_version, arch, root)
    install(launch_reqs, launch, python_version, arch, root)
    copy_package(root, core, include=None, exclude=LAUNCH_ONLY + NEVER_SHIPPED)
    copy_package(root, launch, include=LAUNCH_ONLY, exclude=())
    return {"core": core.parent, "launch": launch.parent}


def run(args: argparse.Namespace) -> int:
    layers = build(args.out, args.python_version, args.arch)
    for name, folder in layers.items():
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        print(f"layer {name:<7} {folder}  {size / 1e6:.1f} MB unzipped")
    print("functions: functions/<name>/ (app.py only). Next: sam deploy --guided --template-file infra/template.yaml")
    return 0
