"""A corpus of hostile command lines: special files as inputs, outputs that cannot be written, numbers
that are not finite or out of range. Each names the last stderr line the CLI must print (exit 2).

Placeholders in the arguments, filled by tests/test_hostile_cli.py: ``{fifo}`` a named pipe, ``{dir}``
a folder, ``{file}`` a regular file, ``{sock}`` a socket, ``{zero}`` a link to /dev/zero, ``{loop}``
a link to itself, ``{tmp}`` a fresh folder.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CliCase:
    name: str
    argv: tuple[str, ...]
    expected: str  # regex for the last stderr line


P = r"'[^']+'"  # a quoted path
FIFO = r"is a named pipe \(FIFO\), not a regular file"
DEVICE = r"is a device, not a regular file"
FOLDER = r"is a folder, not a file"
SOCKET = r"is a socket, not a regular file"


def _arg(option: str, msg: str) -> str:
    return rf"^python -m scperturb_core \S+: error: argument {option}: {msg}$"


SPECIAL = [("{fifo}", FIFO), ("/dev/zero", DEVICE), ("/dev/urandom", DEVICE), ("/dev/null", DEVICE),
           ("{zero}", DEVICE), ("{dir}", FOLDER), ("{sock}", SOCKET)]

CLI_CASES: list[CliCase] = [
    # ---- special files as inputs: refused before they are opened
    *[CliCase(f"info --data {path}", ("info", "--data", path), rf"^error: dataset: {P} {msg}$") for path, msg in SPECIAL],
    *[CliCase(f"info --id-map {path}", ("info", "--id-map", path), rf"^error: id_map: {P} {msg}$") for path, msg in SPECIAL],
    *[CliCase(f"rank --data {path}", ("rank", "--genes", "CD69", "--measured-only", "--data", path),
              rf"^error: dataset: {P} {msg}$") for path, msg in SPECIAL[:3]],
    *[CliCase(f"train --data {path}", ("train", "--data", path, "--out", "{tmp}/m"),
              rf"^error: dataset: {P} {msg}$") for path, msg in SPECIAL[:3]],
    *[CliCase(f"benchmark --data {path}", ("benchmark", "--data", path), rf"^error: dataset: {P} {msg}$")
      for path, msg in SPECIAL[:2]],
    *[CliCase(f"predict --id-map {path}", ("predict", "--model-dir", "{dir}", "--id-map", path, "--out", "{tmp}/s.csv"),
              rf"^error: id_map: {P} {msg}$") for path, msg in SPECIAL],
    *[CliCase(f"predict-smiles --smiles-file {path}", ("predict-smiles", "--smiles-file", path, "--out", "{tmp}/p.csv"),
              rf"^error: --smiles-file: {P} {msg}$") for path, msg in SPECIAL],
    CliCase("info --data a link loop", ("info", "--data", "{loop}"),
            rf"^error: dataset: cannot open {P} \(Too many levels of symbolic links\)$"),
    CliCase("info --data a 5000-character name", ("info", "--data", "a" * 5000),
            r"^error: dataset: cannot open 'a+' \(File name too long\)$"),
    CliCase("info --data under a file", ("info", "--data", "{file}/de_train.parquet"),
            rf"^error: dataset: cannot open {P} \(Not a directory\)$"),
    CliCase("info --data missing", ("info", "--data", "{tmp}/nothing.parquet"), rf"^error: dataset: file not found: {P}$"),
    CliCase("info --data empty path", ("info", "--data", ""), r"^error: dataset is empty: give a file path$"),
    CliCase("info --data spaces", ("info", "--data", "   "), r"^error: dataset is empty: give a file path$"),
    CliCase("info --id-map empty path", ("info", "--id-map", ""), r"^error: id_map is empty: give a file path$"),
    CliCase("info --data /proc/self/mem", ("info", "--data", "/proc/self/mem"),
            rf"^error: dataset: cannot read {P} \(Input/output error\)$"),
    # ---- outputs: checked before any computation
    CliCase("demo-data --out ''", ("demo-data", "--out", ""), r"^error: --out is empty: give a folder path$"),
    CliCase("demo-data --out spaces", ("demo-data", "--out", "  "), r"^error: --out is empty: give a folder path$"),
    CliCase("demo-data --out a file", ("demo-data", "--out", "{file}"), rf"^error: --out must be a folder, got the file {P}$"),
    CliCase("demo-data --out under a file", ("demo-data", "--out", "{file}/sub"),
            rf"^error: --out: cannot write {P}: {P} is a file, not a folder$"),
    CliCase("demo-data --out a FIFO", ("demo-data", "--out", "{fifo}"), rf"^error: --out must be a folder, got the file {P}$"),
    CliCase("train --out ''", ("train", "--data", "demo", "--out", ""), r"^error: --out is empty: give a folder path$"),
    CliCase("train --out a file", ("train", "--data", "demo", "--out", "{file}"), rf"^error: --out must be a folder, got the file {P}$"),
    CliCase("train --out under a file", ("train", "--data", "demo", "--out", "{file}/model"),
            rf"^error: --out: cannot write {P}: {P} is a file, not a folder$"),
    CliCase("train --out deep under a file", ("train", "--data", "demo", "--out", "{file}/a/b/c"),
            rf"^error: --out: cannot write {P}: {P} is a file, not a folder$"),
    CliCase("train --out /dev/null", ("train", "--data", "demo", "--out", "/dev/null"),
            rf"^error: --out must be a folder, got the file {P}$"),
    CliCase("predict --out ''", ("predict", "--model-dir", "{dir}", "--id-map", "{file}", "--out", ""),
            r"^error: --out is empty: give a file path$"),
    CliCase("predict --out a folder", ("predict", "--model-dir", "{dir}", "--id-map", "{file}", "--out", "{dir}"),
            rf"^error: --out must be a file path, got the folder {P}$"),
    CliCase("predict --out under a file", ("predict", "--model-dir", "{dir}", "--id-map", "{file}", "--out", "{file}/s.csv"),
            rf"^error: --out: cannot write {P}: {P} is a file, not a folder$"),
    CliCase("predict --out a FIFO", ("predict", "--model-dir", "{dir}", "--id-map", "{file}", "--out", "{fifo}"),
            rf"^error: --out: {P} {FIFO}$"),
    CliCase("predict --out /dev/zero", ("predict", "--model-dir", "{dir}", "--id-map", "{file}", "--out", "/dev/zero"),
            rf"^error: --out: {P} {DEVICE}$"),
    CliCase("rank --out a folder", ("rank", "--genes", "CD69", "--out", "{dir}"), rf"^error: --out must be a file path, got the folder {P}$"),
    CliCase("rank --out ''", ("rank", "--genes", "CD69", "--out", ""), r"^error: --out is empty: give a file path$"),
    CliCase("rank --out under a file", ("rank", "--genes", "CD69", "--out", "{file}/r.csv"),
            rf"^error: --out: cannot write {P}: {P} is a file, not a folder$"),
    CliCase("rank --out a socket", ("rank", "--genes", "CD69", "--out", "{sock}"), rf"^error: --out: {P} {SOCKET}$"),
    CliCase("predict-smiles --out a folder", ("predict-smiles", "--smiles", "CCO", "--out", "{dir}"),
            rf"^error: --out must be a file path, got the folder {P}$"),
    CliCase("predict-smiles --out ''", ("predict-smiles", "--smiles", "CCO", "--out", ""), r"^error: --out is empty: give a file path$"),
    CliCase("predict-smiles --out under a file", ("predict-smiles", "--smiles", "CCO", "--out", "{file}/p.parquet"),
            rf"^error: --out: cannot write {P}: {P} is a file, not a folder$"),
    CliCase("benchmark --out a folder", ("benchmark", "--out", "{dir}"), rf"^error: --out must be a file path, got the folder {P}$"),
    CliCase("benchmark --out ''", ("benchmark", "--out", ""), r"^error: --out is empty: give a file path$"),
    CliCase("benchmark --out under a file", ("benchmark", "--out", "{file}/b.json"),
            rf"^error: --out: cannot write {P}: {P} is a file, not a folder$"),
    # ---- numbers
    *[CliCase(f"--keep-weight {v}", ("rank", "--genes", "CD69", "--keep", "CD4", f"--keep-weight={v}"),
              _arg("--keep-weight", rf"--keep-weight must be a finite number, got '{v}'"))
      for v in ("nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309", "-1e400")],
    *[CliCase(f"--keep-weight {v!r}", ("rank", "--genes", "CD69", "--keep-weight", v),
              _arg("--keep-weight", rf"--keep-weight must be a number, got '{v}'"))
      for v in ("abc", "", "1,5", "0x10", "1/2", "½")],
    CliCase("--keep-weight -1", ("rank", "--genes", "CD69", "--keep-weight", "-1"),
            _arg("--keep-weight", r"--keep-weight must be >= 0, got '-1'")),
    CliCase("--keep-weight -1e-9", ("rank", "--genes", "CD69", "--keep-weight=-1e-9"),
            _arg("--keep-weight", r"--keep-weight must be >= 0, got '-1e-9'")),
    CliCase("--keep-weight 1e7", ("rank", "--genes", "CD69", "--keep-weight", "1e7"),
            _arg("--keep-weight", r"--keep-weight must be <= 1e\+06, got '1e7'")),
    CliCase("--keep-weight 1e308", ("rank", "--genes", "CD69", "--keep-weight", "1e308"),
            _arg("--keep-weight", r"--keep-weight must be <= 1e\+06, got '1e308'")),
    *[CliCase(f"--top {v!r}", ("rank", "--genes", "CD69", "--top", v), _arg("--top", rf"--top must be an integer, got '{v[:40]}'"))
      for v in ("abc", "1.5", "1e9", "", "nan", "0x10", "9" * 41)],
    CliCase("--top -1", ("rank", "--genes", "CD69", "--top", "-1"), _arg("--top", r"--top must be >= 0, got -1")),
    CliCase("--top 2**70", ("rank", "--genes", "CD69", "--top", str(2**70)),
            _arg("--top", r"--top must be <= 1000000, got 1180591620717411303424")),
    *[CliCase(f"train --epochs {v!r}", ("train", "--data", "demo", "--out", "{tmp}/m", "--epochs", v),
              _arg("--epochs", rf"--epochs must be an integer, got '{v}'")) for v in ("abc", "1.5", "nan", "")],
    CliCase("train --epochs 0", ("train", "--data", "demo", "--out", "{tmp}/m", "--epochs", "0"),
            _arg("--epochs", r"--epochs must be >= 1, got 0")),
    CliCase("train --epochs -1", ("train", "--data", "demo", "--out", "{tmp}/m", "--epochs", "-1"),
            _arg("--epochs", r"--epochs must be >= 1, got -1")),
    CliCase("train --epochs 10**7", ("train", "--data", "demo", "--out", "{tmp}/m", "--epochs", str(10**7)),
            _arg("--epochs", r"--epochs must be <= 1000000, got 10000000")),
    CliCase("train --seed -1", ("train", "--data", "demo", "--out", "{tmp}/m", "--seed", "-1"), _arg("--seed", r"--seed must be >= 0, got -1")),
    CliCase("train --seed 2**32", ("train", "--data", "demo", "--out", "{tmp}/m", "--seed", str(2**32)),
            _arg("--seed", r"--seed must be <= 4294967295, got 4294967296")),
    CliCase("train --seed 2**70", ("train", "--data", "demo", "--out", "{tmp}/m", "--seed", str(2**70)),
            _arg("--seed", r"--seed must be <= 4294967295, got 1180591620717411303424")),
    CliCase("train --components 0", ("train", "--data", "demo", "--out", "{tmp}/m", "--components", "0"),
            _arg("--components", r"--components must be >= 1, got 0")),
    CliCase("train --components 5000", ("train", "--data", "demo", "--out", "{tmp}/m", "--components", "5000"),
            _arg("--components", r"--components must be <= 4096, got 5000")),
    CliCase("train --genes 60000", ("train", "--data", "demo", "--out", "{tmp}/m", "--genes", "60000"),
            _arg("--genes", r"--genes must be <= 50000, got 60000")),
    CliCase("benchmark --folds -1", ("benchmark", "--folds", "-1"), _arg("--folds", r"--folds must be >= 0, got -1")),
    CliCase("benchmark --folds 1001", ("benchmark", "--folds", "1001"), _arg("--folds", r"--folds must be <= 1000, got 1001")),
    CliCase("benchmark --folds inf", ("benchmark", "--folds", "inf"), _arg("--folds", r"--folds must be an integer, got 'inf'")),
    CliCase("benchmark --epochs 1e3", ("benchmark", "--epochs", "1e3"), _arg("--epochs", r"--epochs must be an integer, got '1e3'")),
    CliCase("benchmark --seed abc", ("benchmark", "--seed", "abc"), _arg("--seed", r"--seed must be an integer, got 'abc'")),
    CliCase("benchmark --genes 0", ("benchmark", "--genes", "0"), _arg("--genes", r"--genes must be >= 1, got 0")),
    CliCase("benchmark --genes 2.5", ("benchmark", "--genes", "2.5"), _arg("--genes", r"--genes must be an integer, got '2\.5'")),
    CliCase("benchmark --components 1e2", ("benchmark", "--components", "1e2"),
            _arg("--components", r"--components must be an integer, got '1e2'")),
    CliCase("train --seed 0.5", ("train", "--data", "demo", "--out", "{tmp}/m", "--seed", "0.5"),
            _arg("--seed", r"--seed must be an integer, got '0\.5'")),
    CliCase("train --genes -3", ("train", "--data", "demo", "--out", "{tmp}/m", "--genes", "-3"),
            _arg("--genes", r"--genes must be >= 1, got -3")),
    CliCase("train --data a folder", ("train", "--data", "{dir}", "--out", "{tmp}/m"), rf"^error: dataset: {P} {FOLDER}$"),
    CliCase("train --data a socket", ("train", "--data", "{sock}", "--out", "{tmp}/m"), rf"^error: dataset: {P} {SOCKET}$"),
    CliCase("benchmark --data /dev/null", ("benchmark", "--data", "/dev/null"), rf"^error: dataset: {P} {DEVICE}$"),
    CliCase("benchmark --data a link to /dev/zero", ("benchmark", "--data", "{zero}"), rf"^error: dataset: {P} {DEVICE}$"),
    CliCase("rank --data a folder", ("rank", "--genes", "CD69", "--data", "{dir}"), rf"^error: dataset: {P} {FOLDER}$"),
    CliCase("rank --data a link loop", ("rank", "--genes", "CD69", "--data", "{loop}"),
            rf"^error: dataset: cannot open {P} \(Too many levels of symbolic links\)$"),
    CliCase("predict-smiles --data a FIFO", ("predict-smiles", "--smiles", "CCO", "--data", "{fifo}", "--out", "{tmp}/p.csv"),
            rf"^error: dataset: {P} {FIFO}$"),
    CliCase("predict-smiles --smiles-file a link loop", ("predict-smiles", "--smiles-file", "{loop}", "--out", "{tmp}/p.csv"),
            rf"^error: --smiles-file: cannot open {P} \(Too many levels of symbolic links\)$"),
    CliCase("train --model gru", ("train", "--data", "demo", "--out", "{tmp}/m", "--model", "gru"),
            _arg("--model", r"--model must be one of [a-z, ]+, got 'gru'")),
    CliCase("benchmark --model empty", ("benchmark", "--model", ""), _arg("--model", r"--model must be one of [a-z, ]+, got ''")),
    CliCase("benchmark --components -5", ("benchmark", "--components", "-5"), _arg("--components", r"--components must be >= 1, got -5")),
]
