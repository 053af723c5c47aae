"""Trustworthy answers in a real browser: the empty-answer message, the confidence ranking, a known
compound's measured values, and provenance on every download (demo data, default models)."""
from __future__ import annotations

import os

import pandas as pd
import pytest

from tests.browser.conftest import assert_no_errors, screenshot, wait_idle

pytestmark = pytest.mark.browser

PROVENANCE = ["dataset", "dataset_hash", "dataset_values", "model_id", "interval"]


@pytest.fixture(scope="session")
def demo_data(server_cache):
    """The demo dataset as the app server sees it (same cache folder)."""
    from scperturb_core.demo import load_demo

    old = os.environ.get("SCPERTURB_CACHE")
    os.environ["SCPERTURB_CACHE"] = str(server_cache)
    try:
        return load_demo()
    finally:
        if old is None:
            os.environ.pop("SCPERTURB_CACHE", None)
        else:
            os.environ["SCPERTURB_CACHE"] = old


def _download(page, name: str, exact: bool = False):
    with page.expect_download() as info:
        page.get_by_role("button", name=name, exact=exact).click()
    return info.value.path()


def _check_provenance(frame: pd.DataFrame, data, model: bool = True) -> None:
    assert list(frame.columns[-5:]) == PROVENANCE
    assert frame["dataset"].unique().tolist() == [data.name]
    assert frame["dataset_hash"].unique().tolist() == [data.key]
    assert frame["dataset_values"].unique().tolist() == ["simulated"]
    ids = frame["model_id"].unique().tolist()
    assert len(ids) == 1 and (ids[0] != "none") == model and len(ids[0]) >= 4
    assert frame["interval"].str.startswith("80%").all()


#: the first ranking of a server trains the default models and fills the value cube (minutes on a busy machine)
FIRST_RUN_MS = 900_000


def _open_rank(page, app_server) -> None:
    page.goto(app_server + "/rank")
    page.get_by_role("button", name="Download the ranking (CSV)").wait_for(timeout=FIRST_RUN_MS)
    wait_idle(page)
    assert_no_errors(page)


def test_nothing_meets_the_threshold_is_said_first(page, app_server, warm_models):
    _open_rank(page, app_server)
    box = page.get_by_role("spinbutton", name="Hit threshold, |signed -log10 p|")
    box.fill("45")
    box.press("Enter")
    message = page.get_by_text("No compound x cell type pair meets the threshold")
    message.wait_for()
    wait_idle(page)
    assert_no_errors(page)
    assert page.get_by_role("heading", name="Top hits").count() == 0
    assert page.get_by_role("heading", name="Structures of the top hits").count() == 0
    closest = page.get_by_role("heading", name="Closest candidates (not hits)")
    if closest.count():  # the closest candidates come after the message, labelled as such
        assert message.bounding_box()["y"] < closest.first.bounding_box()["y"]
    screenshot(page, "rank_nothing_meets_threshold")
    table = pd.read_csv(_download(page, "Download the ranking (CSV)"))
    assert "hit" not in set(table["call"])


def test_rank_by_confidence_then_by_estimate(page, app_server, warm_models, demo_data):
    """Default: ranked by the lower end of the interval (a measured pair beats a predicted one with the
    same estimate and a wider interval); 'Estimate' re-ranks by the estimate. Both downloads carry the
    provenance and interval columns."""
    _open_rank(page, app_server)
    assert page.get_by_text("ranked by the lower end of its 80% interval").count() == 1
    conf = pd.read_csv(_download(page, "Download the ranking (CSV)"))
    _check_provenance(conf, demo_data)
    assert {"measured", "predicted"} <= set(conf["source"])
    assert conf["score_lower"].is_monotonic_decreasing
    assert (conf.loc[conf["source"] == "measured", "uncertainty"] > 0).all()  # measured pairs have noise too
    page.get_by_text("Estimate", exact=True).click()
    page.get_by_text("ranked by its estimate").first.wait_for()
    wait_idle(page)
    assert_no_errors(page)
    est = pd.read_csv(_download(page, "Download the ranking (CSV)"))
    _check_provenance(est, demo_data)
    assert est["score"].is_monotonic_decreasing
    assert sorted(est["sm_name"]) == sorted(conf["sm_name"])


def test_signature_download_has_provenance(page, app_server, warm_models, demo_data):
    _open_rank(page, app_server)
    page.get_by_text("Reverse a disease signature", exact=True).click()
    wait_idle(page)
    page.get_by_label("Disease up-regulated genes").fill("CD69\nIL2RA")
    page.get_by_label("Disease down-regulated genes").fill("MYC")
    page.get_by_label("Disease down-regulated genes").press("Control+Enter")
    page.get_by_text("Its 80% interval, in the same units").first.wait_for()
    wait_idle(page)
    page.get_by_role("button", name="Download the ranking (CSV)").wait_for()
    wait_idle(page)
    assert_no_errors(page)
    table = pd.read_csv(_download(page, "Download the ranking (CSV)"))
    _check_provenance(table, demo_data)
    assert {"score_lower", "score_upper", "p_reverse", "strength"} <= set(table.columns)
    assert table["score_lower"].between(-1, 1).all() and table["score_upper"].between(-1, 1).all()


def test_known_compound_shows_measured_values_and_downloads_have_provenance(page, app_server, warm_models,
                                                                             demo_data):
    from scperturb_core.constants import CELL_TYPE, SM_NAME, SMILES

    obs = demo_data.obs
    in_b = set(obs.loc[obs[CELL_TYPE] == "B cells", SM_NAME])
    name = next(n for n in obs.loc[obs[CELL_TYPE] == "NK cells", SM_NAME] if n not in in_b)  # a test-set compound
    smiles = demo_data.compounds.set_index(SM_NAME).loc[name, SMILES]
    measured_in = set(obs.loc[obs[SM_NAME] == name, CELL_TYPE])
    page.goto(app_server + "/predict")
    page.get_by_role("button", name="Predict").wait_for()
    wait_idle(page)
    page.get_by_label("SMILES [name], one per line").fill(f"{smiles}.Cl pasted_salt\nCCO ethanol")
    page.get_by_label("SMILES [name], one per line").press("Control+Enter")
    wait_idle(page)
    page.get_by_role("button", name="Predict").click()
    page.get_by_role("button", name="CSV", exact=True).wait_for(timeout=FIRST_RUN_MS)
    wait_idle(page)
    assert_no_errors(page)
    note = page.get_by_text(f"is the screen compound {name}")
    assert note.count() == 1 and "measured" in note.inner_text()
    screenshot(page, "predict_known_compound")
    csv = pd.read_csv(_download(page, "CSV", exact=True))
    _check_provenance(csv, demo_data)
    rows = csv[csv["name"] == "pasted_salt"].set_index(CELL_TYPE)
    assert (rows["known_compound"] == name).all()
    for ct, source in rows["source"].items():
        assert source == ("measured" if ct in measured_in else "predicted"), ct
    assert rows.loc["B cells", "source"] == "predicted" and rows.loc["NK cells", "source"] == "measured"
    gi = demo_data.gene_to_idx["CD69"]
    nk_row = int(((obs[SM_NAME] == name) & (obs[CELL_TYPE] == "NK cells")).to_numpy().nonzero()[0][0])
    assert rows.loc["NK cells", "CD69"] == pytest.approx(float(demo_data.X[nk_row, gi]), rel=1e-5)
    assert rows.loc["NK cells", "CD69_lower"] < rows.loc["NK cells", "CD69"] < rows.loc["NK cells", "CD69_upper"]
    parquet = pd.read_parquet(_download(page, "Parquet", exact=True))
    _check_provenance(parquet, demo_data)


def test_reuploaded_demo_file_shows_the_simulated_badge(page, app_server, server_cache, tmp_path):
    """A de_train.parquet written by ``demo-data`` is marked as simulated; uploaded again, the app says so."""
    import subprocess
    import sys

    from scperturb_core.loader import load_dataset
    from tests.browser.conftest import ROOT

    env = dict(os.environ, SCPERTURB_CACHE=str(server_cache))
    subprocess.run([sys.executable, "-m", "scperturb_core", "demo-data", "--out", str(tmp_path)], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=600)
    path = tmp_path / "de_train.parquet"
    assert load_dataset(str(path)).simulated  # the file carries the marker and the loader honours it
    page.goto(app_server + "/")
    page.get_by_text("Train rows").wait_for()
    wait_idle(page)
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(path))
    page.get_by_text("de_train.parquet").first.wait_for()  # the sidebar names the uploaded file
    wait_idle(page)
    assert_no_errors(page)
    badge = page.locator('[data-testid="stAlertContentWarning"]', has_text="simulated")
    assert badge.count() >= 1 and badge.first.is_visible()
