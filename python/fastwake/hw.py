"""Real threads from Python: loopback bench, host calibration, predicted vs measured.

These drive the C++ tool ``fastwake-bench`` (tools/; built as build/hw/fastwake-bench) as a
subprocess: real-thread runs pin threads and must not share the interpreter's process.

    import fastwake.hw as hw
    doc = hw.bench("configs/compare.json")          # loopback, result schema, backend "loopback"
    prof = hw.calibrate()                           # -> configs/platforms/host-<hostname>.json
    cmp = hw.compare()                              # model (calibrated into the cache) vs loopback
    hw.plot_compare(cmp, "results/compare")         # results/compare.png/.pdf
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import pandas as pd

from ._native import IN_TREE, _build_dirs


class BenchError(RuntimeError):
    """fastwake-bench failed (the message is the tool's own)."""


def bench_binary() -> Path:
    """The fastwake-bench executable of the build the package uses; for an installed
    package (or a checkout without one), the fastwake-bench on PATH (cmake --install, .deb)."""
    for build in _build_dirs():
        exe = build / "hw" / "fastwake-bench"
        if exe.exists():
            return exe
    found = shutil.which("fastwake-bench")
    if found:
        return Path(found)
    if not IN_TREE:
        raise FileNotFoundError("fastwake-bench is not on PATH: install the tools (`cmake --install`, "
                                "or the fastwake-tools .deb; docs/install.md)")
    raise FileNotFoundError("fastwake-bench is not built: run `bash scripts/build.sh` "
                            "(or set FASTWAKE_BUILD_DIR)")


def _config_args(config: str | os.PathLike | Mapping | None, tmp: Path) -> list[str]:
    if config is None:
        return []
    if isinstance(config, Mapping):
        path = tmp / "config.json"
        path.write_text(json.dumps(config))
        return [str(path)]
    return [str(config)]


def _run_tool(args: list[str], quiet: bool) -> str:
    proc = subprocess.run([str(bench_binary()), *args], text=True, stdout=subprocess.PIPE,
                          stderr=None if not quiet else subprocess.PIPE, check=False)
    if proc.returncode != 0:
        err = (proc.stderr or "").strip() if quiet else "see the messages above"
        if proc.returncode == 2:
            from . import ConfigError  # the same exception the simulator raises
            raise ConfigError(err)
        raise BenchError(f"fastwake-bench {' '.join(args[:1])} failed ({proc.returncode}): {err}")
    return proc.stdout


def _common(platform: str | None, sets: Iterable[str], cpus: Iterable[int] | None,
            nic_cpu: int | None) -> list[str]:
    from .runner import set_strings

    args: list[str] = []
    if platform:
        args += ["--platform", platform]
    for s in set_strings(sets):  # a dict {PATH: value} or 'PATH=VALUE' strings, as for fastwake.run
        args += ["--set", s]
    if cpus:
        args += ["--cpus", ",".join(str(c) for c in cpus)]
    if nic_cpu is not None:
        args += ["--nic-cpu", str(nic_cpu)]
    return args


def bench(config: str | os.PathLike | Mapping | None = None, *, platform: str | None = None,
          sets: Iterable[str] = (), cpus: Iterable[int] | None = None, nic_cpu: int | None = None,
          quiet: bool = True) -> dict:
    """Runs every strategy of the config on real threads with the loopback NIC;
    returns the result document (schema fastwake-result/1, backend "loopback")."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out = tmp / "result.json"
        args = ["loopback", *_config_args(config, tmp), *_common(platform, sets, cpus, nic_cpu),
                "--json", str(out)] + (["-q"] if quiet else [])
        _run_tool(args, quiet)
        return json.loads(out.read_text())


def calibrate(out: str | os.PathLike | None = None, *, iterations: int | None = None,
              name: str | None = None, quiet: bool = False) -> tuple[dict, str]:
    """Measures this host and writes its profile; returns (profile, summary text)."""
    args = ["calibrate"]
    if out:
        args += ["--out", str(out)]
    if iterations:
        args += ["--iterations", str(iterations)]
    if name:
        args += ["--name", name]
    text = _run_tool(args, quiet)
    path = next((line[len("wrote "):].strip() for line in text.splitlines()
                 if line.startswith("wrote ")), None)
    if not path:
        raise BenchError("fastwake-bench calibrate did not say where it wrote the profile")
    return json.loads(Path(path).read_text()), text


def compare(config: str | os.PathLike | Mapping | None = None, *, platform: str | None = None,
            sets: Iterable[str] = (), recalibrate: bool = False, cpus: Iterable[int] | None = None,
            nic_cpu: int | None = None, quiet: bool = True, rounds: int = 1) -> dict:
    """Simulates the config with this host's calibrated profile (calibrating
    first if needed) and measures it on the loopback; returns the compare
    document {"rows": [...], "measured": doc, "predicted": doc, "platform": name}.
    With rounds > 1: that many (calibrate, measure) rounds interleaved; rows hold
    the mean errors and "error_p50_ci95" etc. (half-width of the 95 % t-interval),
    and "rounds" every round's document."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= 100:
        from .config import ConfigError
        raise ConfigError(f"rounds: expected a whole number 1..100, got {rounds!r}")
    if platform is not None:
        return _compare_tool(config, platform, sets, recalibrate, cpus, nic_cpu, quiet, rounds)
    # Calibrate into the cache folder, never into the source tree (the tool's own default is
    # configs/platforms/host-NAME.json), then predict with that profile; one (calibrate, measure)
    # pair per round, so the drift of a shared machine shows as the spread of the error.
    profile = calibration_path()
    profile.parent.mkdir(parents=True, exist_ok=True)
    docs = []
    for _ in range(rounds):
        calibrate(profile, quiet=quiet)
        docs.append(_compare_tool(config, str(profile), sets, False, cpus, nic_cpu, quiet, 1))
    return docs[0] if rounds == 1 else combine_rounds(docs)


def calibration_path() -> Path:
    """Where compare keeps this host's fresh calibration: CACHE/platforms/host-NAME.json
    (fastwake.default_cache_dir()). `fastwake calibrate` without --out still writes
    configs/platforms/host-NAME.json, where --platform host-NAME finds it."""
    import socket

    from .cache import default_cache_dir

    host = socket.gethostname().split(".")[0] or "localhost"
    return default_cache_dir() / "platforms" / f"host-{host}.json"


def _compare_tool(config, platform, sets, recalibrate, cpus, nic_cpu, quiet, rounds) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out = tmp / "compare.json"
        args = ["compare", *_config_args(config, tmp), *_common(platform, sets, cpus, nic_cpu),
                "--json", str(out)] + (["--recalibrate"] if recalibrate else []) + \
               (["-q"] if quiet else []) + (["--rounds", str(rounds)] if rounds > 1 else [])
        _run_tool(args, quiet)
        return json.loads(out.read_text())


def combine_rounds(docs: list[dict]) -> dict:
    """Several one-round compare documents as one (what `fastwake-bench compare --rounds N`
    writes): per strategy the mean measured/predicted latencies, the mean error and
    error_Q_ci95, the half-width of its 95 % t-interval; "rounds" keeps every document."""
    from .stats import t_halfwidth

    rows = []
    for i, first in enumerate(docs[0]["rows"]):
        row = {"strategy": first["strategy"], "rounds": len(docs)}
        for q in [q for q in ("p50", "p99", "mean") if f"error_{q}" in first]:
            for side in ("measured", "predicted"):
                k = f"{side}_{q}_us"
                row[k] = sum(d["rows"][i][k] for d in docs) / len(docs)
            errs = [d["rows"][i][f"error_{q}"] for d in docs]
            row[f"error_{q}"] = sum(errs) / len(errs)
            row[f"error_{q}_ci95"] = t_halfwidth(errs)
        rows.append(row)
    return {"schema": "fastwake-compare/1", "platform": docs[-1]["platform"], "rows": rows, "rounds": docs}


def compare_frame(cmp: Mapping[str, Any]) -> pd.DataFrame:
    """One row per strategy: measured/predicted p50, p99, mean (us) and relative errors."""
    return pd.DataFrame(cmp["rows"]).set_index("strategy")


def plot_compare(cmp: Mapping[str, Any], out_prefix: str | os.PathLike | None = None, *, ax=None):
    """Measured vs predicted p50 and p99 per strategy on linear axes, each predicted bar labelled
    with the model error (signed %, ± its 95 % interval over several rounds): plots.compare.
    Saves OUT.png and OUT.pdf when out_prefix is given; returns the axes."""
    from . import plots

    axes = plots.compare(cmp, ax=ax)
    if out_prefix is not None:
        plots.save(axes, out_prefix)
    return axes


__all__ = ["BenchError", "bench", "bench_binary", "calibrate", "compare", "compare_frame",
           "plot_compare"]
