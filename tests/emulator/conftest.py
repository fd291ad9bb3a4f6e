"""Fixtures for the LMS emulator tests: emulators in both modes and a fake tool to launch."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from emulator_testkit import FakeTool, request_token, running_fake_tool, seed

from passback.emulator import LmsEmulator


@pytest.fixture(scope="session")
def tool_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def platform_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def fake_tool(tool_key: rsa.RSAPrivateKey) -> Iterator[FakeTool]:
    with running_fake_tool(tool_key) as tool:
        yield tool


def _emulator(mode: str, tool: FakeTool, key: rsa.RSAPrivateKey) -> Iterator[LmsEmulator]:
    with LmsEmulator(mode="moodle" if mode == "moodle" else "canvas", signing_key=key) as emu:
        seed(emu, tool)
        yield emu


@pytest.fixture
def emu(fake_tool: FakeTool, platform_key: rsa.RSAPrivateKey) -> Iterator[LmsEmulator]:
    yield from _emulator("canvas", fake_tool, platform_key)


@pytest.fixture
def moodle(fake_tool: FakeTool, platform_key: rsa.RSAPrivateKey) -> Iterator[LmsEmulator]:
    yield from _emulator("moodle", fake_tool, platform_key)


@pytest.fixture(params=["canvas", "moodle"])
def any_emu(
    request: pytest.FixtureRequest, fake_tool: FakeTool, platform_key: rsa.RSAPrivateKey
) -> Iterator[LmsEmulator]:
    yield from _emulator(request.param, fake_tool, platform_key)


@pytest.fixture
def get_token(fake_tool: FakeTool) -> Callable[..., str]:
    def get(emu: LmsEmulator, scopes: list[str] | None = None) -> str:
        return request_token(emu, fake_tool, scopes)

    return get
