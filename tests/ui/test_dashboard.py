"""The dashboard in a real browser against a real gateway serving imagenet and digits."""

from __future__ import annotations

import base64
import re

import httpx
import yaml
from playwright.async_api import Browser, BrowserContext, Dialog, Page, expect

from tests.support import ServerProcess, sample_jpeg
from tests.ui.conftest import ADMIN, screenshot

DROP_FILES = """async ([files]) => {
    const transfer = new DataTransfer();
    for (const [name, b64] of files) {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], name, { type: 'image/jpeg' }));
    }
    return transfer;
}"""


async def _drop(page: Page, selector: str, files: dict[str, bytes]) -> None:
    """Drop `files` on `selector` the way a user's drag and drop does (a DataTransfer)."""
    pairs = [[name, base64.b64encode(data).decode()] for name, data in files.items()]
    transfer = await page.evaluate_handle(DROP_FILES, [pairs])
    await page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    await page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


async def test_login_with_the_admin_token_shows_both_services_ready(
    context: BrowserContext,
) -> None:
    page = await context.new_page()
    await page.goto("/ui/")
    await expect(page.locator("form.login")).to_be_visible()
    await screenshot(page, "login")

    await page.fill("input[name=token]", "not-the-admin-token")
    await page.click("form.login button[type=submit]")
    await expect(page.locator(".login-error")).to_contain_text("not the admin")

    await page.fill("input[name=token]", ADMIN)
    await page.click("form.login button[type=submit]")
    for name in ("imagenet", "digits"):
        row = page.locator(f"table.services tr[data-service={name}]")
        await expect(row.locator(".state .badge")).to_have_text("ready")
        await expect(row.locator("td.url")).to_contain_text("unix:/")
    await screenshot(page, "services")

    (cookie,) = [c for c in await context.cookies() if c["name"] == "gateway_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    # the page itself holds nothing: the cookie is out of its reach, no storage is used
    stored = await page.evaluate("[document.cookie, localStorage.length, sessionStorage.length]")
    assert stored == ["", 0, 0]
    assert ADMIN not in await page.content()


async def test_the_services_page_charts_the_latency_of_live_traffic(
    page: Page, admin: httpx.AsyncClient
) -> None:
    await page.goto("/ui/#/services")
    await expect(page.locator("table.services")).to_have_attribute(
        "data-samples", re.compile("[1-9]")
    )
    for _ in range(5):
        answer = await admin.post(
            "/predict/digits",
            content=sample_jpeg("flower.jpg"),
            headers={"Content-Type": "image/jpeg"},
        )
        assert answer.status_code == 200
    row = page.locator("tr[data-service=digits]")
    await expect(row.locator("svg.chart .p50")).not_to_have_count(0)
    await expect(row.locator("td.rate")).not_to_have_text("—")
    await expect(row.locator("td.p99")).to_have_text(re.compile(r"\d ms"))
    await screenshot(page, "services-traffic")


async def test_dropping_flower_on_imagenet_shows_daisy_and_the_time(page: Page) -> None:
    await page.goto("/ui/#/services/imagenet")
    await _drop(page, ".dropzone", {"flower.jpg": sample_jpeg("flower.jpg")})
    first = page.locator(".try-result .prediction").first
    await expect(first.locator(".label")).to_have_text("daisy")
    await expect(page.locator(".try-result .prediction")).to_have_count(5)
    width = await first.locator(".bar .fill").evaluate("el => parseFloat(el.style.width)")
    assert 0 < width <= 100
    await expect(page.locator(".took-ms")).to_have_text(re.compile(r"^\d+ ms$"))
    # the gateway's own /metrics now show the request on the service's row
    p50 = page.locator("tr[data-service=imagenet] td.p50")
    await expect(p50).to_have_text(re.compile(r"\d ms|\d s"))
    await expect(page.locator("pre.logs")).to_contain_text("imagenet")
    await screenshot(page, "service")


async def test_a_job_of_three_files_runs_to_the_end(page: Page) -> None:
    await page.goto("/ui/#/submit")
    await page.select_option("select[name=service]", "imagenet")
    samples = [
        ("flower.jpg", "flower.jpg"),
        ("china.jpg", "china.jpg"),
        ("again.jpg", "flower.jpg"),
    ]
    files = [
        {"name": name, "mimeType": "image/jpeg", "buffer": sample_jpeg(sample)}
        for name, sample in samples
    ]
    await page.set_input_files("input#job-files", files)  # type: ignore[arg-type]
    await expect(page.locator("ul.chosen li")).to_have_count(3)
    await screenshot(page, "submit")
    await page.click("form.submit button[type=submit]")

    await expect(page).to_have_url(re.compile(r"#/jobs/[^/]+$"))
    status = page.locator(".job-status .badge")
    await expect(status).to_have_text("succeeded", timeout=60_000)
    await expect(page.locator(".job-head .progress-text")).to_have_text("3/3")
    items = page.locator("table.items tr[data-item]")
    await expect(items).to_have_count(3)
    for index in range(3):
        await expect(items.nth(index)).to_have_attribute("data-status", "succeeded")
        await expect(items.nth(index).locator("td.outputs a")).to_have_text(re.compile(r"\.json$"))
    # each item's answer is shown, and its file downloads through the session
    flower = page.locator("table.items tr[data-item='0']")
    await expect(flower.locator("td.result")).to_contain_text("daisy")
    href = await flower.locator("td.outputs a").get_attribute("href")
    assert href is not None
    download = await page.context.request.get(href)
    assert download.status == 200
    assert (await download.json())["predictions"][0]["label"] == "daisy"
    await screenshot(page, "job")

    job_id = page.url.rsplit("/", 1)[1]
    await page.goto("/ui/#/jobs")
    row = page.locator(f"table.jobs tr[data-job='{job_id}']")
    await expect(row.locator(".badge")).to_have_text("succeeded")
    await expect(row.locator(".progress-text")).to_have_text("3/3")
    await screenshot(page, "jobs")


async def test_a_bad_file_fails_its_own_item_with_its_error(page: Page) -> None:
    await page.goto("/ui/#/submit/digits")
    await expect(page.locator("select[name=service]")).to_have_value("digits")
    files = [
        {"name": "good.jpg", "mimeType": "image/jpeg", "buffer": sample_jpeg("flower.jpg")},
        {"name": "bad.jpg", "mimeType": "image/jpeg", "buffer": b"not an image at all"},
    ]
    await page.set_input_files("input#job-files", files)  # type: ignore[arg-type]
    await page.click("form.submit button[type=submit]")
    await expect(page.locator(".job-status .badge")).to_have_text("failed", timeout=60_000)
    good = page.locator("table.items tr[data-item='0']")
    bad = page.locator("table.items tr[data-item='1']")
    await expect(good).to_have_attribute("data-status", "succeeded")
    await expect(bad).to_have_attribute("data-status", "failed")
    await expect(bad.locator("td.error")).to_contain_text("not a decodable image")
    await expect(good.locator("td.error")).to_have_text("")
    widths = await page.eval_on_selector_all(
        ".job-head .progress .fill", "els => els.map((el) => el.style.width)"
    )
    assert widths == ["50%", "50%"]  # one succeeded, one failed
    await screenshot(page, "job-failed-item")


async def test_rotating_a_token_shows_a_new_token_that_works(
    page: Page, gateway: ServerProcess
) -> None:
    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    await page.goto("/ui/#/services/digits")
    page.once("dialog", accept)
    await page.click("text=Rotate token")
    token = page.locator("code.token")
    await expect(token).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    new = await token.inner_text()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        answer = await client.post(
            "/predict/digits",
            content=sample_jpeg("flower.jpg"),
            headers={"Content-Type": "image/jpeg", "Authorization": f"Bearer {new}"},
        )
    assert answer.status_code == 200, answer.text
    await screenshot(page, "token")


async def test_a_bad_definition_shows_its_error_next_to_the_field(
    page: Page, admin: httpx.AsyncClient
) -> None:
    await page.goto("/ui/#/services/digits")
    editor = page.locator(".editor textarea")
    await expect(editor).to_have_value(re.compile(r"max_scale: 2"))
    await editor.fill((await editor.input_value()).replace("max_scale: 2", "max_scale: 0"))
    await page.click("text=Apply")

    error = page.locator(".editor .field-error")
    await expect(error).to_have_count(1)
    await expect(error).to_contain_text("greater than or equal to 1")
    assert await error.get_attribute("data-field") == "max_scale"
    lines = (await editor.input_value()).split("\n")
    line = int(await error.get_attribute("data-line") or 0)
    assert lines[line - 1].strip() == "max_scale: 0"
    await expect(page.locator(".definition-status")).to_contain_text("422 invalid_definition")
    await screenshot(page, "definition-error")
    # nothing changed on the gateway
    definition = (await admin.get("/system/services/digits")).json()["definition"]
    assert definition["max_scale"] == 2


async def test_the_health_page_shows_the_gateway_live_and_ready(page: Page) -> None:
    await page.goto("/ui/#/health")
    for check in ("Live", "Ready", "Gateway", "Services"):
        await expect(page.locator(f".health[data-check={check}] h2 .badge")).to_have_text("ok")
    await expect(page.locator(".health[data-check=Gateway] dl")).to_contain_text("0.1.0")
    await screenshot(page, "health")


async def test_the_definition_shown_is_the_service_definition(
    page: Page, admin: httpx.AsyncClient
) -> None:
    await page.goto("/ui/#/services/imagenet")
    editor = page.locator(".editor textarea")
    await expect(editor).to_have_value(re.compile(r"name: imagenet"))
    shown = yaml.safe_load(await editor.input_value())
    assert shown == (await admin.get("/system/services/imagenet")).json()["definition"]


async def test_logging_out_ends_the_session(page: Page, context: BrowserContext) -> None:
    await page.goto("/ui/#/services")
    await expect(page.locator("tr[data-service=digits]")).to_be_visible()
    await page.click("button.logout")
    await expect(page.locator("form.login")).to_be_visible()
    assert [c for c in await context.cookies() if c["name"] == "gateway_session"] == []
    answer = await context.request.get("/system/services")
    assert answer.status == 401


async def test_without_an_admin_token_the_dashboard_opens_without_login(
    browser: Browser, open_gateway: ServerProcess
) -> None:
    context = await browser.new_context(base_url=open_gateway.url)
    try:
        page = await context.new_page()
        await page.goto("/ui/")
        await expect(page.locator("table.services")).to_be_visible()
        await expect(page.get_by_text("No service yet")).to_be_visible()
        await expect(page.locator("form.login")).to_have_count(0)
        await expect(page.locator("button.logout")).to_be_hidden()
    finally:
        await context.close()
