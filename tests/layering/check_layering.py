#!/usr/bin/env python3
"""The layering check (docs/design.md, "Folders"): fails when a source file or a
CMake target crosses a forbidden edge between the toolkit's folders.

    core/   policies, config          may use: C++ std, nlohmann/json, Eigen
    sim/    simulator, SimGrid fabric  may use: core, SimGrid
    hw/     real backends              may use: core, kmod (uapi), rdma-core
    kmod/   fastwake.ko                may use: kernel headers, its own uapi
    tools/, python/, tests/            above all of them (not checked)

Checked: every `#include` of every source and header under core/, sim/, hw/
and kmod/ (resolved against the folder of the file and the project's include
directories, so relative paths count too; SimGrid and rdma-core headers by
their prefixes), and every target_link_libraries / target_include_directories
of a target defined in one of those folders. Standard library only.

    check_layering.py [--root DIR]   exit 0, or 1 with one line per violation:
                                     FILE:LINE: FROM -> TO is forbidden: ...
    check_layering.py --self-test    plants violations in a scratch tree and
                                     checks that each one is reported
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

# Folder -> what it must not use. "simgrid" and "rdma-core" are external
# libraries; the rest are the project's top-level folders.
FORBIDDEN: dict[str, set[str]] = {
    "core": {"sim", "hw", "kmod", "tools", "python", "tests", "simgrid", "rdma-core"},
    "sim": {"hw", "kmod", "tools", "python", "tests", "rdma-core"},
    "hw": {"sim", "tools", "python", "tests", "simgrid"},
    "kmod": {"core", "sim", "hw", "tools", "python", "tests", "simgrid", "rdma-core"},
}
WHY = {
    "core": "core/ holds the policies every backend shares: no backend, no SimGrid, no rdma-core",
    "sim": "the simulator runs without real hardware: no hw/, kmod/ or rdma-core",
    "hw": "the real backends do not depend on the simulator: no sim/, no SimGrid "
          "(tools that need both live in tools/)",
    "kmod": "the kernel module shares only kmod/uapi/fastwake.h with user space",
}
CHECKED = tuple(FORBIDDEN)
# Where `#include "x"` / `<x>` of a project header is found (besides the
# including file's own folder), as the build's include directories say.
INCLUDE_ROOTS = ["core/include", "sim/include", "hw/include", "hw/verbs/include", "kmod", "tools"]
EXTERNAL_PREFIXES = {
    "simgrid/": "simgrid", "xbt/": "simgrid", "xbt.h": "simgrid", "simgrid.h": "simgrid",
    "infiniband/": "rdma-core", "rdma/": "rdma-core",
}
SOURCE_SUFFIXES = {".h", ".hh", ".hpp", ".hxx", ".c", ".cc", ".cpp", ".cxx", ".inc", ".ipp"}
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
# CMake: targets and what they link / include.
DEFINE_RE = re.compile(r"\b(?:add_library|add_executable|add_custom_target|pybind11_add_module)\s*\(\s*([A-Za-z0-9_.+-]+)",
                       re.IGNORECASE)
USE_RE = re.compile(r"\b(target_link_libraries|target_include_directories)\s*\(([^)]*)\)", re.IGNORECASE | re.DOTALL)
CMAKE_KEYWORDS = {"PUBLIC", "PRIVATE", "INTERFACE", "SYSTEM", "BEFORE", "AFTER", "LINK_PUBLIC",
                  "LINK_PRIVATE", "LINK_INTERFACE_LIBRARIES", "GLOBAL"}
EXTERNAL_TARGETS = {
    "pkgconfig::simgrid": "simgrid", "simgrid": "simgrid", "simgrid::simgrid": "simgrid",
    "pkgconfig::ibverbs": "rdma-core", "ibverbs": "rdma-core", "rdmacm": "rdma-core",
    "pkgconfig::rdmacm": "rdma-core",
}
EXTERNAL_VARS = {"SIMGRID_": "simgrid", "IBVERBS_": "rdma-core", "RDMACM_": "rdma-core"}
SKIP_DIRS = {".git", "build", "__pycache__"}


def component(rel: Path) -> str:
    """The top-level folder a repository path belongs to."""
    return rel.parts[0] if rel.parts else ""


def walk(root: Path, top: str):
    base = root / top
    if not base.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("build"))
        for f in sorted(filenames):
            yield Path(dirpath) / f


def resolve_include(root: Path, src: Path, name: str, quoted: bool) -> str | None:
    """The folder (or external library) an include refers to; None if neither."""
    for prefix, lib in EXTERNAL_PREFIXES.items():
        if name == prefix or name.startswith(prefix):
            return lib
    candidates = [src.parent / name] if quoted else []
    candidates += [root / r / name for r in INCLUDE_ROOTS]
    for c in candidates:
        try:
            p = c.resolve()
            rel = p.relative_to(root)
        except (OSError, ValueError):
            continue
        if p.is_file():
            return component(rel)
    # Not (yet) on disk, e.g. a header being written: the spelling still says whose it is.
    for prefix, top in (("fastwake/sim/", "sim"), ("fastwake/hw/", "hw"), ("uapi/fastwake", "kmod")):
        if name.startswith(prefix):
            return top
    return None


def check_includes(root: Path) -> list[str]:
    errors = []
    for top in CHECKED:
        for path in walk(root, top):
            if path.suffix not in SOURCE_SUFFIXES:
                continue
            rel = path.relative_to(root)
            try:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError as e:
                errors.append(f"{rel}: cannot read: {e}")
                continue
            for n, line in enumerate(lines, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                to = resolve_include(root, path, m.group(2), m.group(1) == '"')
                if to and to != top and to in FORBIDDEN[top]:
                    spelled = m.group(1) + m.group(2) + ('"' if m.group(1) == '"' else ">")
                    errors.append(f"{rel}:{n}: {top}/ -> {to} is forbidden: #include {spelled} ({WHY[top]})")
    return errors


def cmake_files(root: Path):
    for top in sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in SKIP_DIRS
                      and not p.name.startswith("build") and not p.name.startswith(".")):
        for path in walk(root, top):
            if path.name == "CMakeLists.txt" or path.suffix == ".cmake":
                yield path
    if (root / "CMakeLists.txt").is_file():
        yield root / "CMakeLists.txt"


def strip_comments(text: str) -> str:
    return "\n".join(re.sub(r"#.*$", "", line) for line in text.splitlines())


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def path_component(root: Path, cmake_dir: Path, item: str) -> str | None:
    """The folder a path argument of target_include_directories points into."""
    for var, lib in EXTERNAL_VARS.items():
        if "${" + var in item:
            return lib
    s = item.replace("${PROJECT_SOURCE_DIR}", str(root)).replace("${CMAKE_SOURCE_DIR}", str(root))
    s = s.replace("${CMAKE_CURRENT_SOURCE_DIR}", str(cmake_dir)).replace("${CMAKE_CURRENT_LIST_DIR}", str(cmake_dir))
    if "${" in s or "$<" in s:
        return None
    p = Path(s)
    if not p.is_absolute():
        p = cmake_dir / p
    try:
        return component(p.resolve().relative_to(root))
    except (OSError, ValueError):
        return None


def check_cmake(root: Path) -> list[str]:
    texts = {p: strip_comments(p.read_text(encoding="utf-8", errors="replace")) for p in cmake_files(root)}
    owner: dict[str, str] = {}  # target -> folder that defines it
    for p, text in texts.items():
        rel = p.relative_to(root)
        for m in DEFINE_RE.finditer(text):
            owner.setdefault(m.group(1), component(rel) if len(rel.parts) > 1 else "")
    errors = []
    for p, text in texts.items():
        rel = p.relative_to(root)
        for m in USE_RE.finditer(text):
            args = m.group(2).split()
            if not args:
                continue
            target, items = args[0], [a for a in args[1:] if a.upper() not in CMAKE_KEYWORDS]
            top = owner.get(target)
            if top not in FORBIDDEN:
                continue
            for item in items:
                if m.group(1).lower() == "target_link_libraries":
                    to = owner.get(item) or EXTERNAL_TARGETS.get(item.lower())
                    if to is None:
                        for var, lib in EXTERNAL_VARS.items():
                            to = lib if "${" + var in item else to
                else:
                    to = path_component(root, p.parent, item)
                if to and to != top and to in FORBIDDEN[top]:
                    errors.append(f"{rel}:{line_of(text, m.start())}: {top}/ -> {to} is forbidden: "
                                  f"{m.group(1)}({target} ... {item}) ({WHY[top]})")
    return errors


def check(root: Path) -> list[str]:
    return check_includes(root) + check_cmake(root)


def self_test() -> int:
    """Each planted violation must be reported, and a clean tree must pass."""
    planted = {
        "core/src/a.cc": ('#include "fastwake/sim/engine.h"\n', "core/ -> sim"),
        "core/src/b.cc": ('#include "../../hw/src/x.h"\n', "core/ -> hw"),
        "core/src/c.cc": ("#include <simgrid/s4u.hpp>\n", "core/ -> simgrid"),
        "core/src/d.cc": ("#include <infiniband/verbs.h>\n", "core/ -> rdma-core"),
        "core/src/e.cc": ("#include <uapi/fastwake.h>\n", "core/ -> kmod"),
        "sim/src/a.cc": ('#include "fastwake/hw/runtime.h"\n', "sim/ -> hw"),
        "hw/src/a.cc": ('  #  include "fastwake/sim/engine.h"\n', "hw/ -> sim"),
        "hw/src/c.cc": ('#include <fastwake/sim/not_written_yet.h>\n', "hw/ -> sim"),
        "hw/src/b.cc": ('#include "compare.h"  // tools/\n', "hw/ -> tools"),
        "kmod/m.c": ('#include "fastwake/types.h"\n', "kmod/ -> core"),
    }
    clean = {
        "core/include/fastwake/types.h": "#pragma once\n",
        "core/src/ok.cc": '#include "fastwake/types.h"\n#include <vector>\n#include <nlohmann/json.hpp>\n',
        "sim/include/fastwake/sim/engine.h": '#include "fastwake/types.h"\n',
        "sim/src/ok.cc": '#include "fastwake/sim/engine.h"\n#include <simgrid/s4u.hpp>\n#include "local.h"\n',
        "sim/src/local.h": "\n",
        "hw/include/fastwake/hw/runtime.h": '#include "fastwake/types.h"\n#include <uapi/fastwake.h>\n',
        "hw/src/x.h": "\n",
        "hw/src/ok.cc": '#include "fastwake/hw/runtime.h"\n#include <infiniband/verbs.h>\n',
        "kmod/uapi/fastwake.h": "#include <linux/types.h>\n",
        "kmod/ok.c": '#include <linux/module.h>\n#include "uapi/fastwake.h"\n',
        "tools/compare.h": '#include "fastwake/sim/engine.h"\n#include "fastwake/hw/runtime.h"\n',
        "CMakeLists.txt": "add_subdirectory(core)\n",
        "core/CMakeLists.txt": "add_library(fastwake_core src/ok.cc)\n"
                               "target_link_libraries(fastwake_core PUBLIC nlohmann_json::nlohmann_json)\n",
        "sim/CMakeLists.txt": "add_library(fastwake_sim src/ok.cc)\n"
                              "target_link_libraries(fastwake_sim PUBLIC fastwake_core PRIVATE PkgConfig::SIMGRID)\n",
        "hw/CMakeLists.txt": "add_library(fastwake_hw src/ok.cc)\n"
                             "target_link_libraries(fastwake_hw\n  PUBLIC fastwake_core PkgConfig::IBVERBS)\n",
        "tools/CMakeLists.txt": "add_executable(fastwake-bench x.cc)\n"
                                "target_link_libraries(fastwake-bench PRIVATE fastwake_hw fastwake_sim)\n",
    }
    cmake_planted = {
        "core": ("target_link_libraries(fastwake_core PRIVATE fastwake_sim)\n", "core/ -> sim"),
        "hw": ("target_link_libraries(fastwake_hw # the model\n  PRIVATE\n  fastwake_sim)\n", "hw/ -> sim"),
        "sim": ("target_include_directories(fastwake_sim PRIVATE ${PROJECT_SOURCE_DIR}/hw/include)\n",
                "sim/ -> hw"),
    }
    failures = []
    with tempfile.TemporaryDirectory(prefix="fw-layering-") as tmp:
        root = Path(tmp).resolve()
        for rel, text in clean.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        errors = check(root)
        if errors:
            failures.append("clean tree reported: " + "; ".join(errors))
        for rel, (text, edge) in planted.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
            errors = check(root)
            if not any(e.startswith(f"{rel}:1: {edge} is forbidden") for e in errors):
                failures.append(f"planted {edge} in {rel} not reported (got: {errors})")
            (root / rel).unlink()
        for top, (text, edge) in cmake_planted.items():
            f = root / top / "CMakeLists.txt"
            before = f.read_text()
            f.write_text(before + text)
            errors = check(root)
            line = before.count("\n") + 1
            if not any(e.startswith(f"{top}/CMakeLists.txt:{line}: {edge} is forbidden") for e in errors):
                failures.append(f"planted {edge} in {top}/CMakeLists.txt not reported (got: {errors})")
            f.write_text(before)
    for f in failures:
        print("self-test: " + f, file=sys.stderr)
    if not failures:
        print(f"self-test: {len(planted) + len(cmake_planted)} planted violations reported, clean tree passes")
    return 1 if failures else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                    help="repository root (default: this script's)")
    ap.add_argument("--self-test", action="store_true", help="check that planted violations are caught")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    root = a.root.resolve()
    errors = check(root)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"layering: {len(errors)} forbidden edge(s); see docs/design.md, \"Folders\"", file=sys.stderr)
        return 1
    print("layering: core/, sim/, hw/ and kmod/ cross no forbidden edge")
    return 0


if __name__ == "__main__":
    sys.exit(main())
