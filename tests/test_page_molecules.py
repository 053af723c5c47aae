"""The Molecules page under Streamlit's AppTest: a known compound, a pasted SMILES, a bad SMILES, the maps."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import Keys
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "molecules.py")
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def _page(data=None, **state) -> AppTest:
    """The page alone, with the active dataset preset (what app.py's sidebar would have loaded)."""
    at = AppTest.from_file(PAGE, default_timeout=180)  # the first UMAP compiles with numba (~15 s)
    if data is not None:
        at.session_state[Keys.ACTIVE] = data
    for key, value in state.items():
        at.session_state[key] = value
    return at


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


@pytest.fixture(scope="module")
def known(tiny) -> AppTest:
    return _page(tiny, **{Keys.COMPOUND: "Clotrimazole"}).run()


def test_known_compound(known, tiny):
    at = known
    assert not at.exception, at.exception
    assert not at.error
    assert any("simulated values" in w.value for w in at.warning)  # the map shows (simulated) values
    assert [s.value for s in at.subheader] == ["Clotrimazole", "Compound map"]
    props = dict(zip(at.dataframe[0].value["property"], at.dataframe[0].value["value"]))
    assert props["LINCS id"] == "LSM-5341" and props["heavy atoms"] == "25" and props["HBA"] == "1"
    text = _markdown(at)
    assert "`Clc1ccccc1C(c1ccccc1)(c1ccccc1)n1ccnc1`" in text.splitlines()  # the canonical SMILES
    assert "5 piece(s), 4 distinct" in text
    counts = at.dataframe[1].value  # the fragment count vector (non-zero entries)
    assert dict(zip(counts["fragment"], counts["count"]))["[16*]c1ccccc1"] == 2
    assert counts["count"].sum() == 5
    nearest = at.dataframe[2].value
    assert len(nearest) == 5 and "Clotrimazole" not in set(nearest["compound"])
    assert nearest["Tanimoto"].is_monotonic_decreasing
    assert at.radio(key="molecules_map_basis").options == ["Fingerprints (Tanimoto)", "Response profiles"]


def test_highlight_a_fragment(known):
    at = known
    at.selectbox(key="molecules_fragment").set_value("[9*]n1ccnc1").run()
    assert not at.exception and not at.error


def test_response_profile_map(known):
    at = known
    at.radio(key="molecules_map_basis").set_value("Response profiles").run()
    assert not at.exception and not at.error


def test_pasted_smiles(tiny):
    at = _page(tiny, **{Keys.MOLECULE_SMILES: ASPIRIN}).run()
    assert not at.exception, at.exception
    assert not at.error
    assert at.subheader[0].value == "Pasted molecule"
    assert f"`{ASPIRIN}`" in _markdown(at).splitlines()
    props = dict(zip(at.dataframe[0].value["property"], at.dataframe[0].value["value"]))
    assert props["LINCS id"] == "--" and props["MW"] == "180.16"
    nearest = at.dataframe[2].value
    assert len(nearest) == 5  # nothing excluded: aspirin is not a screen compound


def test_pasted_salt_and_known_structure(tiny):
    at = _page(tiny, **{Keys.MOLECULE_SMILES: "Clc1ccccc1C(c1ccccc1)(c1ccccc1)n1ccnc1.Cl"}).run()
    assert not at.exception and not at.error
    assert at.subheader[0].value == "Clotrimazole"  # recognised by canonical SMILES
    assert any("kept largest fragment of 2" in i.value for i in at.info)


@pytest.mark.parametrize("bad, reason", [
    ("CC(C", "unparsable: unbalanced brackets"),
    ("'; DROP TABLE compounds; --", "disallowed characters"),
    ("C" * 10_000, "too long: 10000 characters"),
])
def test_bad_smiles_shows_one_line_error(tiny, bad, reason):
    at = _page(tiny, **{Keys.MOLECULE_SMILES: bad}).run()
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert reason in message and "\n" not in message and "Traceback" not in message
    assert [s.value for s in at.subheader] == ["Compound map"]  # the rest of the page still works


def test_without_a_dataset_uses_the_screen_compounds():
    at = _page().run()
    assert not at.exception and not at.error
    assert any("No dataset loaded" in i.value for i in at.info)
    assert at.radio(key="molecules_map_basis").options == ["Fingerprints (Tanimoto)"]
    assert len(at.selectbox(key=Keys.COMPOUND).options) == 146


def test_page_uses_the_library_the_warm_up_built(tiny, monkeypatch):
    from scperturb_core import warmup
    from scperturb_core.chem import library
    from scperturb_core.constants import SM_NAME, SMILES

    warmup.compound_library(tiny.compounds[SMILES], tiny.compounds[SM_NAME])  # what the process warm-up does
    monkeypatch.setattr(library, "compound_library", lambda *a: pytest.fail("the page fitted the library again"))
    at = _page(tiny, **{Keys.COMPOUND: "Clotrimazole"}).run()
    assert not at.exception, at.exception
    assert [s.value for s in at.subheader][0] == "Clotrimazole"
    assert "Fragment count vector" in _markdown(at)
