"""Paper-style figures drawn from sweep DataFrames / result files; save as PNG and PDF.

Every plot function takes `ax=` (one matplotlib Axes, or as many as the figure has panels, e.g.
the axes of plt.subplots(2, 2)) and returns the axes it drew on. Without `ax` it makes its own
matplotlib Figure (title, legend below the panels) and returns that figure's axes as a numpy
array; `save(axes, stem)` (or axes.flat[0].figure) gets the figure. With `ax` it draws only into
the given axes (a compact legend inside the first one, no title), for notebooks and your own
layouts.
"""
from __future__ import annotations

import math
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


def _thin_log_ticks(axis) -> None:
    """A log µs axis spanning more than ~3.5 decades: labels at the powers of ten only (1-2-5 labels
    would run into each other, e.g. "5 ms10 ms20 ms")."""
    lo, hi = axis.get_view_interval()
    if lo > 0 and hi / lo > 10 ** 3.5:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0,)))


def _legend_below(fig: Figure, handles, labels, ncol: int = 2) -> None:
    fig.legend(handles, labels, loc="lower center", ncol=ncol, frameon=False, fontsize=9,
               bbox_to_anchor=(0.5, 0.0))


def _strategy_handles(ax) -> tuple[list, list]:
    handles, labels = ax.get_legend_handles_labels()
    return handles, labels


def _panels(ax, nrows: int, ncols: int, figsize, what: str, layout: str, **subplots_kw):
    """(figure, axes as an nrows x ncols array, owned): new axes on a new Figure when `ax` is None,
    else the caller's axes (one Axes or an array-like of them, nrows x ncols in all)."""
    if ax is None:
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.subplots(nrows, ncols, squeeze=False, **subplots_kw), True
    arr = np.empty(0, dtype=object)
    try:
        arr = np.array(list(np.asarray(ax, dtype=object).flat), dtype=object)
    except TypeError:
        pass
    if arr.size != nrows * ncols or not all(hasattr(a, "plot") and hasattr(a, "figure") for a in arr):
        raise ValueError(f"{what}: ax= needs {nrows * ncols} matplotlib Axes ({layout}), got "
                         f"{arr.size if arr.size else type(ax).__name__}")
    return arr[0].figure, arr.reshape(nrows, ncols), False


def _returned(ax, axes):
    """What a plot function returns: the caller's `ax` as given, else its own axes (squeezed to
    one dimension for a single row or column)."""
    if ax is not None:
        return ax
    if axes.shape[0] == 1 or axes.shape[1] == 1:
        return axes.ravel()
    return axes


def _legend_cols(fig: Figure, want: int = 2) -> int:
    """Legend columns that fit the figure's width (long strategy descriptions: ~5 in each)."""
    return max(1, min(want, int(fig.get_figwidth() // 5.5)))


def _finish(fig: Figure, axes, owned: bool, handles, labels, title: str, ncol: int = 2) -> None:
    """Own figure: suptitle and a legend below the panels, with room reserved for it. Caller's
    axes: a compact legend (strategy names only) inside the first axes."""
    if owned:
        import textwrap

        width = max(40, int(fig.get_figwidth() * 10.5))  # characters of a 12 pt title per line
        fig.suptitle("\n".join(textwrap.fill(line, width) for line in title.split("\n")), fontsize=12)
        n = _legend_cols(fig, ncol)
        _legend_below(fig, handles, labels, ncol=n)
        _reserve_bottom(fig, len(labels), n)
    else:
        def brief(label: str) -> str:
            if label.startswith("band:"):
                return f"band: {100 * CONFIDENCE:.0f} % CI over seeds"
            if label == SATURATED_LABEL:
                return "hollow: saturated (core > 90 % busy)"
            return label.split(" — ", 1)[0]

        axes.flat[0].legend(handles, [brief(l) for l in labels], fontsize=7, frameon=False, loc="best")



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
                       x: str = "config.workload.threads_per_core", title: str | None = None, *, ax=None):
    """p50 and p99 round-trip latency vs application threads per core, one
    line per strategy (mean over seeds, its confidence interval as a band,
    saturated points hollow); a column of panels per platform (x86 | arm), a
    row per percentile; log-log axes. ax: percentiles x platforms Axes."""
    cols = [f"latency_us.{p}" for p in percentiles]
    _need(df, ["platform", "strategy", x, *cols], "latency_vs_threads")
    raw = df
    df = _agg(df, cols)
    plats, strats = _platforms(df), _strategies(df)
    fig, axes, owned = _panels(ax, len(percentiles), len(plats), (6.2 * len(plats), 3.9 * len(percentiles) + 1.6),
                               "latency_vs_threads", f"{len(percentiles)} percentiles x {len(plats)} platforms",
                               sharey="row", sharex=True)
    xs = sorted(df[x].unique())
    for j, plat in enumerate(plats):
        for i, (p, col) in enumerate(zip(percentiles, cols)):
            a = axes[i][j]
            for k, s in enumerate(strats):
                d = df[(df.platform == plat) & (df.strategy == s)].sort_values(x)
                _series(a, d, x, col, style(s, k), legend_label(s), s, positive=True)
            a.set_xscale("log", base=2)
            a.set_yscale("log")
            a.set_xticks(xs)
            a.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
            a.xaxis.set_minor_formatter(NullFormatter())
            a.tick_params(labelbottom=True)
            _log_us_axis(a.yaxis)
            a.grid(True, which="major", alpha=0.35)
            a.grid(True, which="minor", axis="y", alpha=0.12)
            name = {"p50": "median (p50)", "p99": "tail (p99)", "p999": "p99.9"}.get(p, p)
            a.set_title(f"{PLATFORM_TITLE.get(plat, plat)}: {name} latency")
            a.set_xlabel("application threads per core")
            a.set_ylabel(f"{p} round-trip latency (µs)")
    handles, labels = _strategy_handles(axes[0][0])
    h2, l2 = _stat_handles(df)
    handles, labels = handles + h2, labels + l2
    scen = scenario_text(raw.drop(columns=[x, 'config.workload.threads_per_core'], errors='ignore'))
    _finish(fig, axes, owned, handles, labels,
            (title or "Request latency as more threads share one core") + f"\n(simulated; {scen})")
    return _returned(ax, axes)


def latency_vs_threads_fixed_load(df: pd.DataFrame, *, ax=None):
    """Figure 1 at a fixed offered load per core: open-loop rows whose rate per connection x threads
    per core is the same at every point (experiments/fig6_latency_fixed_load)."""
    load = None
    if {"config.workload.rate_rps", "config.workload.threads_per_core"} <= set(df.columns):
        per_core = (df["config.workload.rate_rps"] * df["config.workload.threads_per_core"]).round()
        if per_core.nunique() == 1:
            load = float(per_core.iloc[0])
    what = f"{load / 1e3:g}k requests/s offered to each app core" if load else "a fixed offered load per core"
    return latency_vs_threads(df.drop(columns=["config.workload.rate_rps"], errors="ignore"),
                              title=f"Request latency vs threads per core at {what}", ax=ax)


def latency_vs_load(df: pd.DataFrame, percentiles: Sequence[str] = ("p50", "p99"), *, ax=None):
    """The latency-throughput curve: p50 and p99 latency vs offered load per application core
    (open-loop Poisson), up to and past saturation: one line per strategy (mean over seeds, CI
    band), saturated points hollow; a column per platform, a row per percentile; log latency axis.
    ax: percentiles x platforms Axes."""
    cols = [f"latency_us.{p}" for p in percentiles]
    _need(df, ["platform", "strategy", "config.workload.rate_rps", "config.workload.threads_per_core", *cols],
          "latency_vs_load")
    a = _agg(df, [*cols, "max_app_core_load"])
    a["_load"] = a["config.workload.rate_rps"] * a["config.workload.threads_per_core"] / 1e3
    plats, strats = _platforms(a), _strategies(a)
    fig, axes, owned = _panels(ax, len(percentiles), len(plats), (6.2 * len(plats), 3.9 * len(percentiles) + 1.8),
                               "latency_vs_load", f"{len(percentiles)} percentiles x {len(plats)} platforms",
                               sharey="row", sharex=True)
    for j, plat in enumerate(plats):
        for i, (p, col) in enumerate(zip(percentiles, cols)):
            x = axes[i][j]
            for k, s in enumerate(strats):
                d = a[(a.platform == plat) & (a.strategy == s)].sort_values("_load")
                _series(x, d, "_load", col, style(s, k), legend_label(s), s, positive=True)
            x.set_yscale("log")
            _log_us_axis(x.yaxis)
            x.set_xlim(left=0)
            x.tick_params(labelbottom=True)
            x.grid(True, which="major", alpha=0.35)
            x.grid(True, which="minor", axis="y", alpha=0.12)
            name = {"p50": "median (p50)", "p99": "tail (p99)", "p999": "p99.9"}.get(p, p)
            x.set_title(f"{PLATFORM_TITLE.get(plat, plat)}: {name} latency")
            x.set_xlabel("offered load per application core (thousand requests/s)")
            x.set_ylabel(f"{p} round-trip latency (µs)")
    handles, labels = _strategy_handles(axes[0][0])
    h2, l2 = _stat_handles(a)
    handles, labels = handles + h2, labels + l2
    scen = scenario_text(df.drop(columns=["config.workload.rate_rps"], errors="ignore"))
    _finish(fig, axes, owned, handles, labels,
            "Latency vs offered load: the latency-throughput curve, to and past saturation\n"
            f"(simulated; {scen})")
    return _returned(ax, axes)


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
    per-request latencies in µs: `points` evenly spaced quantiles plus
    log-spaced ones in the tail (1 - q = 10 % … 1e-6, as far as the samples
    reach) and the max (quantile 1)."""
    # evenly spaced quantiles, and log-spaced ones in the tail (1 - q from 10 % down to 1e-6) for the CCDF
    tail = 1.0 - np.logspace(-1, -6, 51)
    qs = np.unique(np.round(np.concatenate([np.linspace(0, 1, points + 1), tail, [1.0]]), 7))
    rows = []
    for plat, by_strategy in samples_by_platform.items():
        for s, lat in by_strategy.items():
            lat = np.asarray(lat, dtype=float)
            if lat.size == 0:
                continue
            q = qs[qs <= 1.0 - 0.5 / lat.size]  # a quantile beyond the samples is the max again
            q = np.unique(np.append(q, 1.0))
            vals = np.quantile(lat, q, method="inverted_cdf")
            rows.append(pd.DataFrame({"platform": plat, "strategy": s, "quantile": q,
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


def latency_cdf(cdf: pd.DataFrame, scenario: str | None = None, *, ax=None):
    """The tail of per-request round-trip latency as a CCDF: the fraction of requests slower than
    x (1 - F, log scale, so p99 and p99.9 are as visible as the median), one line per strategy,
    one panel per platform; log latency axis; p50, p99 and p99.9 marked. ax: one Axes per platform."""
    _need(cdf, ["platform", "strategy", "quantile", "latency_us"], "latency_cdf")
    plats, strats = _platforms(cdf), _strategies(cdf)
    fig, axes, owned = _panels(ax, 1, len(plats), (6.2 * len(plats), 5.6), "latency_cdf",
                               f"one per platform: {', '.join(plats)}", sharey=True, sharex=True)
    axes1 = axes[0]
    tail = 1.0 - cdf["quantile"].to_numpy(dtype=float)
    positive = tail[tail > 1e-12]
    floor = 10 ** np.floor(np.log10(positive.min())) if positive.size else 1e-4
    for j, plat in enumerate(plats):
        a = axes1[j]
        for k, s in enumerate(strats):
            d = cdf[(cdf.platform == plat) & (cdf.strategy == s)].sort_values("quantile")
            st = style(s, k)
            y = np.maximum(1.0 - d["quantile"].to_numpy(dtype=float), floor)
            line, = a.step(d["latency_us"], y, where="post", color=st["color"], ls=st["ls"],
                           lw=1.8, label=legend_label(s))
            line.set_gid(s)
        a.set_xscale("log")
        a.set_yscale("log")
        _log_us_axis(a.xaxis)
        a.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        for q, txt in ((0.5, "p50"), (0.01, "p99"), (0.001, "p99.9")):
            if q < floor:
                continue
            a.axhline(q, color="k", lw=0.7, ls=(0, (2, 3)), alpha=0.6)
            a.annotate(txt, xy=(0.72, q), xycoords=("axes fraction", "data"), xytext=(0, -2),
                       textcoords="offset points", ha="center", va="top", fontsize=8, alpha=0.8)
        _annotate_slice_wait(a, cdf[cdf.platform == plat], ccdf=True)
        a.set_ylim(floor, 1.5)
        _thin_log_ticks(a.xaxis)
        a.grid(True, which="major", alpha=0.35)
        a.set_title(PLATFORM_TITLE.get(plat, plat))
        a.set_xlabel("round-trip latency x (µs, log scale)")
        a.set_ylabel("fraction of requests slower than x (1 − CDF, log)")
    handles, labels = _strategy_handles(axes1[0])
    _finish(fig, axes, owned, handles, labels,
            "Tail of the per-request latency (CCDF: 1 − CDF on a log axis)"
            + (f"\n(simulated; {scenario})" if scenario else ""))
    return _returned(ax, axes)


latency_ccdf = latency_cdf


def _annotate_slice_wait(ax, cdf: pd.DataFrame, ccdf: bool = False) -> None:
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
    y = max(1.0 - frac, 1e-6) if ccdf else frac
    ax.annotate(f"busy_poll: {100 * frac:.0f}% answered at once;\nthe rest wait for their thread's\n"
                f"time slice (up to {lat[-1] / 1e3:.0f} ms)",
                xy=(np.sqrt(lo * lat[-1]), y), xytext=(0, -12 if not ccdf else 6), textcoords="offset points",
                ha="center", va="top" if not ccdf else "bottom", fontsize=8, color=style("busy_poll")["color"])


# ------------------------------------------------------------ figure 3

def varying_columns(df: pd.DataFrame, exclude: Iterable[str] = ()) -> dict[str, list]:
    """The scenario columns (grid keys, config.*) that take several values in `df`, with the values:
    what tells one scenario of a sweep from another (seeds and run lengths not counted)."""
    from .stats import PER_SEED, group_columns

    out = {}
    skip = {"platform", "strategy", *exclude, *PER_SEED}
    for c in group_columns(df):
        if c in skip or c.startswith("config.platform") or c == "config.name":
            continue
        vals = df[c].dropna().unique()
        if len(vals) > 1:
            out[c] = sorted(vals.tolist(), key=lambda v: (str(type(v)), v))
    # a grid key and its config.* copy say the same: keep the short name
    return {k: v for k, v in out.items() if not (k.startswith("config.") and k[len("config."):] in out)}


def _parse_value(text: str):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def select(df: pd.DataFrame, where: Mapping[str, object] | Iterable[str] | None = None) -> pd.DataFrame:
    """The rows matching every KEY=VALUE of `where` (a dict, or 'KEY=VALUE' strings as
    `fastwake plot --where` takes them; KEY a column such as workload.threads_per_core or
    config.workload.threads_per_core, VALUE compared as a number when it is one). A key or value
    the data does not have is a ValueError listing the choices."""
    if not where:
        return df
    if not isinstance(where, Mapping):
        pairs = {}
        for w in where:
            if "=" not in w:
                raise ValueError(f"--where {w}: expected KEY=VALUE (e.g. workload.threads_per_core=4)")
            k, _, v = w.partition("=")
            pairs[k.strip()] = _parse_value(v.strip())
        where = pairs
    out = df
    for k, v in where.items():
        col = k if k in out.columns else f"config.{k}" if f"config.{k}" in out.columns else None
        if col is None:
            choices = varying_columns(df)
            raise ValueError(f"select: no column {k!r}; the data varies in "
                             + (", ".join(f"{c} ({', '.join(map(str, vals))})" for c, vals in choices.items())
                                or "no scenario column") )
        have = out[col].dropna().unique().tolist()
        mask = out[col] == v
        if not mask.any() and isinstance(v, str):
            mask = out[col].astype(str) == v
        if not mask.any():
            raise ValueError(f"select: {k}={v!r} matches no row (values of {k}: "
                             f"{', '.join(map(str, sorted(have, key=str)))})")
        out = out[mask]
    return out


def _one_scenario(df: pd.DataFrame, what: str) -> None:
    """A ValueError naming the columns that differ when the rows hold several scenarios."""
    if df.groupby(["platform", "strategy"]).size().max() <= 1:
        return
    vary = varying_columns(df)
    if not vary:
        raise ValueError(f"{what}: expected one row per platform and strategy (select one scenario first)")
    k, vals = next(iter(vary.items()))
    listing = "; ".join(f"{c}: {', '.join(map(str, v))}" for c, v in vary.items())
    raise ValueError(f"{what}: expected one row per platform and strategy (select one scenario first): the "
                     f"rows differ in {listing}. Select one, e.g. `fastwake plot {what} DATA.csv --where "
                     f"{k}={vals[0]}` or plots.select(df, {{'{k}': {vals[0]!r}}})")


def breakdown(df: pd.DataFrame, clip_ratio: float = 3.0, *, where=None, ax=None):
    """Stacked horizontal bars: where a request's mean round trip goes, stage
    by stage, per strategy; a panel per platform. A bar far longer than the
    others (busy_poll with threads sharing a core) is cut at the axis edge and
    labelled with its total. Beside each bar: the strategy's p99 (a black
    tick, the tail against the mean) and, with several seeds, the mean's 95 %
    interval as an error bar. `where`: select one scenario first (select()).
    ax: one Axes per platform."""
    df = select(df, where)
    stage_cols = [f"breakdown_us.{s}" for s in STAGES if f"breakdown_us.{s}" in df.columns]
    _need(df, ["platform", "strategy", "latency_us.mean"], "breakdown")
    if not stage_cols:
        raise ValueError("breakdown: the data has no breakdown_us.* columns")
    has_p99 = "latency_us.p99" in df.columns
    df = _agg(df, ["latency_us.mean", "latency_us.p99", *stage_cols])  # means over seeds
    plats, strats = _platforms(df), _strategies(df)
    _one_scenario(df, "breakdown")
    totals = df[stage_cols].sum(axis=1).sort_values(ascending=False).to_numpy()
    xmax = totals[0] * 1.12
    clipped_limit = None
    others = [t for t in totals if t < totals[0] / clip_ratio]
    if others and totals[0] > clip_ratio * max(others):
        clipped_limit = max(others) * 1.35
        xmax = clipped_limit
    fig, axes, owned = _panels(ax, 1, len(plats), (6.4 * len(plats), 0.55 * len(strats) + 3.6), "breakdown",
                               f"one per platform: {', '.join(plats)}", sharex=True, sharey=True)
    axes1 = axes[0]
    y = np.arange(len(strats))[::-1]
    several = int(df["n_seeds"].max()) > 1 if "n_seeds" in df else False
    for j, plat in enumerate(plats):
        a = axes1[j]
        for yi, s in zip(y, strats):
            row = df[(df.platform == plat) & (df.strategy == s)]
            if row.empty:
                continue
            left = 0.0
            for c in stage_cols:
                stage = c.split(".", 1)[1]
                w = float(row[c].iloc[0])
                color, text = STAGE_STYLE.get(stage, ("#bbbbbb", stage))
                a.barh(yi, w, left=left, color=color, edgecolor="white", lw=0.4, height=0.7,
                       label=text, gid=f"{s}:{stage}")
                left += w
            cut = clipped_limit is not None and left > clipped_limit
            if several and not cut:
                ci = float(row["latency_us.mean.ci"].iloc[0])
                if ci == ci:
                    a.errorbar([left], [yi], xerr=[[ci], [ci]], fmt="none", ecolor="k", lw=0.9,
                               capsize=2.5, gid=f"{s}:ci")
            p99 = float(row["latency_us.p99"].iloc[0]) if has_p99 else math.nan
            p99_text = ""
            if p99 == p99:
                if p99 <= xmax:
                    a.plot([p99], [yi], marker="|", ms=13, mew=2.0, color="k", ls="none", gid=f"{s}:p99",
                           label="p99 (the tail beside the mean)")
                    p99_text = f", p99 {p99:.1f} µs"
                else:
                    p99_text = f", p99 {p99:,.0f} µs ▸"
            if cut:
                a.annotate(f"mean {left:,.0f} µs (bar cut){p99_text if p99_text.endswith('▸') else ' ▸'}", xy=(clipped_limit, yi), xytext=(-4, 0),
                           textcoords="offset points", ha="right", va="center", fontsize=8,
                           color="white", fontweight="bold")
            else:
                a.annotate(f"{left:.1f} µs{p99_text}", xy=(max(left, p99 if p99 == p99 and p99 <= xmax else 0), yi),
                           xytext=(5, 0), textcoords="offset points", va="center", fontsize=8)
        a.set_yticks(y, strats)
        a.set_xlim(0, xmax * (1.18 if has_p99 else 1.0))
        a.grid(True, axis="x", alpha=0.35)
        a.set_title(PLATFORM_TITLE.get(plat, plat))
        a.set_xlabel("mean round-trip time per request (µs), split by stage")
        if j == 0:
            a.set_ylabel("strategy")
    # One legend entry per stage that appears.
    handles, labels = axes1[0].get_legend_handles_labels()
    seen = dict()
    for h, l in zip(handles, labels):
        seen.setdefault(l, h)
    if several:
        from matplotlib.lines import Line2D

        seen[f"error bar: {100 * CONFIDENCE:.0f} % interval of the mean over {int(df['n_seeds'].min())} seeds"] = \
            Line2D([], [], color="k", lw=0.9, marker="|", ms=5)
    _finish(fig, axes, owned, list(seen.values()), list(seen.keys()),
            "Where the microseconds go: mean latency per request, by stage (black tick: p99)\n"
            f"(simulated; {scenario_text(df)})", ncol=3)
    return _returned(ax, axes)


# ------------------------------------------------------------ state residency

#: Colour and legend text of the activity shares of state_share (the C-states follow, in grey).
STATE_STYLE: dict[str, tuple[str, str]] = {
    "work": ("#2ca02c", "work: application threads running"),
    "irq": ("#d62728", "irq: hardirq + softirq + handler"),
    "poll": ("#1f77b4", "poll: spinning (busy poll, dispatcher scan)"),
    "cstate_exit": ("#ff7f0e", "cstate_exit: leaving a C-state"),
}


def _state_order(columns: Iterable[str]) -> list[str]:
    states = [c.split(".", 1)[1] for c in columns if c.startswith("state_share.")]
    act = [s for s in STATE_STYLE if s in states]
    return act + [s for s in states if s not in STATE_STYLE]


def state_residency(df: pd.DataFrame, *, where=None, ax=None):
    """Where each core's time goes: the mean core's time split into work, irq, polling, C-state
    exits and each idle C-state (state_share, % of every core's time, over the host's cores), one
    stacked bar per strategy, a panel per platform; the app cores' busiest load beside each bar
    when the data has it. Explains the power figures. `where`: select one scenario first.
    ax: one Axes per platform."""
    df = select(df, where)
    _need(df, ["platform", "strategy"], "state_residency")
    states = _state_order(df.columns)
    if not states:
        raise ValueError("state_residency: the data has no state_share.* columns")
    cols = [f"state_share.{s}" for s in states]
    a = _agg(df, [*cols, "max_app_core_load"])
    _one_scenario(a, "state-residency")
    plats, strats = _platforms(a), _strategies(a)
    fig, axes, owned = _panels(ax, 1, len(plats), (6.4 * len(plats), 0.55 * len(strats) + 3.4),
                               "state_residency", f"one per platform: {', '.join(plats)}", sharex=True, sharey=True)
    idle = [s for s in states if s not in STATE_STYLE]
    idle_colors = ["#525252", "#9e9ac8", "#6baed6", "#bcbd22", "#8c6d31", "#e7969c", "#969696"]
    greys = {s: idle_colors[i % len(idle_colors)] for i, s in enumerate(idle)}
    y = np.arange(len(strats))[::-1]
    for j, plat in enumerate(plats):
        x = axes[0][j]
        for yi, s in zip(y, strats):
            row = a[(a.platform == plat) & (a.strategy == s)]
            if row.empty:
                continue
            left = 0.0
            for st, c in zip(states, cols):
                w = 100 * float(row[c].iloc[0])
                if not w == w:  # a state of another platform's profile
                    continue
                color, text = STATE_STYLE.get(st, (greys.get(st, "0.6"), f"{st}: idle in {st}"))
                x.barh(yi, w, left=left, color=color, edgecolor="white", lw=0.4, height=0.7, label=text,
                       gid=f"{s}:{st}")
                if w >= 9:
                    x.text(left + w / 2, yi, f"{w:.0f}%", ha="center", va="center", fontsize=7,
                           color="white" if st in STATE_STYLE or greys.get(st) == "#525252" else "black")
                left += w
        x.set_yticks(y, strats)
        x.set_xlim(0, 100)
        x.grid(True, axis="x", alpha=0.35)
        x.set_title(PLATFORM_TITLE.get(plat, plat))
        x.set_xlabel("share of each core's time (%, mean over the host's cores)")
        if j == 0:
            x.set_ylabel("strategy")
    seen = dict()
    for x in axes.flat:  # each platform's profile has its own C-states
        for h, l in zip(*x.get_legend_handles_labels()):
            seen.setdefault(l, h)
    _finish(fig, axes, owned, list(seen.values()), list(seen.keys()),
            "Where each core's time goes: work, interrupts, polling and idle states (state residency)\n"
            f"(simulated; {scenario_text(a)})", ncol=3)
    return _returned(ax, axes)


# ------------------------------------------------------------ figures 4 and 5

def offered_load_rps(df: pd.DataFrame) -> pd.Series:
    """Offered load of open-loop rows: rate per connection x connections."""
    _need(df, ["config.workload.rate_rps", "config.workload.threads_per_core", "config.host.app_cores"],
          "offered load")
    return df["config.workload.rate_rps"] * df["config.workload.threads_per_core"] * df["config.host.app_cores"]


def power_vs_load(df: pd.DataFrame, *, ax=None):
    """Host power (model estimate) vs offered load, one line per strategy (mean over seeds, CI
    band), a panel per platform. ax: one Axes per platform."""
    _need(df, ["platform", "strategy", "power_w"], "power_vs_load")
    offered_load_rps(df)  # checks the columns
    a = _agg(df, ["power_w", "core_power_w", "package_power_w"])
    d0 = a.assign(_load=offered_load_rps(a) / 1e3)
    plats, strats = _platforms(d0), _strategies(d0)
    fig, axes2, owned = _panels(ax, 1, len(plats), (6.2 * len(plats), 6.0), "power_vs_load",
                                f"one per platform: {', '.join(plats)}", sharex=True)
    axes = axes2[0]
    for j, plat in enumerate(plats):
        x = axes[j]
        for k, s in enumerate(strats):
            d = d0[(d0.platform == plat) & (d0.strategy == s)].sort_values("_load")
            _series(x, d, "_load", "power_w", style(s, k), legend_label(s), s)
        x.grid(True, alpha=0.35)
        x.set_xlim(left=0)
        x.set_title(PLATFORM_TITLE.get(plat, plat))
        x.set_xlabel("offered load (thousand requests/s)")
        x.set_ylabel("host power (W, model estimate)")
    handles, labels = _strategy_handles(axes[0])
    h2, l2 = _stat_handles(d0)
    handles, labels = handles + h2, labels + l2
    _finish(fig, axes2, owned, handles, labels,
            "Power drawn by the server host as load grows\n"
            f"(simulated; {scenario_text(df)}; package constant included, y axes do not start at 0)")
    return _returned(ax, axes2)


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


def _kilo(v: float) -> str:
    return f"{v:g}k" if v < 1000 else f"{v / 1000:g}M"


def power_vs_latency(df: pd.DataFrame, percentile: str = "p99", *, ax=None, label_loads: str = "ends"):
    """Host power vs tail latency: one line per strategy through its offered-load points in load
    order (an arrow at the highest load shows the direction), the lowest and highest load of each
    line labelled (thousand requests/s; label_loads="all" labels every point, "none" none); with several seeds the latency's interval as a horizontal error bar;
    saturated points hollow; a panel per platform. Down and to the left is better.
    ax: one Axes per platform."""
    col = f"latency_us.{percentile}"
    _need(df, ["platform", "strategy", "power_w", col], "power_vs_latency")
    offered_load_rps(df)
    a = _agg(df, ["power_w", col])
    d0 = a.assign(_load=offered_load_rps(a) / 1e3)
    plats, strats = _platforms(d0), _strategies(d0)
    lo, hi = float(d0["_load"].min()), float(d0["_load"].max())
    fig, axes2, owned = _panels(ax, 1, len(plats), (6.6 * len(plats), 6.2), "power_vs_latency",
                                f"one per platform: {', '.join(plats)}", sharex=True)
    axes = axes2[0]
    for j, plat in enumerate(plats):
        x = axes[j]
        for k, s in enumerate(strats):
            d = d0[(d0.platform == plat) & (d0.strategy == s)].sort_values("_load")
            if d.empty:
                continue
            st = style(s, k)
            line = _series(x, d, col, "power_w", st, legend_label(s), s, xs=d[col], ms=5, lw=1.3)
            xv, yv = d[col].to_numpy(dtype=float), d["power_w"].to_numpy(dtype=float)
            if len(xv) >= 2:  # the direction of growing load
                x.annotate("", xy=(xv[-1], yv[-1]), xytext=(xv[-2], yv[-2]),
                           arrowprops=dict(arrowstyle="-|>", color=st["color"], lw=1.3, shrinkA=0, shrinkB=4))
            if label_loads in ("all", "ends"):
                idx = range(len(xv)) if label_loads == "all" else sorted({0, len(xv) - 1})
                for xi, yi_, load in zip(xv[list(idx)], yv[list(idx)], d["_load"].to_numpy()[list(idx)]):
                    x.annotate(_kilo(load), (xi, yi_), xytext=(4, 3), textcoords="offset points", fontsize=6.5,
                               color=st["color"], gid=f"{s}:load")
            if d["n_seeds"].max() > 1:  # the latency's interval as a horizontal error bar
                x.errorbar(d[col], d["power_w"], xerr=[d[col] - np.maximum(d[f"{col}.lo"], 0.5 * d[col]),
                                                      d[f"{col}.hi"] - d[col]],
                           fmt="none", ecolor=st["color"], alpha=0.5, lw=0.9, gid=f"{s}:ci")
            line.set_gid(s)
        # _series drew the CI band in the wrong direction (a band along y): remove it, keep error bars
        for c in list(x.collections):
            if str(c.get_gid()).endswith(":ci") and c.__class__.__name__ != "LineCollection":
                c.remove()
        x.set_xscale("log")
        _log_us_axis(x.xaxis)
        _thin_log_ticks(x.xaxis)
        x.grid(True, which="major", alpha=0.35)
        x.set_title(PLATFORM_TITLE.get(plat, plat))
        x.set_xlabel(f"{percentile} round-trip latency (µs, log scale)")
        x.set_ylabel("host power (W, model estimate)")
    handles, labels = _strategy_handles(axes[0])
    h2, l2 = _stat_handles(d0)
    labels2 = [l.replace("band: ", "error bar: ") for l in l2]
    handles, labels = handles + h2, labels + labels2
    _finish(fig, axes2, owned, handles, labels,
            f"Power vs {percentile} latency, one point per offered load in load order "
            f"({_kilo(lo)} → {_kilo(hi)} requests/s; ends labelled, arrow: growing load)\n"
            f"(simulated; {scenario_text(df)}; lower left is better)")
    return _returned(ax, axes2)


# ------------------------------------------------------------ incast (SimGrid fabric)

def incast(df: pd.DataFrame, meta: Mapping | None = None, *, ax=None):
    """2 x 2 panels vs clients: p50, p99, throughput (with the server link's capacity), power.
    Solid with filled markers: SimGrid fabric; dashed with hollow markers, drawn on top: the simple
    fabric (no contention), the reference. Ticks at the client counts of the data. `meta`
    (incast.json next to the CSV): server_link_gbps and message_bytes draw the link's capacity,
    description the caption. ax: 4 Axes (p50, p99, throughput, power)."""
    from matplotlib.lines import Line2D

    _need(df, ["strategy", "clients", "fabric", "latency_us.p50", "latency_us.p99", "throughput_rps",
               "power_w"], "incast")
    strategies = [s for s in STRATEGY_STYLE if s in set(df["strategy"])]
    strategies += sorted(set(df["strategy"]) - set(strategies))
    a = _agg(df, ["latency_us.p50", "latency_us.p99", "throughput_rps", "power_w"])
    if ax is None:
        fig = Figure(figsize=(10.5, 8.2))
        axes = fig.subplots(2, 2, sharex=True).ravel()
        owned = True
    else:
        fig, axes2, owned = _panels(ax, 2, 2, None, "incast", "p50, p99, throughput, power")
        axes = axes2.ravel()
    clients = sorted(int(c) for c in a["clients"].unique())
    panels = [("latency_us.p50", "p50 latency (µs)", True), ("latency_us.p99", "p99 latency (µs)", True),
              ("throughput_rps", "throughput (M requests/s)", False), ("power_w", "host power (W, estimate)", False)]
    for x, (col, label, log) in zip(axes, panels):
        for i, s in enumerate(strategies):
            st = style(s, i)
            for fabric, kw in (("simgrid", dict(lw=1.8, ls="-", marker=st["marker"], ms=5, zorder=2)),
                               ("simple", dict(lw=1.1, ls="--", marker="o", ms=4, mfc="white", mew=1.0,
                                               zorder=4))):
                d = a[(a.strategy == s) & (a.fabric == fabric)].sort_values("clients")
                if d.empty:
                    continue
                scale = 1e6 if col == "throughput_rps" else 1.0
                y = d[col] / scale
                x.plot(d["clients"], y, color=st["color"], gid=f"{s}:{fabric}", **kw)
                if d["n_seeds"].max() > 1:
                    x.fill_between(d["clients"], d[f"{col}.lo"] / scale, d[f"{col}.hi"] / scale, color=st["color"],
                                   alpha=0.15, lw=0, gid=f"{s}:{fabric}:ci")
        x.set_ylabel(label)
        x.set_xscale("log", base=2)
        x.set_xticks(clients)
        x.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:g}"))
        x.xaxis.set_minor_formatter(NullFormatter())
        x.tick_params(axis="x", which="minor", bottom=False)
        x.tick_params(labelbottom=True)
        if log:
            x.set_yscale("log")
            _log_us_axis(x.yaxis)
        x.grid(True, which="major", alpha=0.3)
    # The server link's capacity in requests/s (each request crosses it once each way).
    meta = meta or {}
    gbps, size = meta.get("server_link_gbps"), meta.get("message_bytes")
    if gbps and size:
        cap = gbps * 1e9 / 8 / size / 1e6
        axes[2].axhline(cap, color="k", lw=0.8, ls=":")
        axes[2].annotate("server link capacity", (clients[0], cap), xytext=(2, -10), textcoords="offset points",
                         fontsize=8)
    for x in axes[2:]:
        x.set_xlabel("clients (connections), incast onto one server link")
    handles = [Line2D([], [], color=style(s, i)["color"], marker=style(s, i)["marker"], lw=1.8)
               for i, s in enumerate(strategies)]
    labels = [legend_label(s) for s in strategies]
    handles += [Line2D([], [], color="0.3", lw=1.8), Line2D([], [], color="0.3", lw=1.1, ls="--", marker="o",
                                                           mfc="white", ms=6)]
    labels += ["SimGrid fabric (star, shared server link)",
               "simple fabric (no contention): the reference, dashed with hollow markers"]
    if not owned:
        axes[0].legend(handles, [l.split(" — ", 1)[0] for l in labels], fontsize=7, frameon=False)
        return ax
    fig.legend(handles, labels, loc="lower center", ncol=2, frameon=False, fontsize=8.5)
    fig.suptitle("Incast: clients share the server's link (SimGrid fabric, CM02)", fontsize=11)
    if meta.get("description"):
        import textwrap

        fig.text(0.5, 0.935, "\n".join(textwrap.wrap(meta["description"], 150)), ha="center", va="top",
                 fontsize=7)
    rows = -(-len(labels) // 2)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.87, bottom=0.1 + 0.028 * rows, hspace=0.18, wspace=0.22)
    return axes.reshape(2, 2)


# ------------------------------------------------------------ compare (model vs loopback)

def compare(cmp: Mapping, *, ax=None):
    """Predicted (model) vs measured (loopback) latency per strategy, p50 and p99 panels, on linear
    axes: paired bars, each predicted bar labelled with the model error (predicted - measured) /
    measured as a signed percentage, with its 95 % interval over the rounds when the compare ran
    several (and the measured/predicted spread over the rounds as error bars). ax: 2 Axes."""
    rows = pd.DataFrame(cmp["rows"])
    _need(rows, ["strategy", "measured_p50_us", "predicted_p50_us", "error_p50", "measured_p99_us",
                 "predicted_p99_us", "error_p99"], "compare")
    fig, axes2, owned = _panels(ax, 1, 2, (11, 5.0), "compare", "p50, p99")
    axes = axes2[0]
    rounds = cmp.get("rounds") if isinstance(cmp.get("rounds"), list) else None
    x = np.arange(len(rows))
    for a, q in zip(axes, ("p50", "p99")):
        m = rows[f"measured_{q}_us"].to_numpy(dtype=float)
        p = rows[f"predicted_{q}_us"].to_numpy(dtype=float)
        merr = perr = None
        if rounds and len(rounds) > 1:
            from .stats import t_halfwidth

            merr = [t_halfwidth([r["rows"][i][f"measured_{q}_us"] for r in rounds]) for i in range(len(rows))]
            perr = [t_halfwidth([r["rows"][i][f"predicted_{q}_us"] for r in rounds]) for i in range(len(rows))]
        a.bar(x - 0.2, m, 0.4, yerr=merr, capsize=3, label="measured (loopback)", color="#4c72b0", gid=f"measured:{q}")
        bars = a.bar(x + 0.2, p, 0.4, yerr=perr, capsize=3, label="predicted (model)", color="#dd8452",
                     gid=f"predicted:{q}")
        ci = rows.get(f"error_{q}_ci95")
        labels_at = []
        for i, (b, e) in enumerate(zip(bars, rows[f"error_{q}"].to_numpy(dtype=float))):
            text = f"{100 * e:+.0f}%"
            if ci is not None and ci.iloc[i] == ci.iloc[i]:
                text += f"\n±{100 * ci.iloc[i]:.0f}"
            y_text = max(b.get_height(), m[i]) + (perr[i] if perr and perr[i] == perr[i] else 0)
            labels_at.append((b.get_x() + b.get_width() / 2, y_text, text))
        a.set_xticks(x, rows["strategy"], rotation=15, ha="right")
        # Linear axes: a bar many times taller than the rest (threads waiting for time slices) is cut
        # at the axis top and labelled with its value, so the others stay readable.
        vals = np.concatenate([m, p])
        vals = vals[np.isfinite(vals)]
        typical = float(np.median(vals)) if vals.size else 1.0
        normal = vals[vals <= 10 * typical]
        top = 1.25 * (normal.max() if normal.size else vals.max())
        for bx, v in [*zip(x - 0.2, m), *zip(x + 0.2, p)]:
            if v > top:
                a.annotate(f"▲ {v:,.0f} µs (cut)", (bx, top), xytext=(0, -3), textcoords="offset points",
                           ha="center", va="top", fontsize=7, rotation=90, color="white", fontweight="bold",
                           gid=f"cut:{q}")
        a.set_ylim(0, top * 1.12)
        for bx, y_text, text in labels_at:
            a.annotate(text, (bx, min(y_text, top)), xytext=(0, 3), textcoords="offset points",
                       ha="center", va="bottom", fontsize=8, gid=f"error:{q}",
                       bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
        a.set_ylabel(f"{q} round trip (µs)")
        a.set_title(f"{q} latency")
        a.grid(axis="y", alpha=0.3)
        if not owned:
            a.legend(fontsize=8, frameon=False, loc="best")
    if owned:
        h, l = axes[0].get_legend_handles_labels()
        fig.legend(h, l, loc="lower center", ncol=2, frameon=False, fontsize=9)
        fig.get_layout_engine().set(rect=(0, 0.07, 1, 0.93))
        measured = cmp.get("measured") or (rounds[0].get("measured") if rounds else None) or {}
        machine = (measured.get("results") or [{}])[0].get("extra", {}).get("machine", "this host")
        n = f"; means over {len(rounds)} rounds, ± the 95 % interval" if rounds and len(rounds) > 1 else ""
        fig.suptitle(f"Predicted (model, platform {cmp['platform']}) vs measured (loopback NIC){n}\n"
                     f"label: model error (predicted − measured) / measured; {machine}", fontsize=10)
    return _returned(ax, axes2)


# ------------------------------------------------------------ saving

def figure_of(obj) -> Figure:
    """The Figure of what a plot function returned: a Figure, an Axes, or an array of Axes."""
    if isinstance(obj, Figure):
        return obj
    if hasattr(obj, "figure") and hasattr(obj, "plot"):
        return obj.figure
    try:
        first = next(iter(np.asarray(obj, dtype=object).flat))
    except (TypeError, StopIteration):
        raise TypeError(f"expected a Figure or Axes, got {type(obj).__name__}") from None
    return first.figure


def save(fig, stem: str | os.PathLike, formats: Sequence[str] = ("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Writes STEM.png and STEM.pdf (fonts embedded as TrueType) of a Figure or of the axes a plot
    function returned; returns the paths."""
    fig = figure_of(fig)
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
