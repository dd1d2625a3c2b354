# SPDX-License-Identifier: Apache-2.0
"""`pip install .`: builds the native module fastwake._fastwake with CMake and packs it with the
fastwake package (python/fastwake/) and its data: configs/ and experiments/ of the repository,
as fastwake/data/{configs,experiments}/ (fastwake._native.DATA finds them there).

The version is CMake's project(VERSION) (CMakeLists.txt), read here: it is written in one place.
The CMake build lives in build-pip/cmake/ (incremental on a second install); CMAKE_ARGS adds
arguments to its configure step, FASTWAKE_PIP_JOBS sets its parallelism (default: 2).
FASTWAKE_PIP_BUILD_DIR=DIR uses an existing, configured CMake build directory instead (its
configuration is left as it is; only the target _fastwake is built there): the module is then
the one that build makes, which must be for this interpreter.
See docs/install.md.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


def project_version() -> str:
    text = (ROOT / "CMakeLists.txt").read_text()
    m = re.search(r"^project\(\s*fastwake\s+VERSION\s+([0-9]+(?:\.[0-9]+)*)", text, re.M)
    if not m:
        raise RuntimeError("setup.py: no `project(fastwake VERSION x.y.z ...)` in CMakeLists.txt")
    return m.group(1)


class CMakeExtension(Extension):
    def __init__(self, name: str):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    """Configures the repository with CMake (no tests, no benchmarks, for this interpreter)
    and builds the target _fastwake only; copies the module where setuptools wants it."""

    def build_extension(self, ext: Extension) -> None:
        cmake = shutil.which("cmake")
        if not cmake:
            raise RuntimeError("pip install .: needs cmake (Debian: cmake; scripts/install-deps.sh)")
        reuse = os.environ.get("FASTWAKE_PIP_BUILD_DIR")
        if reuse:
            build = Path(reuse).resolve()
            self._check_reused(build)
        else:
            build = ROOT / "build-pip" / "cmake"
            self._configure(cmake, build)
        jobs = os.environ.get("FASTWAKE_PIP_JOBS", "2")
        subprocess.run([cmake, "--build", str(build), "--target", "_fastwake", "-j", jobs], check=True)
        name = "_fastwake" + sysconfig.get_config_var("EXT_SUFFIX")
        built = build / "python" / "fastwake" / name
        if not built.is_file():
            raise RuntimeError(f"pip install .: CMake did not produce {built}")
        dest = Path(self.get_ext_fullpath(ext.name))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, dest)

    @staticmethod
    def _check_reused(build: Path) -> None:
        cache = build / "CMakeCache.txt"
        if not cache.is_file():
            raise RuntimeError(f"FASTWAKE_PIP_BUILD_DIR={build}: not a configured CMake build (no CMakeCache.txt)")
        m = re.search(r"^FASTWAKE_PYTHON:FILEPATH=(.*)$", cache.read_text(), re.M)
        if m and Path(m.group(1)).resolve() != Path(sys.executable).resolve():
            raise RuntimeError(f"FASTWAKE_PIP_BUILD_DIR={build} builds the module for {m.group(1)}, "
                               f"not for this interpreter ({sys.executable})")

    @staticmethod
    def _configure(cmake: str, build: Path) -> None:
        args = [cmake, "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                "-DFASTWAKE_BUILD_TESTS=OFF", "-DFASTWAKE_BUILD_BENCH=OFF",
                f"-DFASTWAKE_PYTHON={sys.executable}"]
        if shutil.which("ccache"):
            args += ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache", "-DCMAKE_C_COMPILER_LAUNCHER=ccache"]
        args += [a for a in os.environ.get("CMAKE_ARGS", "").split() if a]
        subprocess.run(args, check=True)


class BuildPyWithData(build_py):
    """The package plus configs/ and experiments/ as fastwake/data/ (same tree, so an
    experiment's "base": "../../configs/default.json" resolves as in the repository)."""

    def run(self) -> None:
        super().run()
        data = Path(self.build_lib) / "fastwake" / "data"
        for sub in ("configs", "experiments"):
            dest = data / sub
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(ROOT / sub, dest,
                            ignore=shutil.ignore_patterns("host-*.json", "__pycache__", "*.pyc"))


setup(version=project_version(),
      ext_modules=[CMakeExtension("fastwake._fastwake")],
      cmdclass={"build_ext": CMakeBuild, "build_py": BuildPyWithData})
