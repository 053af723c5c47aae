"""End-to-end: every page in a real headless Chromium, its main action, no error boxes."""
from __future__ import annotations

import pytest

from tests.browser.conftest import assert_no_errors, screenshot, wait_idle

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
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 2
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


def test_upload_of_broken_file_shows_one_line_error(page, app_server, tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"this is a CSV renamed to parquet\n1,2,3\n")
    page.goto(app_server + "/")
    page.get_by_text("Train rows").wait_for()
    wait_idle(page)
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(bad))
    err = page.locator('[data-testid="stAlertContentError"]')
    err.first.wait_for()
    assert "not a parquet file" in err.first.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
