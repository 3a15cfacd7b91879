"""Fixtures of the dashboard's tests: a real gateway with the demo services, a real Chromium.

Chromium is Debian's (``make test`` installs it when ``/usr/bin/chromium`` is missing), driven
by Playwright with no browser download. Screenshots go to ``tests/artefacts/ui/`` (git-ignored).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tests.support import DIGITS_YAML, IMAGENET_YAML, ROOT, ServerProcess, gateway_process

ADMIN = "ui-admin-" + "7" * 40
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTEFACTS = ROOT / "tests" / "artefacts" / "ui"


@pytest.fixture(scope="package")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`gateway serve` with imagenet and digits, auth on (the admin token `ADMIN`)."""
    folder = tmp_path_factory.mktemp("ui-gateway")
    env = {"GATEWAY_ADMIN_TOKEN": ADMIN}
    with gateway_process(folder, IMAGENET_YAML, DIGITS_YAML, env=env) as server:
        yield server


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def context(browser: Browser, gateway: ServerProcess) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (no cookie), 1280x800, on the gateway."""
    context = await browser.new_context(
        base_url=gateway.url, viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    """A page of a browser that has logged in (through POST /ui/session, as the form does)."""
    answer = await context.request.post("/ui/session", data={"token": ADMIN})
    assert answer.status == 200, await answer.text()
    return await context.new_page()


@pytest.fixture
async def admin(gateway: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=gateway.url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=30
    ) as client:
        yield client


async def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG of `page` under tests/artefacts/ui/."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="package")
def open_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`gateway serve` with no service and no admin token (the local demo's auth)."""
    with gateway_process(tmp_path_factory.mktemp("ui-open-gateway")) as server:
        yield server
