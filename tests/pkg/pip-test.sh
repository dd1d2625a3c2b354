#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# CTest driver (label pkg): `pip install .` as a user does it, offline, with Debian's packages,
# into a fresh virtual environment (--system-site-packages: numpy, pandas, matplotlib from
# Debian; the machine's own site-packages are not touched), then from /tmp, outside the checkout:
# `import fastwake` (version, data files, a short simulation with "meta") and `fastwake --version`.
#
# With --build-dir DIR, pip builds the module in that (configured, built) CMake build through
# FASTWAKE_PIP_BUILD_DIR instead of configuring build-pip/cmake/ from scratch: CTest's choice, so
# the test does not compile the toolkit a second time; everything else is the user's path.
#
# usage: pip-test.sh --source DIR --out DIR --python /usr/bin/python3 --version X.Y.Z [--build-dir DIR]
set -euo pipefail
SRC="" OUT="" PY="" VERSION="" BUILD=""
while [ $# -gt 0 ]; do
  case $1 in
    --source) SRC=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --version) VERSION=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    *) echo "pip-test: unknown option '$1'" >&2; exit 2 ;;
  esac
done
fail() { echo "FAIL: $*"; exit 1; }
"$PY" -c 'import venv, ensurepip, setuptools, wheel' 2>/dev/null \
  || { echo "SKIP: $PY lacks venv/pip/setuptools/wheel (python3-venv python3-pip python3-setuptools python3-wheel; scripts/install-deps.sh)"; exit 77; }
rm -rf "$OUT/venv" "$OUT/src"
mkdir -p "$OUT/src"
# pip builds in the folder it is given (setuptools' build-pip/, the egg-info): a copy of the
# checkout's files, so the test writes nothing into the source tree.
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$SRC" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$OUT/src"
else
  (cd "$SRC" && tar --exclude='./build*' --exclude=./.cache --exclude=./results -cf - .) | tar -xf - -C "$OUT/src"
fi
"$PY" -m venv --system-site-packages "$OUT/venv"
VPY=$OUT/venv/bin/python3
# --no-build-isolation: setuptools and wheel from Debian, no index needed; --no-index: offline.
(cd "$OUT/src" && FASTWAKE_PIP_BUILD_DIR=$BUILD "$VPY" -m pip install --no-build-isolation --no-index . ) >"$OUT/pip.log" 2>&1 \
  || { tail -40 "$OUT/pip.log"; fail "pip install . failed (log: $OUT/pip.log)"; }
"$VPY" -m pip check >/dev/null 2>&1 || { "$VPY" -m pip check; fail "pip check: a dependency of fastwake is missing"; }
cd /tmp
env -u PYTHONPATH -u FASTWAKE_BUILD_DIR MPLBACKEND=Agg "$VPY" - "$VERSION" "$SRC" <<'PYEOF' || fail "the installed package does not work from /tmp"
import sys
from pathlib import Path
import fastwake
want, src = sys.argv[1], Path(sys.argv[2]).resolve()
print("fastwake", fastwake.__version__, "from", fastwake.__file__)
assert fastwake.__version__ == want, (fastwake.__version__, want)
pkg = Path(fastwake.__file__).resolve().parent
assert pkg != src / "python" / "fastwake" and "site-packages" in pkg.parts, \
    f"imported {pkg}, not the package pip installed"
from fastwake import _native, experiments
assert not _native.IN_TREE and _native.DATA == pkg / "data", _native.DATA
names = [e.name for e in experiments.discover()]
assert "fig1_latency_vs_threads" in names, names
spec = experiments.load_spec(experiments.experiments_dir() / "fig1_latency_vs_threads" / "sweep.json")
assert spec["base"] is None or Path(spec["base"]).is_file(), spec["base"]
r = fastwake.run(sets=["run.duration_ms=2", "run.warmup_ms=0"])
m = r.doc["meta"]
assert m["toolkit_version"] == want and m["model_version"] == fastwake.MODEL_VERSION, m
assert {"numpy", "pandas", "matplotlib"} <= set(m["libraries"]), m["libraries"]
print("run:", len(r.results), "strategies; meta:", m["tool"], m["commit"], m["date"], m["host"])
PYEOF
got=$(env -u PYTHONPATH "$OUT/venv/bin/fastwake" --version) || fail "fastwake --version exited $?"
echo "fastwake --version: $got"
case "$got" in "fastwake $VERSION (commit "*) ;; *) fail "fastwake --version printed '$got'" ;; esac
echo PASS
