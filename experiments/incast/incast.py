#!/usr/bin/python3
"""Incast experiment (SimGrid fabric): 1..256 clients share the server's link; FastWake strategies vs
interrupts, latency and power vs clients. Writes OUT/incast.csv, OUT/incast.png and OUT/incast.pdf.

    ./fastwake incast [--quick] [--out DIR] [--executor dask ...]     (default OUT: results/incast/)
    python3 experiments/incast/incast.py [same options]

Every SimGrid simulation runs in its own process (the library starts fastwake-sim-fabric), so the
sweep runs on local threads or Dask like any other. Needs a build with SimGrid (libsimgrid-dev)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1] / "python") not in sys.path:  # this repository's fastwake package
    sys.path.insert(0, str(HERE.parents[1] / "python"))

import pandas as pd  # noqa: E402

NAME = "incast"
SPEC = HERE / "incast.json"
DEFAULT_OUT = HERE.parents[1] / "results" / "incast"


def load(quick: bool = False) -> dict:
    """incast.json with its quick settings merged in when `quick`."""
    spec = json.loads(SPEC.read_text())
    if quick:
        spec["set"].update(spec["quick"].get("set", {}))
        spec["clients"] = spec["quick"].get("clients", spec["clients"])
    return spec


def points(spec: dict) -> list[dict]:
    """One grid point per fabric x client count: N clients = N connections = app_cores x
    threads_per_core (fewer clients than cores: one per core)."""
    out = []
    for fabric in spec["fabrics"]:
        for n in spec["clients"]:
            cores = min(n, spec["app_cores"])
            if n % cores:
                raise ValueError(f"{SPEC}: {n} clients do not spread evenly over {cores} cores")
            out.append({"fabric.kind": fabric, "host.app_cores": cores, "workload.threads_per_core": n // cores})
    return out


def run(out: Path, quick: bool = False, executor: str = "local", jobs: int | None = None, scheduler=None,
        cache=True, progress: bool | None = None) -> Path:
    """Sweeps every point (both fabrics) and writes OUT/incast.csv; returns its path."""
    import fastwake
    from fastwake.results import write_text_atomic

    spec = load(quick)
    sets = [f"{k}={json.dumps(v)}" for k, v in spec["set"].items()]
    base = str((SPEC.parent / spec["base"]).resolve())
    frames, walls = [], {}
    for fabric in spec["fabrics"]:
        pts = [p for p in points(spec) if p["fabric.kind"] == fabric]
        t = time.perf_counter()
        df = fastwake.sweep(base, pts, sets=sets, executor=executor, jobs=jobs, scheduler=scheduler, cache=cache,
                            progress=progress, desc=f"{NAME} ({fabric} fabric)")
        walls[fabric] = (time.perf_counter() - t, df.attrs.get("computed", 0), df.attrs.get("cached", 0))
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df.insert(1, "clients", df["host.app_cores"] * df["workload.threads_per_core"])
    df.insert(2, "fabric", df["fabric.kind"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{NAME}.csv"
    write_text_atomic(path, df.to_csv(index=False))
    # What the plot needs besides the rows: the server link's rate (the star's server link).
    resolved = fastwake.resolve_config(base, sets=[*sets, 'fabric.kind="simgrid"'])
    meta = {"description": spec["description"], "quick": quick, "model_version": fastwake.MODEL_VERSION,
            "server_link_gbps": resolved["fabric"]["server_link_gbps"],
            "message_bytes": resolved["workload"]["message_bytes"]}
    write_text_atomic(out / f"{NAME}.json", json.dumps(meta, indent=2) + "\n")
    for fabric, (wall, computed, cached) in walls.items():
        print(f"{NAME}: {fabric} fabric: {computed} points simulated, {cached} from cache, {wall:.1f} s",
              file=sys.stderr)
    return path


def figure(df: pd.DataFrame, meta: dict | None = None):
    """2 x 2 panels vs clients: p50, p99, throughput (with the server link's capacity), power.
    Solid: SimGrid fabric; thin dashed: simple fabric (no contention)."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    from fastwake import plots

    strategies = [s for s in plots.STRATEGY_STYLE if s in set(df["strategy"])]
    strategies += sorted(set(df["strategy"]) - set(strategies))
    fig = Figure(figsize=(10, 7.6))
    axes = fig.subplots(2, 2, sharex=True).ravel()
    panels = [("latency_us.p50", "p50 latency (µs)", True), ("latency_us.p99", "p99 latency (µs)", True),
              ("throughput_rps", "throughput (M requests/s)", False), ("power_w", "host power (W, estimate)", False)]
    for ax, (col, label, log) in zip(axes, panels):
        for i, s in enumerate(strategies):
            st = plots.style(s, i)
            for fabric, kw in (("simgrid", dict(lw=1.8, ls="-", marker=st["marker"], ms=4)),
                               ("simple", dict(lw=0.9, ls="--", marker=None, alpha=0.7))):
                d = df[(df.strategy == s) & (df.fabric == fabric)].sort_values("clients")
                if d.empty:
                    continue
                y = d[col] / 1e6 if col == "throughput_rps" else d[col]
                ax.plot(d["clients"], y, color=st["color"], **kw)
        ax.set_ylabel(label)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        if log:
            ax.set_yscale("log")
            plots._log_us_axis(ax.yaxis)
        ax.grid(True, which="major", alpha=0.3)
    # The server link's capacity in requests/s (each request crosses it once each way).
    meta = meta or {}
    gbps, size = meta.get("server_link_gbps"), meta.get("message_bytes")
    if gbps and size:
        cap = gbps * 1e9 / 8 / size / 1e6
        axes[2].axhline(cap, color="k", lw=0.8, ls=":")
        axes[2].annotate("server link capacity", (1, cap), xytext=(2, -10), textcoords="offset points",
                         fontsize=8)
    for ax in axes[2:]:
        ax.set_xlabel("clients (connections), incast onto one server link")
    handles = [Line2D([], [], color=plots.style(s, i)["color"], marker=plots.style(s, i)["marker"], lw=1.8)
               for i, s in enumerate(strategies)]
    labels = [plots.legend_label(s) for s in strategies]
    handles += [Line2D([], [], color="0.3", lw=1.8), Line2D([], [], color="0.3", lw=0.9, ls="--")]
    labels += ["SimGrid fabric (star, shared server link)", "simple fabric (no contention)"]
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False, fontsize=8.5)
    fig.suptitle("Incast: clients share the server's link (SimGrid fabric, CM02)", fontsize=11)
    if meta.get("description"):
        import textwrap

        fig.text(0.5, 0.935, "\n".join(textwrap.wrap(meta["description"], 150)), ha="center", va="top",
                 fontsize=7)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.87, bottom=0.2, hspace=0.12, wspace=0.22)
    return fig


def plot(out: Path) -> list[Path]:
    """Draws OUT/incast.png and .pdf from OUT/incast.csv; returns the files written."""
    from fastwake import plots

    out = Path(out)
    df = pd.read_csv(out / f"{NAME}.csv")
    side = out / f"{NAME}.json"
    meta = json.loads(side.read_text()) if side.exists() else {}
    return plots.save(figure(df, meta), out / NAME)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--quick", action="store_true", help="3 client counts, 5 ms runs (CI)")
    ap.add_argument("--executor", choices=("local", "dask"), default="local")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--scheduler", default=None, help="Dask scheduler address")
    ap.add_argument("--no-cache", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    run(a.out, a.quick, a.executor, a.jobs, a.scheduler, not a.no_cache, False if a.no_progress else None)
    for p in [a.out / f"{NAME}.csv", *plot(a.out)]:
        print(p)
    print(f"{NAME}: wall time {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
