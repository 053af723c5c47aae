"""CLI exit codes: 0 on success, 2 with one line on stderr for any user error."""
from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from scperturb_core.cli import main


def test_info_on_file(tiny_parquet, capsys):
    assert main(["info", "--data", str(tiny_parquet)]) == 0
    out = capsys.readouterr().out
    assert "rows: 192" in out and "genes: 64" in out and "NK cells" in out


def test_info_with_id_map(tiny, tiny_parquet, tmp_path, capsys):
    p = tmp_path / "id_map.csv"
    tiny.id_map.to_csv(p, index=False)
    assert main(["info", "--data", str(tiny_parquet), "--id-map", str(p)]) == 0
    assert f"id_map: {len(tiny.id_map)} pairs" in capsys.readouterr().out


@pytest.mark.parametrize("content, expected", [
    (b"", "error: empty file"),
    (b"not parquet at all", "error: not a parquet file"),
])
def test_broken_file_exit_2(tmp_path, capsys, content, expected):
    p = tmp_path / "bad.parquet"
    p.write_bytes(content)
    assert main(["info", "--data", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(expected) and err.count("\n") == 1


def test_missing_file_exit_2(capsys):
    assert main(["info", "--data", "no/such/file.parquet"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_unknown_command_exit_2(capsys):
    assert main(["frobnicate"]) == 2


def test_demo_data_writes_kaggle_schema(tmp_path):
    """Through a real subprocess, as a user runs it."""
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "scperturb_core", "demo-data", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "SIMULATED" in proc.stdout
    import pyarrow.parquet as pq

    schema = pq.read_schema(out / "de_train.parquet")
    assert len(schema.names) == 18216
    assert schema.names[:6] == ["cell_type", "sm_name", "sm_lincs_id", "SMILES", "control", "A1BG"]
    assert str(schema.field("control").type) == "bool"
    assert str(schema.field("A1BG").type) == "double"
    assert pd.read_csv(out / "id_map.csv").shape == (255, 3)
    truth = pq.read_schema(out / "truth.parquet")
    assert truth.names[0] == "id" and len(truth.names) == 18212
    meta = pd.read_parquet(out / "de_train.parquet", columns=["cell_type", "sm_name"])
    assert meta.shape == (614, 2) and meta.index.tolist() == list(range(614))
