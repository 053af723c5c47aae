"""The app's File path box: it reads only inside the operator's data folder, refuses special files
and shows every refusal as one line in the sidebar (no exception box)."""
from __future__ import annotations

import os
import re

import pytest
from streamlit.testing.v1 import AppTest

from pages.common import SOURCE_PATH, Keys
from scperturb_core.constants import ENV_DATA, ENV_DATA_DIR
from scperturb_core.data import DataError, data_folder, resolve_data_path
from tests.conftest import ROOT


def _run(path: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[Keys.SOURCE] = SOURCE_PATH
    at.session_state[Keys.PATH] = path
    return at.run()


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv(ENV_DATA_DIR, str(data))
    monkeypatch.delenv(ENV_DATA, raising=False)
    return data


def test_data_folder_setting():
    assert data_folder({}) is None
    assert str(data_folder({ENV_DATA: "/srv/kaggle/de_train.parquet"})) == "/srv/kaggle"
    assert str(data_folder({ENV_DATA: "/srv/kaggle/de_train.parquet", ENV_DATA_DIR: "/srv/other"})) == "/srv/other"
    assert data_folder({ENV_DATA_DIR: "   "}) is None


OUTSIDE = ["/etc/passwd", "/dev/zero", "/proc/self/environ", "../../etc/passwd", "~/.ssh/id_rsa", "/", ".."]


@pytest.mark.parametrize("path", OUTSIDE)
def test_paths_outside_the_folder_are_refused(path, folder):
    with pytest.raises(DataError) as exc:
        resolve_data_path(path)
    assert re.fullmatch(rf"dataset path '{re.escape(path)}' is outside the data folder '[^']+'", str(exc.value))


def test_special_files_inside_the_folder_are_refused(folder):
    os.mkfifo(folder / "pipe.parquet")
    (folder / "zero.parquet").symlink_to("/dev/zero")
    (folder / "escape.parquet").symlink_to("/etc/passwd")
    (folder / "sub").mkdir()
    cases = {"pipe.parquet": r"dataset: '[^']+' is a named pipe \(FIFO\), not a regular file",
             "zero.parquet": r"dataset path 'zero.parquet' is outside the data folder '[^']+'",
             "escape.parquet": r"dataset path 'escape.parquet' is outside the data folder '[^']+'",
             "sub": r"dataset: '[^']+' is a folder, not a file",
             ".": r"dataset: '[^']+' is a folder, not a file",
             "a\x00b": r"dataset path 'a\\x00b' contains a NUL character",
             "missing.parquet": r"dataset: file not found: '[^']+'"}
    for path, expected in cases.items():
        with pytest.raises(DataError) as exc:
            resolve_data_path(path)
        assert re.fullmatch(expected, str(exc.value)), (path, str(exc.value))


def test_reading_by_path_is_off_without_a_folder(monkeypatch):
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    monkeypatch.delenv(ENV_DATA, raising=False)
    with pytest.raises(DataError) as exc:
        resolve_data_path("/etc/passwd")
    assert str(exc.value) == ("reading a dataset path is turned off on this server; use Upload "
                              "(the operator can allow one folder with SCPERTURB_DATA_DIR)")
    at = _run("/etc/passwd")
    assert not at.exception
    assert not at.sidebar.error
    assert any("Reading files by path is off" in c.value for c in at.sidebar.caption)


def test_app_shows_a_fifo_as_one_line_without_hanging(folder):
    os.mkfifo(folder / "de_train.parquet")
    at = _run(str(folder / "de_train.parquet"))
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and re.fullmatch(r"dataset: '[^']+' is a named pipe \(FIFO\), not a regular file", errors[0])


@pytest.mark.parametrize("path", ["/dev/zero", "/etc/passwd", "../outside.parquet"])
def test_app_refuses_paths_outside_the_folder(path, folder):
    at = _run(path)
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert len(errors) == 1 and re.fullmatch(rf"dataset path '{re.escape(path)}' is outside the data folder '[^']+'",
                                             errors[0]), errors


def test_app_reads_a_relative_path_inside_the_folder(folder, tiny_parquet):
    (folder / "de_train.parquet").write_bytes(tiny_parquet.read_bytes())
    at = _run("de_train.parquet")
    assert not at.exception and not at.sidebar.error
    assert any("192 rows" in c.value for c in at.sidebar.caption)


def test_app_refuses_a_file_over_the_upload_limit(folder):
    big = folder / "big.parquet"
    with open(big, "wb") as fh:  # sparse: no disk used
        fh.truncate(400 * 2**20)
    with pytest.raises(DataError) as exc:
        resolve_data_path("big.parquet")
    assert re.fullmatch(r"dataset: '[^']+' is too large \(400 MB; limit 300 MB\)", str(exc.value))


def test_a_relative_default_dataset_opens(tmp_path, monkeypatch, tiny_parquet):
    """``SCPERTURB_DATA=data/de_train.parquet`` (relative): its folder is the data folder and the
    default path in the box reads that file."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "de_train.parquet").write_bytes(tiny_parquet.read_bytes())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(ENV_DATA_DIR, raising=False)
    monkeypatch.setenv(ENV_DATA, "data/de_train.parquet")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception and not at.sidebar.error
    assert any("192 rows" in c.value for c in at.sidebar.caption)


def test_app_shows_what_the_loader_normalised(folder, tiny):
    df = tiny.to_frame()
    df["cell_type"] = df["cell_type"] + " "
    df.to_parquet(folder / "spaces.parquet", index=False)
    at = _run("spaces.parquet")
    assert not at.exception and not at.sidebar.error
    notes = [w.value for w in at.sidebar.warning]
    assert any(re.fullmatch(r"stripped surrounding spaces from 192 cell_type value\(s\), e\.g\. '[^']+ ' at row 0", n)
               for n in notes), notes
