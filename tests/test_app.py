"""The app shell and the overview page under Streamlit's AppTest; the core stays streamlit-free."""
from __future__ import annotations

import subprocess
import sys

from streamlit.testing.v1 import AppTest

from pages.common import SOURCE_PATH, Keys
from tests.conftest import ROOT


def test_core_does_not_import_streamlit():
    # every module of the core, subpackages included (walk_packages imports each package on the way)
    code = ("import sys, pkgutil, importlib, scperturb_core as p; "
            "[importlib.import_module(m.name) for m in pkgutil.walk_packages(p.__path__, 'scperturb_core.') "
            "if not m.name.endswith('__main__')]; "
            "print('streamlit' in sys.modules, len([m for m in sys.modules if m.startswith('scperturb_core.')]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    loaded, n_modules = out.stdout.split()
    assert loaded == "False"
    assert int(n_modules) >= 40  # the walk reached the subpackages' modules


def _app(**state) -> AppTest:
    """The app with session state preset (AppTest drops sidebar elements after a rerun under
    st.navigation, so the dataset choice is set before the first run)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    return at


def test_overview_on_demo():
    at = _app().run()
    assert not at.exception, at.exception
    assert not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Train rows"] == "614" and metrics["Genes"] == "18,211"
    assert metrics["Test pairs (id_map)"] == "255"
    assert any("simulated values" in w.value for w in at.warning)


def test_path_source_with_broken_file_shows_one_line_error(tmp_path):
    bad = tmp_path / "broken.parquet"
    bad.write_bytes(b"PAR1 nonsense")
    at = _app(**{Keys.SOURCE: SOURCE_PATH, Keys.PATH: str(bad)}).run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert errors and "not a parquet file" in errors[0] and "\n" not in errors[0]


def test_path_source_with_valid_file(tiny_parquet):
    at = _app(**{Keys.SOURCE: SOURCE_PATH, Keys.PATH: str(tiny_parquet)}).run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Train rows"] == "192" and metrics["Genes"] == "64"
    assert not any("simulated values" in w.value for w in at.warning)


def test_demo_is_never_replaced_by_a_path_dataset(tiny_parquet):
    at = _app(**{Keys.SOURCE: SOURCE_PATH, Keys.PATH: str(tiny_parquet)}).run()
    assert at.session_state[Keys.ACTIVE].n_rows == 192
    demo = _app().run()
    assert demo.session_state[Keys.ACTIVE].n_rows == 614 and demo.session_state[Keys.ACTIVE].simulated
