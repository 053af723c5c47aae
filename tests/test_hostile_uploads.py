"""The hostile upload corpus: every bad file gives its documented one-line message quickly, through
the core loader and through the app, and nothing on disk (the demo cache) changes."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from scperturb_core.data import DataError
from scperturb_core.io import cache_dir, sha256_file
from scperturb_core.loader import load_dataset
from tests.hostile.uploads import CASES, WARN_CASES, UploadCase, WarnCase

TIME_BOUND_S = 10.0


@pytest.fixture(scope="module")
def frames(tiny):
    return tiny.to_frame(), tiny.id_map


def _load(case: UploadCase, frames, tmp_path: Path):
    df, id_map = frames
    raw = case.build(df, id_map)
    if case.kind == "id_map":
        data_path = tmp_path / "de_train.parquet"
        df.to_parquet(data_path, index=False)
        map_path = tmp_path / "id_map.csv"
        map_path.write_bytes(raw)
        return lambda: load_dataset(str(data_path), id_map=str(map_path)), data_path, map_path
    path = tmp_path / "de_train.parquet"
    path.write_bytes(raw)
    return lambda: load_dataset(str(path)), path, None


def test_corpus_is_large_and_unique():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 120


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_core_gives_documented_message(case, frames, tmp_path):
    load, *_ = _load(case, frames, tmp_path)
    start = time.perf_counter()
    with pytest.raises(DataError) as exc:
        load()
    elapsed = time.perf_counter() - start
    msg = str(exc.value)
    assert "\n" not in msg, msg
    assert re.search(case.expected, msg), msg
    assert elapsed < TIME_BOUND_S, f"{case.name}: {elapsed:.1f}s"


@pytest.mark.parametrize("case", WARN_CASES, ids=[c.name for c in WARN_CASES])
def test_normalised_input_is_accepted_with_a_note(case: WarnCase, frames, tmp_path):
    """Where normalising is the documented choice, the file loads, says what it did, and the
    values and names are the original ones."""
    df, id_map = frames
    path = tmp_path / "de_train.parquet"
    path.write_bytes(case.build(df, id_map))
    before = path.read_bytes()
    data = load_dataset(str(path))
    assert any(re.search(case.note, n) for n in data.notes), data.notes
    assert data.X.shape == (len(df), df.shape[1] - 5)
    assert sorted(set(data.obs["cell_type"])) == sorted(set(df["cell_type"]))
    assert sorted(set(data.obs["sm_name"])) == sorted(set(df["sm_name"]))
    assert path.read_bytes() == before


APP_CASES = [c for c in CASES if c.kind == "de_train"]


@pytest.fixture(scope="module")
def demo_cache_hashes():
    """Hashes of the cached demo files, taken before the app cases run."""
    from scperturb_core.demo import load_demo

    load_demo()
    folder = cache_dir("demo")
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("case", APP_CASES[::3], ids=[c.name for c in APP_CASES[::3]])
def test_app_shows_one_line_error_and_keeps_demo(case, frames, tmp_path, demo_cache_hashes):
    from streamlit.testing.v1 import AppTest

    from pages.common import SOURCE_PATH, Keys
    from tests.conftest import ROOT

    _, path, _ = _load(case, frames, tmp_path)
    before = path.read_bytes()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[Keys.SOURCE] = SOURCE_PATH
    at.session_state[Keys.PATH] = str(path)
    at.run()
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and re.search(case.expected, errors[0]), errors
    assert path.read_bytes() == before  # the user's file is never altered
    folder = cache_dir("demo")
    assert {p.name: sha256_file(p) for p in sorted(folder.iterdir())} == demo_cache_hashes
