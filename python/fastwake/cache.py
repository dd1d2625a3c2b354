"""On-disk result cache keyed by config hash (resolved config + MODEL_VERSION), so interrupted sweeps resume."""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from . import _fastwake
from ._fastwake import ConfigError
from ._native import WORK
from .results import write_text_atomic


def default_cache_dir() -> Path:
    """$FASTWAKE_CACHE, else .cache/fastwake/ in the repository (installed: in the current folder)."""
    env = os.environ.get("FASTWAKE_CACHE")
    return Path(env) if env else WORK / ".cache" / "fastwake"


class ResultCache:
    """Result documents by config hash: DIR/ab/abcdef….json, each written
    whole or not at all. With `directory=None` it only remembers in memory
    (shares points between sweeps of one process, nothing on disk).
    Thread-safe."""

    def __init__(self, directory: str | os.PathLike | None):
        self.directory = Path(directory) if directory is not None else None
        self._memory: dict[str, dict] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ResultCache({str(self.directory) if self.directory else None!r})"

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        if self.directory is None:
            return None
        path = self._path(key)
        try:
            entry = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable or truncated by hand: recompute (and overwrite)
        if (not isinstance(entry, dict) or entry.get("key") != key
                or entry.get("model_version") != _fastwake.MODEL_VERSION):
            return None
        doc = entry.get("doc")
        if (not isinstance(doc, dict) or not isinstance(doc.get("config"), dict)
                or not isinstance(doc.get("results"), list)):
            return None  # an entry edited or written by something else: recompute (and overwrite)
        with self._lock:
            self._memory[key] = doc
        return doc

    def check_writable(self) -> None:
        """Raises ConfigError naming the folder if results cannot be stored in
        it (a file in the way, no permission): called before a sweep runs
        anything, so it never fails after the first point was simulated."""
        if self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.directory, prefix=".probe.", suffix=".tmp")
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise ConfigError(f"cache: cannot store results in {self.directory}: "
                              f"{e.strerror or e} (pass cache=False or another folder)") from None

    def put(self, key: str, doc: dict[str, Any]) -> None:
        with self._lock:
            self._memory[key] = doc
        if self.directory is None:
            return
        entry = {"key": key, "model_version": _fastwake.MODEL_VERSION, "doc": doc}
        write_text_atomic(self._path(key), json.dumps(entry))

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None
