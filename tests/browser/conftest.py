"""Headless Chromium (the system's /usr/bin/chromium) driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("PASSBACK_CHROMIUM", "/usr/bin/chromium")
# Third-party cookies blocked, as Chrome and Safari do for an LMS's iframe: the gradebook must work
# without them (partitioned cookies are still kept, as in Chrome).
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    "--test-third-party-cookie-phaseout",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


def _page(chromium: Any, **options: Any) -> Iterator[Any]:
    settings: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "locale": "en-US", "timezone_id": "UTC"}
    context = chromium.new_context(**{**settings, **options})
    context.set_default_timeout(15_000)
    made = context.new_page()
    yield made
    context.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    yield from _page(chromium)


@pytest.fixture
def page_without_js(chromium: Any) -> Iterator[Any]:
    """The page must work with JavaScript off (it has none)."""
    yield from _page(chromium, java_script_enabled=False)


@pytest.fixture
def fresh_context(chromium: Any) -> Iterator[Any]:
    """Another browser (say, a colleague's, or support's): no cookies, no history."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", timezone_id="UTC")
    context.set_default_timeout(15_000)
    yield context
    context.close()
