"""Paper-style figures drawn from sweep DataFrames / result files (matplotlib Figure objects; save as PNG and PDF)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .results import STAGES
from .stats import CONFIDENCE, aggregate

#: Legend text and line style per strategy: FastWake solid, baselines dashed, ablations dotted.
STRATEGY_STYLE: dict[str, dict] = {
    "busy_poll": dict(color="#4d4d4d", ls="--", marker="s",
                      desc="each thread spins on its CQ (baseline)"),
    "fastwake_poll": dict(color="#1f77b4", ls="-", marker="o",
                          desc="FastWake dispatcher + switch-to"),
    "fastwake_irq": dict(color="#2ca02c", ls="-", marker="^",
                         desc="FastWake IRQ remap + fastwake.ko wake path"),
    "fastwake_irq_affinity_only": dict(color="#8c9f3d", ls=":", marker="v",
                                       desc="ablation: IRQ remap only"),
    "fastwake_irq_wakepath_only": dict(color="#17becf", ls=":", marker="D",
                                       desc="ablation: fastwake.ko wake path only"),
    "fastwake_irq_deep": dict(color="#98df8a", ls="-.", marker="P",
                              desc="PROPOSAL (not in fastwake.ko): no uverbs event, head of run queue"),
    "interrupt": dict(color="#d62728", ls="--", marker="x",
                      desc="stock interrupt mode (baseline)"),
    "fastwake_adaptive": dict(color="#ff7f0e", ls="-", marker="*",
                              desc="per core: dispatcher or IRQ design by the energy break-even"),
}
_EXTRA_COLORS = ["#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#ff7f0e"]

#: Colour and legend text per request stage (core/include/fastwake/types.h).
STAGE_STYLE: dict[str, tuple[str, str]] = {
    "wire": ("#c7c7c7", "wire: client + link to server NIC"),
    "nic_rx": ("#9edae5", "nic_rx: NIC receive + CQE DMA"),
    "irq": ("#d62728", "irq: MSI-X, C-state exit, hardirq, softirq"),
    "handler": ("#ff9896", "handler: completion handler"),
    "wakeup": ("#9467bd", "wakeup: try-to-wake-up, IPI"),
    "wait_cpu": ("#8c564b", "wait_cpu: runnable, waiting for the CPU"),
    "sched": ("#e377c2", "sched: scheduler pick + context switch"),
    "read": ("#ff7f0e", "read: return from read() on channel"),
    "rearm": ("#ffbb78", "rearm: ack + re-arm CQ"),
    "poll": ("#1f77b4", "poll: finding the CQE by polling"),
    "queue": ("#dbdb8d", "queue: CQE waits for its busy thread"),
    "service": ("#2ca02c", "service: application work"),
    "tx": ("#7f7f7f", "tx: post reply, NIC tx, link back"),
}

PLATFORM_TITLE = {"x86": "x86 profile", "arm": "ARM profile"}
PLATFORM_ORDER = ("x86", "arm")


def style(strategy: str, index: int = 0) -> dict:
    s = STRATEGY_STYLE.get(strategy)
    if s is None:
        s = dict(color=_EXTRA_COLORS[index % len(_EXTRA_COLORS)], ls="-.", marker="P", desc="")
    return s


def legend_label(strategy: str) -> str:
    d = style(strategy)["desc"]
    return f"{strategy} — {d}" if d else strategy


def _platforms(df: pd.DataFrame) -> list[str]:
    have = list(dict.fromkeys(df["platform"]))
    return [p for p in PLATFORM_ORDER if p in have] + sorted(p for p in have if p not in PLATFORM_ORDER)


def _strategies(df: pd.DataFrame) -> list[str]:
    have = list(dict.fromkeys(df["strategy"]))
    known = [s for s in STRATEGY_STYLE if s in have]
    return known + [s for s in have if s not in STRATEGY_STYLE]


def _need(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: the data has no column {', '.join(missing)}")
    if df.empty:
        raise ValueError(f"{what}: no rows to plot")


def _one(df: pd.DataFrame, column: str):
    """The value of a column that is the same on every row (else None)."""
    if column not in df.columns:
        return None
    vals = df[column].dropna().unique()
    return vals[0] if len(vals) == 1 else None


def scenario_text(df: pd.DataFrame) -> str:
    """What the rows share, in words: workload kind, threads, service, think time."""
    parts = []
    kind = _one(df, "config.workload.kind")
    if kind == "pingpong":
        parts.append("closed-loop ping-pong")
    elif kind == "poisson":
        parts.append("open-loop Poisson arrivals")
    cores, tpc = _one(df, "config.host.app_cores"), _one(df, "config.workload.threads_per_core")
    if tpc is not None:
        n = int(cores) if cores is not None else None
        where = "one core" if n == 1 else f"each of {n} cores" if n else "each app core"
        parts.append(f"{int(tpc)} thread{'s' if tpc != 1 else ''} sharing {where}")
    svc = _one(df, "config.workload.service_ns")
    if svc is not None:
        parts.append(f"{svc / 1e3:g} µs service")
    think, tdist = _one(df, "config.workload.think_ns"), _one(df, "config.workload.think_dist")
    if kind == "pingpong" and think:
        parts.append(f"{think / 1e3:g} µs {'mean ' if tdist == 'exp' else ''}think time")
    return ", ".join(parts)


def _us_formatter():
    def fmt(v, _pos):
        if v >= 1000:
            return f"{v / 1000:g} ms"
        return f"{v:g}"
    return FuncFormatter(fmt)


def _log_us_axis(axis) -> None:
    """Log axis in µs labelled at 1-2-5 steps (ms above 1000 µs)."""
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(1, 10))))
    axis.set_major_formatter(_us_formatter())
    axis.set_minor_formatter(NullFormatter())


def _legend_below(fig: Figure, handles, labels, ncol: int = 2) -> None:
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, fontsize=9,
               bbox_to_anchor=(0.5, 0.0))


def _strategy_handles(ax) -> tuple[list, list]:
    handles, labels = ax.get_legend_handles_labels()
    return handles, labels



# ------------------------------------------------------------ seeds, bands, saturation

#: Legend text of a hollow marker (stats: `saturated` = an app core's load > 0.9).
SATURATED_LABEL = "hollow or ringed marker: an application core > 90 % busy (saturated)"


def _agg(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """The rows folded over their seeds (stats.aggregate): mean under each column's name, COL.lo/.hi
    the confidence interval, `saturated`, `n_seeds`."""
    a = aggregate(df, [c for c in cols if c in df.columns])
    if "saturated" not in a.columns:
        a["saturated"] = False
    return a


def _series(ax, d: pd.DataFrame, x: str, col: str, st: dict, label: str, gid: str, *,
            xs=None, positive: bool = False, ms: float = 5, lw: float = 1.8):
    """A strategy's line through the means, filled markers, hollow ones where saturated, and its
    confidence band (fill_between) when there are several seeds. Returns the line."""
    xv = np.asarray(d[x] if xs is None else xs, dtype=float)
    y = d[col].to_numpy(dtype=float)
    sat = d["saturated"].to_numpy(dtype=bool) if "saturated" in d else np.zeros(len(d), bool)
    line, = ax.plot(xv, y, color=st["color"], ls=st["ls"], marker=st["marker"], ms=ms, lw=lw, label=label,
                    markevery=[i for i in range(len(y)) if not sat[i]])
    line.set_gid(gid)
    if sat.any():
        if st["marker"] in ("x", "+", "1", "2", "3", "4", "|", "_"):
            # a marker without a face cannot be hollow: ring it instead
            ax.plot(xv[sat], y[sat], ls="none", marker=st["marker"], ms=ms, mec=st["color"], mew=1.4,
                    gid=f"{gid}:saturated-x", zorder=line.get_zorder() + 0.1)
            ax.plot(xv[sat], y[sat], ls="none", marker="o", ms=ms + 4, mfc="none", mec=st["color"], mew=1.2,
                    gid=f"{gid}:saturated", zorder=line.get_zorder() + 0.1)
        else:
            ax.plot(xv[sat], y[sat], ls="none", marker=st["marker"], ms=ms + 1.5, mfc="white", mec=st["color"],
                    mew=1.4, gid=f"{gid}:saturated", zorder=line.get_zorder() + 0.1)
    lo, hi = f"{col}.lo", f"{col}.hi"
    if lo in d and d.get("n_seeds", pd.Series([1])).max() > 1:
        lov, hiv = d[lo].to_numpy(dtype=float), d[hi].to_numpy(dtype=float)
        if positive:
            lov = np.maximum(lov, 0.5 * y)  # a log axis: clip the lower edge above 0
        ax.fill_between(xv, lov, hiv, color=st["color"], alpha=0.18, lw=0, gid=f"{gid}:ci")
    return line


def _stat_handles(a: pd.DataFrame) -> tuple[list, list]:
    """Legend entries for the hollow markers and the bands (when the data has them)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles, labels = [], []
    n = int(a["n_seeds"].min()) if "n_seeds" in a and len(a) else 1
    if n > 1:
        handles.append(Patch(color="0.45", alpha=0.3, lw=0))
        labels.append(f"band: {100 * CONFIDENCE:.0f} % confidence interval of the mean over {n} seeds (t)")
    if "saturated" in a and a["saturated"].any():
        handles.append(Line2D([], [], ls="none", marker="o", ms=6.5, mfc="white", mec="0.25", mew=1.4))
        labels.append(SATURATED_LABEL)
    return handles, labels

# ------------------------------------------------------------ figure 1

def latency_vs_threads(df: pd.DataFrame, percentiles: Sequence[str] = ("p50", "p99"),
                       x: str = "config.workload.threads_per_core", title: str | None = None) -> Figure:
    """p50 and p99 round-trip latency vs application threads per core, one
    line per strategy (mean over seeds, its confidence interval as a band,
    saturated points hollow); a column of panels per platform (x86 | arm), a
    row per percentile; log-log axes."""
    cols = [f"latency_us.{p}" for p in percentiles]
    _need(df, ["platform", "strategy", x, *cols], "latency_vs_threads")
    raw = df
    df = _agg(df, cols)
    plats, strats = _platforms(df), _strategies(df)
    fig = Figure(figsize=(6.2 * len(plats), 3.9 * len(percentiles) + 1.6), layout="constrained")
    axes = fig.subplots(len(percentiles), len(plats), squeeze=False, sharey="row", sharex=True)
    xs = sorted(df[x].unique())
    for j, plat in enumerate(plats):
        for i, (p, col) in enumerate(zip(percentiles, cols)):
            ax = axes[i][j]
            for k, s in enumerate(strats):
                d = df[(df.platform == plat) & (df.strategy == s)].sort_values(x)
                _series(ax, d, x, col, style(s, k), legend_label(s), s, positive=True)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(xs)
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.tick_params(labelbottom=True)
            _log_us_axis(ax.yaxis)
            ax.grid(True, which="major", alpha=0.35)
            ax.grid(True, which="minor", axis="y", alpha=0.12)
            name = {"p50": "median (p50)", "p99": "tail (p99)", "p999": "p99.9"}.get(p, p)
            ax.set_title(f"{PLATFORM_TITLE.get(plat, plat)}: {name} latency")
            ax.set_xlabel("application threads per core")
            ax.set_ylabel(f"{p} round-trip latency (µs)")
    handles, labels = _strategy_handles(axes[0][0])
    h2, l2 = _stat_handles(df)
    handles, labels = handles + h2, labels + l2
    scen = scenario_text(raw.drop(columns=[x, 'config.workload.threads_per_core'], errors='ignore'))
    fig.suptitle((title or "Request latency as more threads share one core") + f"\n(simulated; {scen})",
                 fontsize=12)
    _legend_below(fig, handles, labels, ncol=2)
    _reserve_bottom(fig, len(labels), 2)
    return fig


def latency_vs_threads_fixed_load(df: pd.DataFrame) -> Figure:
    """Figure 1 at a fixed offered load per core: open-loop rows whose rate per connection x threads
    per core is the same at every point (experiments/fig6_latency_fixed_load)."""
    load = None
    if {"config.workload.rate_rps", "config.workload.threads_per_core"} <= set(df.columns):
        per_core = (df["config.workload.rate_rps"] * df["config.workload.threads_per_core"]).round()
        if per_core.nunique() == 1:
            load = float(per_core.iloc[0])
    what = f"{load / 1e3:g}k requests/s offered to each app core" if load else "a fixed offered load per core"
    return latency_vs_threads(df.drop(columns=["config.workload.rate_rps"], errors="ignore"),
                              title=f"Request latency vs threads per core at {what}")


def latency_vs_load(df: pd.DataFrame, percentiles: Sequence[str] = ("p50", "p99")) -> Figure:
    """p50 and p99 latency vs offered load per application core (open-loop Poisson), up to and past
    saturation: one line per strategy (mean over seeds, CI band), saturated points hollow; a column
    per platform, a row per percentile; log latency axis."""
    cols = [f"latency_us.{p}" for p in percentiles]
    _need(df, ["platform", "strategy", "config.workload.rate_rps", "config.workload.threads_per_core", *cols],
          "latency_vs_load")
    a = _agg(df, [*cols, "max_app_core_load"])
    a["_load"] = a["config.workload.rate_rps"] * a["config.workload.threads_per_core"] / 1e3
    plats, strats = _platforms(a), _strategies(a)
    fig = Figure(figsize=(6.2 * len(plats), 3.9 * len(percentiles) + 1.8), layout="constrained")
    axes = fig.subplots(len(percentiles), len(plats), squeeze=False, sharey="row", sharex=True)
    for j, plat in enumerate(plats):
        for i, (p, col) in enumerate(zip(percentiles, cols)):
            ax = axes[i][j]
            for k, s in enumerate(strats):
                d = a[(a.platform == plat) & (a.strategy == s)].sort_values("_load")
                _series(ax, d, "_load", col, style(s, k), legend_label(s), s, positive=True)
            ax.set_yscale("log")
            _log_us_axis(ax.yaxis)
            ax.set_xlim(left=0)
            ax.tick_params(labelbottom=True)
            ax.grid(True, which="major", alpha=0.35)
            ax.grid(True, which="minor", axis="y", alpha=0.12)
            name = {"p50": "median (p50)", "p99": "tail (p99)", "p999": "p99.9"}.get(p, p)
            ax.set_title(f"{PLATFORM_TITLE.get(plat, plat)}: {name} latency")
            ax.set_xlabel("offered load per application core (thousand requests/s)")
            ax.set_ylabel(f"{p} round-trip latency (µs)")
    handles, labels = _strategy_handles(axes[0][0])
    h2, l2 = _stat_handles(a)
    handles, labels = handles + h2, labels + l2
    scen = scenario_text(df.drop(columns=["config.workload.rate_rps"], errors="ignore"))
    fig.suptitle("Request latency as the offered load grows to and past saturation\n"
                 f"(simulated; {scen})", fontsize=12)
    _legend_below(fig, handles, labels, ncol=2)
    _reserve_bottom(fig, len(labels), 2)
    return fig


def _reserve_bottom(fig: Figure, n_labels: int, ncol: int) -> None:
    """Leaves room under the panels for a figure legend of n_labels entries."""
    rows = -(-n_labels // ncol)
    inches = 0.25 * rows + 0.25
    frac = min(0.45, inches / fig.get_figheight())
    fig.get_layout_engine().set(rect=(0, frac, 1, 1 - frac))


# ------------------------------------------------------------ figure 2

def cdf_frame(samples_by_platform: Mapping[str, Mapping[str, np.ndarray]],
              points: int = 1000) -> pd.DataFrame:
    """A compact CDF table (platform, strategy, quantile, latency_us) from
    per-request latencies in µs: `points` evenly spaced quantiles plus the
    far tail (p99.9, p99.99, max)."""
    qs = np.unique(np.concatenate([np.linspace(0, 1, points + 1), [0.999, 0.9995, 0.9999, 1.0]]))
    rows = []
    for plat, by_strategy in samples_by_platform.items():
        for s, lat in by_strategy.items():
            lat = np.asarray(lat, dtype=float)
            if lat.size == 0:
                continue
            vals = np.quantile(lat, qs, method="inverted_cdf")
            rows.append(pd.DataFrame({"platform": plat, "strategy": s, "quantile": np.round(qs, 6),
                                      "latency_us": np.round(vals, 4)}))
    if not rows:
        raise ValueError("cdf_frame: no samples")
    return pd.concat(rows, ignore_index=True)


def sidecar(csv_path: str | os.PathLike) -> dict:
    """The JSON object next to a data file (NAME.json for NAME.csv: what a figure needs besides the
    rows, e.g. the CDF's scenario text or the incast's link rate); {} when there is none."""
    import json

    p = Path(csv_path).with_suffix(".json")
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def sidecar_scenario(csv_path: str | os.PathLike) -> str | None:
    """The "scenario" text of the JSON file next to a CDF table (NAME.json), if any."""
    return sidecar(csv_path).get("scenario")


def latency_cdf(cdf: pd.DataFrame, scenario: str | None = None) -> Figure:
    """CDF of per-request round-trip latency, one line per strategy, one
    panel per platform; log latency axis; p50 and p99 marked."""
    _need(cdf, ["platform", "strategy", "quantile", "latency_us"], "latency_cdf")
    plats, strats = _platforms(cdf), _strategies(cdf)
    fig = Figure(figsize=(6.2 * len(plats), 5.6), layout="constrained")
    axes = fig.subplots(1, len(plats), squeeze=False, sharey=True, sharex=True)[0]
    for j, plat in enumerate(plats):
        ax = axes[j]
        for k, s in enumerate(strats):
            d = cdf[(cdf.platform == plat) & (cdf.strategy == s)].sort_values("quantile")
            st = style(s, k)
            line, = ax.step(d["latency_us"], d["quantile"], where="post", color=st["color"], ls=st["ls"],
                            lw=1.8, label=legend_label(s))
            line.set_gid(s)
        ax.set_xscale("log")
        _log_us_axis(ax.xaxis)
        for q, txt in ((0.5, "p50"), (0.99, "p99")):
            ax.axhline(q, color="k", lw=0.7, ls=(0, (2, 3)), alpha=0.6)
            ax.annotate(txt, xy=(0.62, q), xycoords=("axes fraction", "data"), xytext=(0, -3),
                        textcoords="offset points", ha="center", va="top", fontsize=8, alpha=0.8)
        _annotate_slice_wait(ax, cdf[cdf.platform == plat])
        ax.set_ylim(0, 1.02)
        ax.grid(True, which="major", alpha=0.35)
        ax.set_title(PLATFORM_TITLE.get(plat, plat))
        ax.set_xlabel("round-trip latency (µs, log scale)")
        ax.set_ylabel("fraction of requests with latency ≤ x")
    handles, labels = _strategy_handles(axes[0])
    fig.suptitle("Distribution of per-request latency (CDF)" + (f"\n(simulated; {scenario})" if scenario else ""),
                 fontsize=12)
    _legend_below(fig, handles, labels, ncol=2)
    _reserve_bottom(fig, len(labels), 2)
    return fig


def _annotate_slice_wait(ax, cdf: pd.DataFrame) -> None:
    """Explains busy_poll's step: most requests at the polling minimum, the
    rest waiting for their thread's next time slice (milliseconds)."""
    d = cdf[cdf.strategy == "busy_poll"].sort_values("quantile")
    if d.empty:
        return
    lat, q = d["latency_us"].to_numpy(), d["quantile"].to_numpy()
    lo = lat[0]
    jump = np.nonzero(lat > 20 * lo)[0]
    if not len(jump) or lat[-1] < 100 * lo:
        return
    frac = q[jump[0] - 1] if jump[0] > 0 else 0.0
    ax.annotate(f"busy_poll: {100 * frac:.0f}% answered at once;\nthe rest wait for their thread's\n"
                f"time slice (up to {lat[-1] / 1e3:.0f} ms)",
                xy=(np.sqrt(lo * lat[-1]), frac), xytext=(0, -12), textcoords="offset points",
                ha="center", va="top", fontsize=8, color=style("busy_poll")["color"])


# ------------------------------------------------------------ figure 3

def breakdown(df: pd.DataFrame, clip_ratio: float = 3.0) -> Figure:
    """Stacked horizontal bars: where a request's mean round trip goes, stage
    by stage, per strategy; a panel per platform. A bar far longer than the
    others (busy_poll with threads sharing a core) is cut at the axis edge and
    labelled with its total."""
    stage_cols = [f"breakdown_us.{s}" for s in STAGES if f"breakdown_us.{s}" in df.columns]
    _need(df, ["platform", "strategy", "latency_us.mean"], "breakdown")
    if not stage_cols:
        raise ValueError("breakdown: the data has no breakdown_us.* columns")
    df = _agg(df, ["latency_us.mean", *stage_cols])  # means over seeds
    plats, strats = _platforms(df), _strategies(df)
    if df.groupby(["platform", "strategy"]).size().max() > 1:
        raise ValueError("breakdown: expected one row per platform and strategy (select one scenario first)")
    totals = df[stage_cols].sum(axis=1).sort_values(ascending=False).to_numpy()
    xmax = totals[0] * 1.12
    clipped_limit = None
    others = [t for t in totals if t < totals[0] / clip_ratio]
    if others and totals[0] > clip_ratio * max(others):
        clipped_limit = max(others) * 1.35
        xmax = clipped_limit
    fig = Figure(figsize=(6.4 * len(plats), 0.55 * len(strats) + 3.6), layout="constrained")
    axes = fig.subplots(1, len(plats), squeeze=False, sharex=True, sharey=True)[0]
    y = np.arange(len(strats))[::-1]
    for j, plat in enumerate(plats):
        ax = axes[j]
        for yi, s in zip(y, strats):
            row = df[(df.platform == plat) & (df.strategy == s)]
            if row.empty:
                continue
            left = 0.0
            for c in stage_cols:
                stage = c.split(".", 1)[1]
                w = float(row[c].iloc[0])
                color, text = STAGE_STYLE.get(stage, ("#bbbbbb", stage))
                ax.barh(yi, w, left=left, color=color, edgecolor="white", lw=0.4, height=0.7,
                        label=text, gid=f"{s}:{stage}")
                left += w
            if clipped_limit is not None and left > clipped_limit:
                ax.annotate(f"mean {left:,.0f} µs (bar cut) ▸", xy=(clipped_limit, yi), xytext=(-4, 0),
                            textcoords="offset points", ha="right", va="center", fontsize=8,
                            color="white", fontweight="bold")
            else:
                ax.annotate(f"{left:.1f} µs", xy=(left, yi), xytext=(3, 0), textcoords="offset points",
                            va="center", fontsize=8)
        ax.set_yticks(y, strats)
        ax.set_xlim(0, xmax)
        ax.grid(True, axis="x", alpha=0.35)
        ax.set_title(PLATFORM_TITLE.get(plat, plat))
        ax.set_xlabel("mean round-trip time per request (µs), split by stage")
        if j == 0:
            ax.set_ylabel("strategy")
    # One legend entry per stage that appears.
    handles, labels = axes[0].get_legend_handles_labels()
    seen = dict()
    for h, l in zip(handles, labels):
        seen.setdefault(l, h)
    fig.suptitle("Where the microseconds go: mean latency per request, by stage\n"
                 f"(simulated; {scenario_text(df)})", fontsize=12)
    _legend_below(fig, list(seen.values()), list(seen.keys()), ncol=3)
    _reserve_bottom(fig, len(seen), 3)
    return fig


# ------------------------------------------------------------ figures 4 and 5

def offered_load_rps(df: pd.DataFrame) -> pd.Series:
    """Offered load of open-loop rows: rate per connection x connections."""
    _need(df, ["config.workload.rate_rps", "config.workload.threads_per_core", "config.host.app_cores"],
          "offered load")
    return df["config.workload.rate_rps"] * df["config.workload.threads_per_core"] * df["config.host.app_cores"]


def power_vs_load(df: pd.DataFrame) -> Figure:
    """Host power (model estimate) vs offered load, one line per strategy,
    a panel per platform."""
    _need(df, ["platform", "strategy", "power_w"], "power_vs_load")
    offered_load_rps(df)  # checks the columns
    a = _agg(df, ["power_w", "core_power_w", "package_power_w"])
    d0 = a.assign(_load=offered_load_rps(a) / 1e3)
    plats, strats = _platforms(d0), _strategies(d0)
    fig = Figure(figsize=(6.2 * len(plats), 6.0), layout="constrained")
    axes = fig.subplots(1, len(plats), squeeze=False, sharex=True)[0]
    for j, plat in enumerate(plats):
        ax = axes[j]
        for k, s in enumerate(strats):
            d = d0[(d0.platform == plat) & (d0.strategy == s)].sort_values("_load")
            _series(ax, d, "_load", "power_w", style(s, k), legend_label(s), s)
        ax.grid(True, alpha=0.35)
        ax.set_xlim(left=0)
        ax.set_title(PLATFORM_TITLE.get(plat, plat))
        ax.set_xlabel("offered load (thousand requests/s)")
        ax.set_ylabel("host power (W, model estimate)")
    handles, labels = _strategy_handles(axes[0])
    h2, l2 = _stat_handles(d0)
    handles, labels = handles + h2, labels + l2
    fig.suptitle("Power drawn by the server host as load grows\n"
                 f"(simulated; {scenario_text(df)}; package constant included, y axes do not start at 0)",
                 fontsize=12)
    _legend_below(fig, handles, labels, ncol=2)
    _reserve_bottom(fig, len(labels), 2)
    return fig


def adaptive_vs_load(df: pd.DataFrame) -> Figure:
    """fastwake_adaptive beside fastwake_poll and fastwake_irq as the offered load grows (open loop):
    p50, p99 and host power per app core's load; adaptive drawn once per power cap
    (`config.adaptive.power_cap_w`, absent or 0 = none) with the cap as a line on the power panel,
    the fixed strategies from the uncapped rows (a cap does not change them). Hollow markers:
    saturated points."""
    _need(df, ["strategy", "latency_us.p50", "latency_us.p99", "power_w", "config.workload.rate_rps",
               "config.workload.threads_per_core"], "adaptive_vs_load")
    d = df.copy()
    cap_col, obj_col = "config.adaptive.power_cap_w", "config.adaptive.objective"
    d["_cap"] = pd.to_numeric(d[cap_col], errors="coerce").fillna(0.0) if cap_col in d else 0.0
    d["_obj"] = d[obj_col].fillna("energy") if obj_col in d else "energy"
    ad = d["strategy"] == "fastwake_adaptive"
    # the fixed strategies once (a cap or objective does not change them)
    d = d[ad | ((d["_cap"] == 0) & (d["_obj"] == "energy"))].copy()
    ad = d["strategy"] == "fastwake_adaptive"
    d.loc[ad, "strategy"] = [
        "fastwake_adaptive" if (c <= 0 and o == "energy") else f"fastwake_adaptive@{o}@{c:g}"
        for c, o in zip(d.loc[ad, "_cap"], d.loc[ad, "_obj"])]
    caps = sorted(c for c in d.loc[ad, "_cap"].unique() if c > 0)
    d = d.drop(columns=[cap_col, obj_col, "_cap", "_obj"], errors="ignore")
    metrics = ["latency_us.p50", "latency_us.p99", "power_w"]
    a = _agg(d, metrics)
    a["_load"] = a["config.workload.rate_rps"] * a["config.workload.threads_per_core"] / 1e3
    plats = _platforms(a)
    fig = Figure(figsize=(5.0 * 3, 4.2 * len(plats) + 1.6), layout="constrained")
    axes = fig.subplots(len(plats), 3, squeeze=False, sharex=True)
    order = [s for s in ("fastwake_poll", "fastwake_irq") if s in set(a.strategy)]
    order += sorted(s for s in set(a.strategy) if s.startswith("fastwake_adaptive"))
    for i, plat in enumerate(plats):
        for j, (col, title, ylab) in enumerate([
                ("latency_us.p50", "median (p50) latency", "p50 round-trip latency (µs)"),
                ("latency_us.p99", "tail (p99) latency", "p99 round-trip latency (µs)"),
                ("power_w", "host power", "host power (W, model estimate)")]):
            ax = axes[i][j]
            for k, s in enumerate(order):
                base = s.split("@")[0]
                st = dict(style(base, k))
                label = legend_label(base)
                if "@" in s:
                    _, obj, cap = s.split("@")
                    st.update(ls="--", marker="P", color="#8c564b")
                    label = f"fastwake_adaptive, {obj} objective" + (f", power cap {cap} W" if cap != "0" else "")
                dd = a[(a.platform == plat) & (a.strategy == s)].sort_values("_load")
                _series(ax, dd, "_load", col, st, label, s, positive=col != "power_w")
            if col == "power_w":
                for c in caps:
                    if c > 0:
                        ax.axhline(c, color="#8c564b", lw=1.0, ls=":", gid=f"cap:{c:g}")
                        ax.annotate(f"cap {c:g} W", (0.02, c), xycoords=("axes fraction", "data"),
                                    va="bottom", fontsize=8, color="#8c564b")
            else:
                ax.set_yscale("log")
                _log_us_axis(ax.yaxis)
            ax.set_xlim(left=0)
            ax.grid(True, which="major", alpha=0.35)
            ax.set_title(f"{PLATFORM_TITLE.get(plat, plat)}: {title}")
            ax.set_xlabel("offered load per application core (thousand requests/s)")
            ax.set_ylabel(ylab)
    handles, labels = _strategy_handles(axes[0][0])
    h2, l2 = _stat_handles(a)
    handles, labels = handles + h2, labels + l2
    scen = scenario_text(df.drop(columns=["config.workload.rate_rps"], errors="ignore"))
    fig.suptitle("fastwake_adaptive: polls a core while the idle gap between completions is below the "
                 "energy break-even, interrupts above it\n"
                 f"(simulated; {scen})", fontsize=12)
    _legend_below(fig, handles, labels, ncol=2)
    _reserve_bottom(fig, len(labels), 2)
    return fig


def power_vs_latency(df: pd.DataFrame, percentile: str = "p99") -> Figure:
    """Host power vs tail latency: one line per strategy through its
    offered-load points, marker area growing with the load; a panel per
    platform. Down and to the left is better."""
    col = f"latency_us.{percentile}"
    _need(df, ["platform", "strategy", "power_w", col], "power_vs_latency")
    offered_load_rps(df)
    a = _agg(df, ["power_w", col])
    d0 = a.assign(_load=offered_load_rps(a) / 1e3)
    plats, strats = _platforms(d0), _strategies(d0)
    lo, hi = float(d0["_load"].min()), float(d0["_load"].max())

    def area(load):
        return 8 + 110 * (np.asarray(load, dtype=float) - lo) / (hi - lo if hi > lo else 1.0)

    fig = Figure(figsize=(6.2 * len(plats), 5.8), layout="constrained")
    axes = fig.subplots(1, len(plats), squeeze=False, sharex=True)[0]
    for j, plat in enumerate(plats):
        ax = axes[j]
        for k, s in enumerate(strats):
            d = d0[(d0.platform == plat) & (d0.strategy == s)].sort_values("_load")
            if d.empty:
                continue
            st = style(s, k)
            line, = ax.plot(d[col], d["power_w"], color=st["color"], ls=st["ls"], marker=st["marker"],
                            ms=4, lw=1.4, label=legend_label(s))
            line.set_gid(s)
            sat = d["saturated"].to_numpy(dtype=bool)
            ax.scatter(d[col][~sat], d["power_w"][~sat], s=area(d["_load"][~sat]), color=st["color"],
                       marker=st["marker"], alpha=0.75, linewidths=0.6, zorder=3, gid=f"{s}:loads")
            if sat.any():
                ax.scatter(d[col][sat], d["power_w"][sat], s=area(d["_load"][sat]), facecolors="white",
                           edgecolors=st["color"], marker=st["marker"], linewidths=1.3, zorder=3,
                           gid=f"{s}:saturated")
            if d["n_seeds"].max() > 1:  # the p99's interval as a horizontal error bar
                ax.errorbar(d[col], d["power_w"], xerr=[d[col] - np.maximum(d[f"{col}.lo"], 0.5 * d[col]),
                                                        d[f"{col}.hi"] - d[col]],
                            fmt="none", ecolor=st["color"], alpha=0.5, lw=0.9, gid=f"{s}:ci")
        ax.set_xscale("log")
        _log_us_axis(ax.xaxis)
        ax.grid(True, which="major", alpha=0.35)
        ax.set_title(PLATFORM_TITLE.get(plat, plat))
        ax.set_xlabel(f"{percentile} round-trip latency (µs, log scale)")
        ax.set_ylabel("host power (W, model estimate)")
    handles, labels = _strategy_handles(axes[0])
    h2, l2 = _stat_handles(d0)
    labels2 = [l.replace("band: ", "error bar: ") for l in l2]
    handles, labels = handles + h2, labels + labels2
    fig.suptitle(f"Power vs {percentile} latency: each point is one offered load, marker size grows with "
                 f"the load ({lo:g}k → {hi:g}k requests/s)\n"
                 f"(simulated; {scenario_text(df)}; lower left is better)", fontsize=12)
    _legend_below(fig, handles, labels, ncol=2)
    _reserve_bottom(fig, len(labels), 2)
    return fig


# ------------------------------------------------------------ incast (SimGrid fabric)

def incast(df: pd.DataFrame, meta: Mapping | None = None) -> Figure:
    """2 x 2 panels vs clients: p50, p99, throughput (with the server link's capacity), power.
    Solid: SimGrid fabric; thin dashed: simple fabric (no contention). `meta` (incast.json next to
    the CSV): server_link_gbps and message_bytes draw the link's capacity, description the caption."""
    from matplotlib.lines import Line2D

    _need(df, ["strategy", "clients", "fabric", "latency_us.p50", "latency_us.p99", "throughput_rps",
               "power_w"], "incast")
    strategies = [s for s in STRATEGY_STYLE if s in set(df["strategy"])]
    strategies += sorted(set(df["strategy"]) - set(strategies))
    fig = Figure(figsize=(10, 7.6))
    axes = fig.subplots(2, 2, sharex=True).ravel()
    panels = [("latency_us.p50", "p50 latency (µs)", True), ("latency_us.p99", "p99 latency (µs)", True),
              ("throughput_rps", "throughput (M requests/s)", False), ("power_w", "host power (W, estimate)", False)]
    for ax, (col, label, log) in zip(axes, panels):
        for i, s in enumerate(strategies):
            st = style(s, i)
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
            _log_us_axis(ax.yaxis)
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
    handles = [Line2D([], [], color=style(s, i)["color"], marker=style(s, i)["marker"], lw=1.8)
               for i, s in enumerate(strategies)]
    labels = [legend_label(s) for s in strategies]
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


# ------------------------------------------------------------ saving

def save(fig: Figure, stem: str | os.PathLike, formats: Sequence[str] = ("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Writes STEM.png and STEM.pdf (fonts embedded as TrueType); returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    import matplotlib

    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42}):
        for f in formats:
            p = stem.with_suffix("." + f)
            fig.savefig(p, dpi=dpi, metadata={"Creator": "fastwake"} if f == "png" else None)
            out.append(p)
    return out
