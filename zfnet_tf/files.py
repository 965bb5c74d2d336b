"""Writing files so that a reader never sees half of one: the one way the project does it.

A crash, a `kill -9` or a full disk while writing leaves the old file (or none), never a
partial one: everything is written to a temporary file beside the target (same folder, so
the same file system) and renamed over it only once complete (`os.replace` is atomic).
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[str]:
    """Yields a temporary path beside `path` to write to; on leaving the block it is renamed
    onto `path`, or removed if the block raised.

    `suffix` (default: `path`'s own extension) ends the temporary name, for writers that
    insist on one (`.keras`, `.npz`).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1] if suffix is None else suffix
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.tmp{suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text(path: str | os.PathLike, text: str) -> str:
    """Writes `text` (UTF-8) to `path` atomically; returns `path`."""
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
    return os.fspath(path)


def write_json(path: str | os.PathLike, values: Any, indent: int | None = 2) -> str:
    """Writes `values` as JSON to `path` atomically; returns `path`."""
    return write_text(path, json.dumps(values, indent=indent) + "\n")
