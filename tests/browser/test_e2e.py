"""End-to-end: every page in a real headless Chromium, its main action, no error boxes."""
from __future__ import annotations

import pytest

from tests.browser.conftest import SCREENSHOTS, assert_no_errors, screenshot, wait_idle

pytestmark = pytest.mark.browser


def test_deep_link_on_a_fresh_server_runs_through_the_app_shell(page, app_server):
    """First request of the server process is a deep link: the page must still get the sidebar."""
    page.goto(app_server + "/gene_eda")
    page.get_by_role("heading", name="Gene explorer").wait_for()
    wait_idle(page)
    page.get_by_text("Dataset", exact=True).wait_for()  # the app shell's sidebar ran
    assert page.get_by_text("predictor ui").count() == 0  # no old-style page list of pages/
    assert_no_errors(page)


def test_overview_page(page, app_server):
    page.goto(app_server + "/")
    page.get_by_text("Train rows").wait_for()
    wait_idle(page)
    assert_no_errors(page)
    assert page.get_by_text("simulated values").first.is_visible()
    assert page.locator('[data-testid="stVegaLiteChart"]').count() >= 2
    screenshot(page, "overview")


def test_switch_dataset_to_upload_and_back(page, app_server, tiny_parquet):
    page.goto(app_server + "/")
    page.get_by_text("Train rows").wait_for()
    wait_idle(page)
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(tiny_parquet))
    page.get_by_text("192 rows").wait_for()
    wait_idle(page)
    assert_no_errors(page)
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text() == "192"
    # a second browser session does not see this upload
    other = page.context.browser.new_context().new_page()
    other.goto(app_server + "/")
    other.get_by_text("Train rows").wait_for()
    wait_idle(other)
    assert other.locator('[data-testid="stMetricValue"]').first.inner_text() == "614"
    other.context.close()
    # back to the demo
    page.get_by_text("Demo (simulated values)", exact=True).click()
    page.get_by_text("614 rows").wait_for()
    wait_idle(page)
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text() == "614"


BROKEN_UPLOADS = ["csv renamed parquet", "value 1e308", "XYZ1 and xyz1", "cell_type stored as list<string>",
                  "pandas index names a gene", "gene named ''", "lower-case cell type beside NK cells",
                  "garbage footer"]


def test_upload_of_broken_file_shows_one_line_error(page, app_server, tmp_path, tiny):
    """Bad uploads: one error line naming the user's file, never an exception box; the error stays
    while the file stays in the uploader, also on another page."""
    import re

    from tests.hostile.uploads import CASES

    cases = {c.name: c for c in CASES}
    page.goto(app_server + "/")
    page.get_by_text("Train rows").wait_for()
    wait_idle(page)
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    assert page.get_by_text("An upload lives in this browser tab only").is_visible()  # said before uploading
    err = page.locator('[data-testid="stSidebar"] [data-testid="stAlertContentError"]')
    for i, name in enumerate(BROKEN_UPLOADS):
        case = cases[name]
        bad = tmp_path / f"broken_{i}.parquet"
        bad.write_bytes(case.build(tiny.to_frame(), tiny.id_map))
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(bad))
        page.get_by_text(bad.name).first.wait_for()
        wait_idle(page)
        err.first.wait_for()
        text = err.first.inner_text().strip()
        assert bad.name in text, (name, text)
        assert re.search(case.expected.lstrip("^"), text), (name, text)
        assert page.locator('[data-testid="stException"]').count() == 0, name
    # the last error stays while its file stays, also after moving to another page
    page.get_by_role("link", name="Gene explorer").click()
    wait_idle(page)
    err.first.wait_for()
    assert f"broken_{len(BROKEN_UPLOADS) - 1}.parquet" in err.first.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0


def test_gene_explorer_pick_a_gene(page, app_server):
    page.goto(app_server + "/gene_eda")
    page.get_by_role("heading", name="CD69 by cell type").wait_for()
    wait_idle(page)
    box = page.get_by_role("textbox", name="Gene", exact=True)
    box.fill("gzmb")  # case-insensitive
    box.press("Enter")
    page.get_by_role("heading", name="GZMB by cell type").wait_for()
    wait_idle(page)
    assert_no_errors(page)
    screenshot(page, "gene_explorer")
    box.fill("NOTAGENE1")
    box.press("Enter")
    wait_idle(page)
    err = page.locator('[data-testid="stAlertContentError"]')
    err.first.wait_for()
    assert "NOTAGENE1" in err.first.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0


def test_molecules_compound_and_pasted_smiles(page, app_server):
    page.goto(app_server + "/molecules")
    page.get_by_role("heading", name="Clotrimazole").wait_for()
    wait_idle(page)
    assert_no_errors(page)
    assert page.locator("svg").count() > 3  # structure, fragments, neighbours
    screenshot(page, "molecules")
    box = page.get_by_role("textbox", name="...or paste any SMILES")
    box.fill("CC(=O)Oc1ccccc1C(=O)O")
    box.press("Enter")
    wait_idle(page)
    assert_no_errors(page)
    page.get_by_role("heading", name="Pasted molecule").wait_for()
    assert page.locator("code", has_text="CC(=O)Oc1ccccc1C(=O)O").first.is_visible()  # its canonical SMILES
    box.fill("C1CC((")
    box.press("Enter")
    wait_idle(page)
    err = page.locator('[data-testid="stAlertContentError"]')
    err.first.wait_for()
    assert "C1CC((" in err.first.inner_text()


def _hover_point(page, chart, skip: str) -> tuple[float, float, str]:
    """Move the mouse over ``chart`` on a 9 px grid until Vega's tooltip shows a point not naming
    ``skip``; return the position and the tooltip text."""
    box = chart.bounding_box()
    tip = page.locator("#vg-tooltip-element")
    for y in range(int(box["y"]) + 20, int(box["y"] + box["height"]) - 40, 9):
        for x in range(int(box["x"]) + 60, int(box["x"] + box["width"]) - 120, 9):
            page.mouse.move(x, y)
            if tip.count() and "visible" in (tip.get_attribute("class") or "") and skip not in tip.inner_text():
                return x, y, tip.inner_text()
    raise AssertionError("no compound found under the mouse on the map")


def test_molecules_map_click_opens_the_compound(page, app_server):
    page.goto(app_server + "/molecules")
    page.get_by_role("heading", name="Clotrimazole").wait_for()
    chart = page.locator('[data-testid="stVegaLiteChart"]').first
    chart.wait_for(timeout=300_000)  # the map may still be computed in the background on a new server
    wait_idle(page)
    chart.scroll_into_view_if_needed()
    x, y, text = _hover_point(page, chart, skip="Clotrimazole")
    name = [line for line in text.splitlines() if line.strip()][1].strip()  # "compound", then its name
    page.mouse.click(x, y)
    page.get_by_role("heading", name=name, exact=True).wait_for()
    wait_idle(page)
    assert_no_errors(page)
    assert page.get_by_role("heading", name="Clotrimazole").count() == 0


def test_rank_and_download_csv(page, app_server, warm_models):
    page.goto(app_server + "/rank")
    download = page.get_by_role("button", name="Download the ranking (CSV)")
    download.wait_for()
    wait_idle(page)
    assert_no_errors(page)
    screenshot(page, "rank")
    with page.expect_download() as info:
        download.click()
    path = info.value.path()
    header = open(path, encoding="utf-8").readline()
    assert "sm_name" in header and "score" in header


def test_predict_pasted_smiles_and_download(page, app_server, warm_models):
    page.goto(app_server + "/predict")
    page.get_by_role("button", name="Predict").wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Predict").click()
    csv_button = page.get_by_role("button", name="CSV", exact=True)
    csv_button.wait_for()
    wait_idle(page)
    # the example holds one broken SMILES: it is listed, the valid ones are predicted
    assert page.get_by_text("C1CC").count() >= 1
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "predict")
    with page.expect_download() as info:
        csv_button.click()
    header = open(info.value.path(), encoding="utf-8").readline()
    assert "cell_type" in header and "CD69" in header


def test_training_page_trains_a_tiny_model(app_server, warm_models):
    from playwright.async_api import async_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, run_async
    from tests.browser.test_load import _idle, _no_errors
    from tests.browser.training_flow import train_tiny_model

    async def run() -> None:
        async with async_playwright() as pw:
            b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = await b.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(600_000)
            await train_tiny_model(page, app_server, _idle)
            await _no_errors(page, "training")
            assert await page.get_by_text("best baseline").count() >= 1
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / "training.png"), full_page=True)
            await b.close()

    run_async(run)
