"""Shared fixtures: an isolated cache folder and small simulated datasets."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    """The whole run caches (demo, models) into a private folder, never the user's cache."""
    os.environ["SCPERTURB_CACHE"] = tempfile.mkdtemp(prefix="scperturb-test-cache-")
    # the app's File path box reads only inside this folder; tests write their files under it
    os.environ.setdefault("SCPERTURB_DATA_DIR", tempfile.gettempdir())
    # no background warm-up (training the demo's models) in tests and their app servers, unless a test asks
    os.environ.setdefault("SCPERTURB_WARMUP", "0")


@pytest.fixture(scope="session")
def tiny():
    """192 rows x 64 genes with the real design over 40 compounds (simulated values)."""
    from scperturb_core.demo import tiny_dataset

    return tiny_dataset(n_genes=64, n_compounds=40, seed=0)


@pytest.fixture(scope="session")
def tiny_parquet(tiny, tmp_path_factory) -> Path:
    """The tiny dataset written in the Kaggle schema."""
    path = tmp_path_factory.mktemp("tiny") / "de_train.parquet"
    tiny.to_frame().to_parquet(path, index=False)
    return path
