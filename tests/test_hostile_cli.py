"""Hostile command lines: every one exits 2 with its one-line message, within the time bound, before
any long computation, and never changes an input file."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from scperturb_core.cli import main
from tests.hostile.cli_args import CLI_CASES, CliCase

TIME_BOUND_S = 10


@pytest.fixture()
def places(tmp_path: Path) -> dict[str, str]:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    file = tmp_path / "file.txt"
    file.write_text("id,cell_type,sm_name\n")
    zero = tmp_path / "zero.parquet"
    zero.symlink_to("/dev/zero")
    loop = tmp_path / "loop.parquet"
    loop.symlink_to(loop)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    out = tmp_path / "out"
    out.mkdir()
    yield {"fifo": str(fifo), "dir": str(folder), "file": str(file), "zero": str(zero), "loop": str(loop),
           "sock": str(sock_path), "tmp": str(out)}
    sock.close()


@contextlib.contextmanager
def _deadline(seconds: int):
    """Fail (instead of hanging the suite) if the command blocks, e.g. on a pipe."""
    def fire(_signum, _frame):
        raise TimeoutError(f"no answer within {seconds} s")
    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def test_corpus_is_large_and_unique():
    assert len({c.name for c in CLI_CASES}) == len(CLI_CASES) >= 120
    assert len({c.argv for c in CLI_CASES}) == len(CLI_CASES)


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_hostile_command_line_exits_2_with_its_message(case: CliCase, places, capsys):
    argv = [a.format(**places) for a in case.argv]
    file_before = Path(places["file"]).read_bytes()
    start = time.perf_counter()
    with _deadline(TIME_BOUND_S):
        code = main(argv)
    elapsed = time.perf_counter() - start
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert err and re.fullmatch(case.expected, err[-1]), err[-1:]
    if err[-1].startswith("error: "):
        assert len(err) == 1, err  # the CLI's own errors are one line
    assert elapsed < TIME_BOUND_S
    assert Path(places["file"]).read_bytes() == file_before
    assert Path(places["tmp"]).exists() and not any(Path(places["tmp"]).iterdir())  # nothing written


@pytest.mark.parametrize("option", ["--data", "--id-map"])
def test_a_real_process_on_a_fifo_exits_2_in_time(option, places):
    """The whole command in its own process (imports included): a pipe is refused, not waited on."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "scperturb_core", "info", option, places["fifo"]],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    elapsed = time.perf_counter() - start
    what = "dataset" if option == "--data" else "id_map"
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: {what}: {places['fifo']!r} is a named pipe (FIFO), not a regular file"
    assert elapsed < TIME_BOUND_S, f"{elapsed:.1f} s"
