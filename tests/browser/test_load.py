"""Load: five concurrent browser sessions ranking and predicting while a sixth trains a model.

Each session is its own browser context (its own Streamlit session). Asserts no exception or error
box anywhere, that an upload in one session is invisible to the others, and records response times
(written to ``artifacts/load.json`` and printed).
"""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, run_async

pytestmark = pytest.mark.browser

RANK_GENES = ["CD69", "IL2RA\nCD69", "GZMB"]
TIMEOUT_MS = 600_000


async def _idle(page, settle_s: float = 1.0, timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    idle_since = None
    app = page.locator('[data-testid="stApp"]')
    while time.monotonic() < deadline:
        state = await app.first.get_attribute("data-test-script-state") if await app.count() else None
        if state != "notRunning" or await page.locator('[data-testid="stStatusWidget"]').count():
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= settle_s:
            return
        await asyncio.sleep(0.2)
    raise AssertionError("session did not finish running")


async def _no_errors(page, who: str) -> None:
    for testid in ("stException", "stAlertContentError"):
        loc = page.locator(f'[data-testid="{testid}"]')
        if await loc.count():
            raise AssertionError(f"{who}: {testid}: {await loc.first.inner_text()}")


async def _new_session(browser):
    """A new browser context (its own Streamlit session) and its page."""
    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await ctx.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return ctx, page


async def _ranker(browser, url: str, genes: str, who: str) -> dict:
    ctx, page = await _new_session(browser)
    t0 = time.perf_counter()
    await page.goto(url + "/rank")
    await page.get_by_text("Download the ranking (CSV)").wait_for()
    first = time.perf_counter() - t0
    await _idle(page)
    box = page.get_by_label("Genes to push down (paste: comma, space or one per line)")
    await box.fill(genes)
    t0 = time.perf_counter()
    await box.press("Control+Enter")
    await page.wait_for_timeout(300)
    await _idle(page)
    again = time.perf_counter() - t0
    await _no_errors(page, who)
    await ctx.close()
    return {"session": who, "action": "rank", "first_load_s": round(first, 2), "rerank_s": round(again, 2)}


async def _predictor(browser, url: str, who: str) -> dict:
    ctx, page = await _new_session(browser)
    t0 = time.perf_counter()
    await page.goto(url + "/predict")
    await page.get_by_role("button", name="Predict").wait_for()
    await _idle(page)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    await page.get_by_role("button", name="Predict").click()
    await page.get_by_role("button", name="CSV", exact=True).wait_for()
    await _idle(page)
    predict = time.perf_counter() - t0
    await _no_errors(page, who)
    await ctx.close()
    return {"session": who, "action": "predict", "first_load_s": round(first, 2), "predict_s": round(predict, 2)}


async def _uploader(browser, url: str, parquet: str, who: str) -> dict:
    """Uploads its own file, then checks its overview shows it."""
    ctx, page = await _new_session(browser)
    t0 = time.perf_counter()
    await page.goto(url + "/")
    await page.get_by_text("Train rows").wait_for()
    await _idle(page)
    await page.get_by_text("Upload", exact=True).click()
    await _idle(page)
    await page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(parquet)
    await page.get_by_text("192 rows").wait_for()
    await _idle(page)
    value = await page.locator('[data-testid="stMetricValue"]').first.inner_text()
    assert value == "192", f"{who} sees {value} rows after its upload"
    await _no_errors(page, who)
    took = time.perf_counter() - t0
    return {"session": who, "action": "upload", "upload_s": round(took, 2), "_ctx": ctx}


async def _trainer(browser, url: str, who: str) -> dict:
    from tests.browser.training_flow import train_tiny_model

    ctx, page = await _new_session(browser)
    t0 = time.perf_counter()
    await train_tiny_model(page, url, _idle)
    took = time.perf_counter() - t0
    await _no_errors(page, who)
    await ctx.close()
    return {"session": who, "action": "train", "train_s": round(took, 2)}


async def _run(url: str, parquet: str) -> list[dict]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            tasks = [
                _trainer(browser, url, "s6-train"),
                _uploader(browser, url, parquet, "s1-upload"),
                *[_ranker(browser, url, g, f"s{i + 2}-rank") for i, g in enumerate(RANK_GENES[:2])],
                *[_predictor(browser, url, f"s{i + 4}-predict") for i in range(2)],
            ]
            results = await asyncio.gather(*tasks)
            # the uploader's session still shows its own file; a new session shows the demo
            up = next(r for r in results if r["action"] == "upload")
            ctx = up.pop("_ctx")
            page = ctx.pages[0]
            assert await page.locator('[data-testid="stMetricValue"]').first.inner_text() == "192"
            fresh = await (await browser.new_context()).new_page()
            await fresh.goto(url + "/")
            await fresh.get_by_text("Train rows").wait_for()
            await _idle(fresh)
            assert await fresh.locator('[data-testid="stMetricValue"]').first.inner_text() == "614"
            await ctx.close()
            return results
        finally:
            await browser.close()


def test_five_sessions_while_a_sixth_trains(app_server, tiny_parquet, warm_models):
    t0 = time.perf_counter()
    results = run_async(lambda: _run(app_server, str(tiny_parquet)))
    total = time.perf_counter() - t0
    report = {"total_s": round(total, 2), "sessions": results}
    SCREENSHOTS.parent.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "load.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    assert len(results) == 6
