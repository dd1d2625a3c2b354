"""Real threads from Python: loopback bench, host calibration, predicted vs measured.

These drive the C++ tool ``fastwake-bench`` (tools/; built as build/hw/fastwake-bench) as a
subprocess: real-thread runs pin threads and must not share the interpreter's process.

    import fastwake.hw as hw
    doc = hw.bench("configs/compare.json")          # loopback, result schema, backend "loopback"
    prof = hw.calibrate()                           # -> configs/platforms/host-<hostname>.json
    cmp = hw.compare()                              # model (calibrated) vs loopback
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
    args: list[str] = []
    if platform:
        args += ["--platform", platform]
    for s in sets:
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
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        out = tmp / "compare.json"
        args = ["compare", *_config_args(config, tmp), *_common(platform, sets, cpus, nic_cpu),
                "--json", str(out)] + (["--recalibrate"] if recalibrate else []) + \
               (["-q"] if quiet else []) + (["--rounds", str(rounds)] if rounds > 1 else [])
        _run_tool(args, quiet)
        return json.loads(out.read_text())


def compare_frame(cmp: Mapping[str, Any]) -> pd.DataFrame:
    """One row per strategy: measured/predicted p50, p99, mean (us) and relative errors."""
    return pd.DataFrame(cmp["rows"]).set_index("strategy")


def plot_compare(cmp: Mapping[str, Any], out_prefix: str | os.PathLike | None = None):
    """Grouped bars, measured vs predicted p50 and p99 per strategy (log scale),
    each predicted bar labelled with its relative error. Saves PNG and PDF when
    out_prefix is given; returns the matplotlib Figure."""
    import matplotlib
    if out_prefix is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    df = compare_frame(cmp)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=False)
    x = np.arange(len(df))
    for ax, q in zip(axes, ("p50", "p99")):
        m = df[f"measured_{q}_us"].to_numpy()
        p = df[f"predicted_{q}_us"].to_numpy()
        ax.bar(x - 0.2, m, 0.4, label="measured (loopback)", color="#4c72b0")
        bars = ax.bar(x + 0.2, p, 0.4, label="predicted (model)", color="#dd8452")
        for b, e in zip(bars, df[f"error_{q}"].to_numpy()):
            ax.annotate(f"{100 * e:+.0f}%", (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=8)
        ax.set_xticks(x, df.index, rotation=15)
        ax.set_yscale("log")
        # Readable numbers on the log axis (1, 2, 5, 10, 20, ...), not just powers of ten.
        ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_ylabel(f"{q} round trip (µs, log scale)")
        ax.set_title(f"{q} latency")
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.legend(fontsize=8)
    machine = cmp["measured"]["results"][0].get("extra", {}).get("machine", "this host")
    fig.suptitle(f"Predicted vs measured, platform {cmp['platform']}\n{machine}", fontsize=10)
    fig.tight_layout()
    if out_prefix is not None:
        out_prefix = Path(out_prefix)
        out_prefix.parent.mkdir(parents=True, exist_ok=True)
        for ext in ("png", "pdf"):
            fig.savefig(out_prefix.with_suffix("." + ext), dpi=130)
    return fig


__all__ = ["BenchError", "bench", "bench_binary", "calibrate", "compare", "compare_frame",
           "plot_compare"]
