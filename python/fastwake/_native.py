"""Finds and imports the compiled module fastwake._fastwake, and says where the package's data is.

Two layouts (docs/install.md):
* a checkout: python/fastwake/ of the repository, the module built by CMake into
  BUILD/python/fastwake/ (found through build*/ or $FASTWAKE_BUILD_DIR), data in the
  repository's configs/ and experiments/;
* installed (`pip install .`, `cmake --install`): the module inside the package, the data
  in fastwake/data/{configs,experiments}/ (package data, the same tree as in the repository).
"""
from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
from pathlib import Path

#: The repository root (python/fastwake/_native.py -> ../..); meaningful only when IN_TREE.
REPO = Path(__file__).resolve().parents[2]
#: True when this package is python/fastwake/ of a checkout (not an installed copy).
IN_TREE = (REPO / "CMakeLists.txt").is_file() and (REPO / "python" / "fastwake" / "_native.py").is_file()
#: Where configs/ and experiments/ are: the repository, else the installed package data.
DATA = REPO if IN_TREE else Path(__file__).resolve().parent / "data"
#: Where default outputs (results/) go: the repository in a checkout, else the current folder.
WORK = REPO if IN_TREE else Path.cwd()


def _build_dirs() -> list[Path]:
    """Build directories to look in: $FASTWAKE_BUILD_DIR alone if set, else
    build/ first, then the other build*/ folders of the repository, newest first."""
    env = os.environ.get("FASTWAKE_BUILD_DIR")
    if env:
        return [Path(env)]
    if not IN_TREE:
        return []
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
    if not IN_TREE and not looked:
        raise ImportError(
            f"fastwake: the compiled module _fastwake is missing from {Path(__file__).parent} "
            "(a broken install: reinstall with `pip install .` or `cmake --install`, docs/install.md)")
    raise ImportError(
        "fastwake: the compiled module _fastwake is not built. Build it with "
        "`bash scripts/build.sh` (or set FASTWAKE_BUILD_DIR to your build directory).\n"
        f"  looked in: {', '.join(looked)}{hint}")


def module_dir(module) -> str:
    """The build directory (…/BUILD) the loaded module comes from."""
    return str(Path(module.__file__).resolve().parents[2])
