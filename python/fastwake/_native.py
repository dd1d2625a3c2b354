"""Finds and imports the compiled module fastwake._fastwake (built by CMake into BUILD/python/fastwake/)."""
from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
from pathlib import Path

#: The repository root (python/fastwake/_native.py -> ../..).
REPO = Path(__file__).resolve().parents[2]


def _build_dirs() -> list[Path]:
    """Build directories to look in: $FASTWAKE_BUILD_DIR alone if set, else
    build/ first, then the other build*/ folders of the repository, newest first."""
    env = os.environ.get("FASTWAKE_BUILD_DIR")
    if env:
        return [Path(env)]
    others = [p for p in REPO.glob("build*") if p.is_dir() and p.name != "build"]
    others.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    return [REPO / "build", *others]


def _has_module(folder: Path) -> bool:
    return any((folder / ("_fastwake" + s)).exists() for s in importlib.machinery.EXTENSION_SUFFIXES)


def load(package_path: list[str]):
    """Imports fastwake._fastwake, extending the package's __path__ with the
    build folder that holds it. Raises ImportError saying how to build it."""
    try:
        return importlib.import_module("fastwake._fastwake")
    except ImportError:
        pass
    looked = []
    for build in _build_dirs():
        folder = build / "python" / "fastwake"
        looked.append(str(folder))
        if _has_module(folder):
            package_path.append(str(folder))
            return importlib.import_module("fastwake._fastwake")
    foreign = [str(p) for b in _build_dirs() for p in (b / "python" / "fastwake").glob("_fastwake*.so")]
    hint = ""
    if foreign:
        hint = (f"\n  found {', '.join(foreign)}, built for another interpreter: run the "
                f"toolkit with /usr/bin/python3 (this is {sys.executable})")
    raise ImportError(
        "fastwake: the compiled module _fastwake is not built. Build it with "
        "`bash scripts/build.sh` (or set FASTWAKE_BUILD_DIR to your build directory).\n"
        f"  looked in: {', '.join(looked)}{hint}")


def module_dir(module) -> str:
    """The build directory (…/BUILD) the loaded module comes from."""
    return str(Path(module.__file__).resolve().parents[2])
