"""The input boundary, each limit at its edge: JSON size/depth/numbers, npz declared sizes,
parquet uncompressed size, output paths, the CLI number types."""
from __future__ import annotations

import argparse
import io
import re

import numpy as np
import pytest

from scperturb_core import data as data_module
from scperturb_core.data import DataError, load_de_train
from scperturb_core.safeio import (
    MAX_JSON_DEPTH,
    InputError,
    bounded_int,
    check_output_dir,
    check_output_file,
    finite_float,
    parse_json,
    read_file,
    read_npz,
    read_stream,
)

JSON_CASES = [
    (b"", r"doc is not valid JSON \(Expecting value at line 1 column 1\)"),
    (b"{", r"doc is not valid JSON \(Expecting property name enclosed in double quotes at line 1 column 2\)"),
    (b'{"a": 1,}', r"doc is not valid JSON \(.+ at line 1 column \d+\)"),
    (b"\xff", r"doc is not valid JSON \(not UTF-8 text\)"),
    (b"NaN", r"doc is not valid JSON \(NaN is not allowed\)"),
    (b"-Infinity", r"doc is not valid JSON \(-Infinity is not allowed\)"),
    (b'{"w": 1e400}', r"doc is not valid JSON \(number 1e400 is out of range\)"),
    (b'{"w": -1e400}', r"doc is not valid JSON \(number -1e400 is out of range\)"),
    (b"1" * 5000, r"doc is not valid JSON \(Exceeds the limit \(4300 digits\) for integer string conversion.*\)"),
    (b"[]", r"doc must hold a JSON object, found a list"),
    (b"null", r"doc must hold a JSON object, found a null"),
    (b"3", r"doc must hold a JSON object, found a number"),
    (b"true", r"doc must hold a JSON object, found a boolean"),
    (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), r"doc is nested too deeply \(limit 64 levels\)"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, r"doc is nested too deeply \(limit 64 levels\)"),
    (b" " * (32 * 2**20 + 1), r"doc is too large \(32 MB; limit 32 MB\)"),
]


@pytest.mark.parametrize("raw, expected", JSON_CASES, ids=[f"json{i}" for i in range(len(JSON_CASES))])
def test_json_refusals(raw, expected):
    with pytest.raises(InputError) as exc:
        parse_json(raw, "doc")
    assert re.fullmatch(expected, str(exc.value)), str(exc.value)


def test_json_at_the_depth_limit_is_accepted():
    assert parse_json(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH, "doc", want=list)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_npz_limit_counts_declared_sizes():
    raw = _npz(a=np.zeros(1000), b=np.zeros(1000))
    assert set(read_npz(raw, "f.npz", limit=16_256)) == {"a", "b"}
    with pytest.raises(InputError) as exc:
        read_npz(raw, "f.npz", limit=1000)
    assert str(exc.value) == "f.npz is too large uncompressed (16256 bytes; limit 1000 bytes)"


def test_npz_header_larger_than_its_member_is_refused_before_inflating():
    import zipfile

    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": (10**6,)})
    member.write(b"\x00" * 64)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.npy", member.getvalue())
    with pytest.raises(InputError) as exc:
        read_npz(buf.getvalue(), "f.npz")
    assert str(exc.value) == "f.npz: array 'a' declares 8 MB (archive limit 2048 MB, member size 192 bytes)"


def test_parquet_decompression_bound(tiny, monkeypatch):
    buf = io.BytesIO()
    tiny.to_frame().to_parquet(buf, index=False)
    monkeypatch.setattr(data_module, "MAX_UNCOMPRESSED_BYTES", 10_000)
    with pytest.raises(DataError) as exc:
        load_de_train(buf.getvalue())
    assert re.fullmatch(r"too large uncompressed: 'upload' holds 0 MB of columns \(limit 0 MB\)", str(exc.value))


def test_values_bound_before_reading(tiny, monkeypatch):
    buf = io.BytesIO()
    tiny.to_frame().to_parquet(buf, index=False)
    monkeypatch.setattr(data_module, "MAX_VALUES", 1000)
    with pytest.raises(DataError) as exc:
        load_de_train(buf.getvalue())
    assert str(exc.value) == "too many values: 192 rows x 64 genes (limit 1,000)"


def test_reads_are_bounded(tmp_path):
    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 100)
    assert read_file(f, "input", 100) == b"x" * 100
    with pytest.raises(InputError) as exc:
        read_file(f, "input", 99)
    assert str(exc.value) == f"input: {str(f)!r} is too large (100 bytes; limit 99 bytes)"
    with pytest.raises(InputError) as exc:
        read_stream(io.BytesIO(b"y" * 10), "'up.parquet'", 9)
    assert str(exc.value) == "'up.parquet' is too large (more than 9 bytes)"


def test_output_checks(tmp_path):
    assert check_output_file(tmp_path / "new" / "deeper" / "x.csv") == tmp_path / "new" / "deeper" / "x.csv"
    assert check_output_dir(tmp_path / "model") == tmp_path / "model"
    (tmp_path / "model").mkdir()
    assert check_output_dir(tmp_path / "model") == tmp_path / "model"
    with pytest.raises(InputError) as exc:
        check_output_file(None, "--out")
    assert str(exc.value) == "--out is empty: give a file path"


NUMBER_CASES = [
    (finite_float("--w"), "nan", "--w must be a finite number, got 'nan'"),
    (finite_float("--w"), "1e999", "--w must be a finite number, got '1e999'"),
    (finite_float("--w", 0.0), "-0.5", "--w must be >= 0, got '-0.5'"),
    (finite_float("--w", None, 1.0), "2", "--w must be <= 1, got '2'"),
    (finite_float("--w"), "one", "--w must be a number, got 'one'"),
    (bounded_int("--n", 1, 10), "11", "--n must be <= 10, got 11"),
    (bounded_int("--n", 1, 10), "0", "--n must be >= 1, got 0"),
    (bounded_int("--n", 1, 10), " 2.0", "--n must be an integer, got ' 2.0'"),
    (bounded_int("--n", 1, 10), "1" * 50, f"--n must be an integer, got '{'1' * 40}'"),
]


@pytest.mark.parametrize("parse, text, expected", NUMBER_CASES, ids=[f"num{i}" for i in range(len(NUMBER_CASES))])
def test_number_types(parse, text, expected):
    with pytest.raises(argparse.ArgumentTypeError) as exc:
        parse(text)
    assert str(exc.value) == expected


def test_number_types_accept_good_values():
    assert finite_float("--w", 0.0, 1.0)("0.25") == 0.25
    assert bounded_int("--n", 1, 10)(" 7 ") == 7
