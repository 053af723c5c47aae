"""The record of slow work actually done: ``<cache>/events.log``, one line per event.

Each line is ``<unix time> <pid> <event> <key>``; :func:`record` appends one (training or loading the
default models, computing a compound map, building a value cube, the warm-up's start and end), and
:func:`read_events` reads them back. The tests and the browser benchmark use it to tell whether a page
repeated work the warm-up had done. A read-only cache never breaks the app: the line is then only logged.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from .io import cache_dir

log = logging.getLogger(__name__)

#: the cache file that lists the slow work done (``<time> <pid> <event> <key>`` per line)
EVENTS_FILE = "events.log"
#: events written to :data:`EVENTS_FILE`
EV_WARMUP_START = "warmup-start"
EV_WARMUP_DONE = "warmup-done"
EV_MODELS_TRAINED = "models-trained"
EV_MODELS_LOADED = "models-loaded"
EV_MAP_COMPUTED = "map-computed"
EV_CUBE_BUILT = "cube-built"  # key: "<dataset key>:predicted" or "<dataset key>:measured"


def record(event: str, key: str = "") -> None:
    """Append one line ``<unix time> <pid> <event> <key>`` to the cache's :data:`EVENTS_FILE`."""
    line = f"{time.time():.3f} {os.getpid()} {event} {key}".rstrip() + "\n"
    try:
        with open(cache_dir() / EVENTS_FILE, "a", encoding="utf-8") as fh:
            fh.write(line)
    except OSError as exc:  # a read-only cache must not break the app
        log.debug("could not record %s: %s", event, exc)
    log.info("%s %s", event, key)


def read_events(root: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The recorded events (``time``, ``pid``, ``event``, ``key``), oldest first."""
    path = Path(root) / EVENTS_FILE if root is not None else cache_dir() / EVENTS_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split(" ", 3)
        if len(parts) >= 3:
            out.append({"time": float(parts[0]), "pid": int(parts[1]), "event": parts[2],
                        "key": parts[3] if len(parts) > 3 else ""})
    return out
