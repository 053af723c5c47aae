"""The input boundary: every user-supplied path, file, JSON document, array archive and number passes here.

Each check raises :class:`InputError` (a ``ValueError``) with one line that names the input, so the CLI
prints ``error: <message>`` and exits 2, and the app shows it in an error box.

* Special files (named pipes, devices, sockets, folders) are refused *before* they are opened, from
  ``os.stat``; a file is then opened non-blocking and checked again, so a swap after the check is
  caught too. Reads stop at a stated size limit.
* JSON is decoded with a size limit, a nesting limit, and without ``NaN``/``Infinity``/overflowing numbers.
* ``.npz`` archives: each member's declared array size is read from its header and bounded before any
  array is decompressed (a zip bomb is refused, never inflated); pickled members are refused.
* Output paths are checked (not empty, not a folder, parent a folder, writable) before any long
  computation starts.
* Command-line numbers: finite floats and bounded integers.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import stat
import zipfile
from pathlib import Path

import numpy as np

#: largest dataset file read (de_train.parquet; the real one is about 60 MB)
MAX_DATASET_BYTES = 2 * 2**30
#: largest id_map.csv / SMILES table read
MAX_TABLE_BYTES = 64 * 2**20
#: largest JSON document of a model folder
MAX_JSON_BYTES = 32 * 2**20
#: deepest nesting of a JSON document (the project's own files use fewer than 8 levels)
MAX_JSON_DEPTH = 64
#: largest weights.pt of a model folder
MAX_WEIGHTS_BYTES = 2 * 2**30
#: largest total uncompressed size of the arrays in a features.npz
MAX_NPZ_BYTES = 2 * 2**30
#: most members of a features.npz
MAX_NPZ_MEMBERS = 256


class InputError(ValueError):
    """A user-supplied input is refused; the message is one line naming it."""


def _kind(mode: int) -> str | None:
    """What a non-regular file is, for the message (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "not a regular file"


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


def check_regular_file(path: str | os.PathLike, label: str) -> os.stat_result:
    """``os.stat`` of ``path`` (symbolic links followed) when it is a regular file; else :class:`InputError`.

    ``label`` names the input in the message (e.g. ``"--data"``).
    """
    text = os.fspath(path)
    if not str(text).strip():
        raise InputError(f"{label} is empty: give a file path")
    try:
        st = os.stat(text)
    except FileNotFoundError:
        raise InputError(f"{label}: file not found: {str(text)!r}") from None
    except PermissionError:
        raise InputError(f"{label}: permission denied: {str(text)!r}") from None
    except (OSError, ValueError) as exc:  # name too long, a loop of links, an embedded NUL ...
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0]
        raise InputError(f"{label}: cannot open {str(text)!r} ({reason})") from None
    kind = _kind(st.st_mode)
    if kind:
        raise InputError(f"{label}: {str(text)!r} is {kind}")
    return st


def read_file(path: str | os.PathLike, label: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them (else :class:`InputError`)."""
    st = check_regular_file(path, label)
    text = os.fspath(path)
    if st.st_size > limit:
        raise InputError(f"{label}: {str(text)!r} is too large ({_mb(st.st_size)}; limit {_mb(limit)})")
    try:
        fd = os.open(text, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except PermissionError:
        raise InputError(f"{label}: permission denied: {str(text)!r}") from None
    except OSError as exc:
        raise InputError(f"{label}: cannot open {str(text)!r} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        kind = _kind(os.fstat(fd).st_mode)  # the path may have been swapped since the stat
        if kind:
            raise InputError(f"{label}: {str(text)!r} is {kind}")
        try:
            data = fh.read(limit + 1)
        except OSError as exc:
            raise InputError(f"{label}: cannot read {str(text)!r} ({exc.strerror})") from None
    if len(data) > limit:
        raise InputError(f"{label}: {str(text)!r} is too large (more than {_mb(limit)})")
    return data


def read_stream(fh, label: str, limit: int) -> bytes:
    """At most ``limit`` bytes of a binary file object (an upload); more is an :class:`InputError`."""
    data = fh.read(limit + 1)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InputError(f"{label}: expected binary data, got {type(data).__name__}")
    if len(data) > limit:
        raise InputError(f"{label} is too large (more than {_mb(limit)})")
    return bytes(data)


# ------------------------------------------------------------------------------------------ JSON


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:30]} is out of range")
    return value


def json_depth(obj) -> int:
    """Nesting depth of a decoded JSON value (a scalar is 0), without recursion."""
    deepest, stack = 0, [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            items = item.values()
        elif isinstance(item, list):
            items = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            return depth
        stack.extend((x, depth + 1) for x in items if isinstance(x, dict | list))
    return deepest


def parse_json(data: bytes, label: str, *, limit: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH,
               want: type | None = dict):
    """Decode a JSON document with limits; ``want`` is the required top-level type (None: any).

    Refused: more than ``limit`` bytes, invalid UTF-8 or JSON, ``NaN``/``Infinity`` or a number that
    overflows a float, nesting deeper than ``max_depth``, another top-level type than ``want``.
    """
    if len(data) > limit:
        raise InputError(f"{label} is too large ({_mb(len(data))}; limit {_mb(limit)})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{label} is not valid JSON (not UTF-8 text)") from None
    try:
        obj = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise InputError(f"{label} is nested too deeply (limit {max_depth} levels)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{label} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:  # NaN/Infinity, overflowing float, a too-long integer
        raise InputError(f"{label} is not valid JSON ({str(exc).splitlines()[0][:80]})") from None
    if json_depth(obj) > max_depth:
        raise InputError(f"{label} is nested too deeply (limit {max_depth} levels)")
    if want is not None and not isinstance(obj, want):
        kinds = {dict: "object", list: "list", str: "string", int: "number", float: "number", bool: "boolean"}
        found = kinds.get(type(obj), "null" if obj is None else type(obj).__name__)
        raise InputError(f"{label} must hold a JSON {kinds.get(want, want.__name__)}, "
                         f"found a{'n' if found[0] in 'aeiou' else ''} {found}")
    return obj


# ------------------------------------------------------------------------------------------ npz


def read_npz(data: bytes, label: str, *, limit: int = MAX_NPZ_BYTES,
             max_members: int = MAX_NPZ_MEMBERS) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (bytes), their declared sizes bounded before anything is decompressed.

    Each member's ``.npy`` header (shape, dtype) is read first; object arrays (pickles) are refused;
    the sum of the declared sizes must stay within ``limit`` bytes.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise InputError(f"{label} is unreadable ({str(exc).splitlines()[0] if str(exc) else 'not a zip archive'})") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise InputError(f"{label} has too many arrays ({len(infos)}; limit {max_members})")
        declared = sum(i.file_size for i in infos)
        if declared > limit:
            raise InputError(f"{label} is too large uncompressed ({_mb(declared)}; limit {_mb(limit)})")
        total, arrays = 0, {}
        for info in infos:
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            try:
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
                if dtype.hasobject:
                    raise InputError(f"{label} holds pickled objects (array {name!r}; refused)")
                nbytes = math.prod(shape) * dtype.itemsize
                total += nbytes
                if nbytes > info.file_size or total > limit:
                    raise InputError(f"{label}: array {name!r} declares {_mb(nbytes)} "
                                     f"(archive limit {_mb(limit)}, member size {_mb(info.file_size)})")
                with zf.open(info) as fh:
                    arrays[name] = np.lib.format.read_array(fh, allow_pickle=False)
            except InputError:
                raise
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError,
                    RuntimeError, TypeError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise InputError(f"{label} is unreadable (array {name!r}: {first[:120]})") from None
    return arrays


# ------------------------------------------------------------------------------------------ outputs


def _existing_ancestor(path: Path, option: str) -> Path:
    """The nearest existing ancestor folder of ``path``; a regular file on the way is refused."""
    for parent in path.absolute().parents:
        try:
            st = os.stat(parent)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise InputError(f"{option}: cannot use {str(path)!r} ({exc.strerror})") from None
        if not stat.S_ISDIR(st.st_mode):
            raise InputError(f"{option}: cannot write {str(path)!r}: {str(parent)!r} is a file, not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise InputError(f"{option}: cannot write {str(path)!r}: folder {str(parent)!r} is not writable")
        return parent
    raise InputError(f"{option}: cannot write {str(path)!r}: no existing parent folder")


def _output_target(path: str | os.PathLike | None, option: str, what: str) -> tuple[str, Path, os.stat_result | None]:
    """``(text, path, stat or None when nothing is there yet)`` of an output ``path``; an empty path or
    an unusable one (e.g. a name too long) is one :class:`InputError`."""
    text = "" if path is None else os.fspath(path)
    if not str(text).strip():
        raise InputError(f"{option} is empty: give a {what} path")
    p = Path(text)
    try:
        st = os.stat(p)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as exc:
        raise InputError(f"{option}: cannot use {str(text)!r} ({exc.strerror})") from None
    return text, p, st


def check_output_file(path: str | os.PathLike | None, option: str = "--out") -> Path:
    """``path`` as a :class:`Path` when a file can be written there; checked before any computation."""
    text, p, st = _output_target(path, option, "file")
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{option} must be a file path, got the folder {str(text)!r}")
        kind = _kind(st.st_mode)
        if kind:
            raise InputError(f"{option}: {str(text)!r} is {kind}")
        if not os.access(p, os.W_OK):
            raise InputError(f"{option}: {str(text)!r} is not writable")
    _existing_ancestor(p, option)
    return p


def check_output_dir(path: str | os.PathLike | None, option: str = "--out") -> Path:
    """``path`` as a :class:`Path` when a folder can be written there; checked before any computation."""
    text, p, st = _output_target(path, option, "folder")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{option} must be a folder, got the file {str(text)!r}")
    _existing_ancestor(p, option)
    return p


# ------------------------------------------------------------------------------------------ folders


def path_in_folder(path: str, folder: str | os.PathLike | None, label: str = "file path") -> Path:
    """``path`` resolved, when it lies inside ``folder`` (links resolved too); else :class:`InputError`.

    ``folder`` None means reading by path is turned off. A relative ``path`` is taken inside ``folder``.
    """
    if folder is None or not str(folder).strip():
        raise InputError(f"reading a {label} is turned off on this server; use Upload "
                         "(the operator can allow one folder with SCPERTURB_DATA_DIR)")
    root = Path(folder).expanduser().resolve()
    text = path.strip()
    if "\x00" in text:
        raise InputError(f"{label} {text!r} contains a NUL character")
    target = (root / Path(text).expanduser()).resolve()
    if target != root and root not in target.parents:
        raise InputError(f"{label} {text!r} is outside the data folder {str(root)!r}")
    return target


# ------------------------------------------------------------------------------------------ numbers


def finite_float(name: str, lo: float | None = None, hi: float | None = None):
    """An argparse type: a finite float, optionally within ``[lo, hi]``; the error names the option."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number, got {text!r}")
        if lo is not None and value < lo:
            raise argparse.ArgumentTypeError(f"{name} must be >= {lo:g}, got {text!r}")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"{name} must be <= {hi:g}, got {text!r}")
        return value
    return parse


def bounded_int(name: str, lo: int, hi: int):
    """An argparse type: an integer in ``[lo, hi]``; the error names the option and the bad value."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip()) if len(text) <= 40 else None
        except ValueError:
            value = None
        if value is None:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text[:40]!r}")
        if value < lo:
            raise argparse.ArgumentTypeError(f"{name} must be >= {lo}, got {value}")
        if value > hi:
            raise argparse.ArgumentTypeError(f"{name} must be <= {hi}, got {value}")
        return value
    return parse
