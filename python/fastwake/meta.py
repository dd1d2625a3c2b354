# SPDX-License-Identifier: Apache-2.0
"""The "meta" object of result documents and manifests (docs/design.md "Result metadata").

The C++ part (fastwake::result_meta: tool, toolkit and model version, commit, UTC date, host,
build, C++ libraries) comes from the native module; this adds the Python side's libraries.
"""
from __future__ import annotations

import platform
import sys
from importlib import metadata


def _dist_version(name: str) -> str | None:
    """A distribution's version without importing it (matplotlib is slow to import);
    the module's __version__ when it is already imported but has no metadata."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        mod = sys.modules.get(name)
        return getattr(mod, "__version__", None)


def python_libraries() -> dict:
    """{"python", "numpy", "pandas", "matplotlib"}: the versions this process uses
    (None for one that is not installed)."""
    return {"python": platform.python_version(),
            **{n: _dist_version(n) for n in ("numpy", "pandas", "matplotlib")}}


def add_python_libraries(meta: dict) -> dict:
    """Adds python_libraries() to meta["libraries"] (in place) and returns meta."""
    meta.setdefault("libraries", {}).update(python_libraries())
    return meta


def result_meta(tool: str) -> dict:
    """fastwake::result_meta(tool) with the Python libraries: what every document written
    from Python carries under "meta"."""
    from . import _fastwake

    return add_python_libraries(_fastwake.result_meta(tool))
