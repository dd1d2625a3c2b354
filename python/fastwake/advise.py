"""fastwake.advise(): which strategy to run for a described workload — every registered strategy simulated
over seeds (through fastwake.sweep: cached, local or Dask), the pick by a documented rule, a p99-vs-power
Pareto plot. The rule and the mapping onto config keys: docs/advise.md."""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from . import _fastwake
from ._fastwake import ConfigError
from .config import ConfigLike, canonical_json, load_config, set_value
from .stats import CONFIDENCE, t_halfwidth

#: Defaults of the run advise makes (docs/advise.md "Run length and seeds").
DEFAULT_SEEDS = 3
DEFAULT_DURATION_MS = 10.0
DEFAULT_WARMUP_MS = 1.0
#: A p99 should rest on enough requests: 2,000 puts 20 beyond it.
DEFAULT_MIN_REQUESTS = 2000
#: Powers within this fraction of the lowest count as equal; the lower p99 decides among them.
DEFAULT_POWER_TOLERANCE = 0.01
#: An open-loop run is lengthened up front to this many simulated ms at most (the sweep's
#: min_requests may still lengthen a closed loop, at most 50x).
MAX_OPEN_LOOP_MS = 2000.0

#: Wait modes that keep a core spinning (strategies()["wait"]).
POLLING_WAITS = ("spin", "dispatcher")

NO_STRATEGY = "no strategy meets the target"


def _number(name: str, value: Any, *, unit: str, positive: bool = False, allow_zero: bool = True,
            integer: bool = False, minimum: float | None = None) -> float | int | None:
    """value checked as a number (None passes): ConfigError naming the argument otherwise."""
    if value is None:
        return None
    what = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name}: expected {what} ({unit}), got {type(value).__name__} {value!r}")
    if integer and not float(value).is_integer():
        raise ConfigError(f"{name}: expected an integer ({unit}), got {value!r}")
    v = int(value) if integer else float(value)
    if not math.isfinite(v):
        raise ConfigError(f"{name}: expected a finite number ({unit}), got {value!r}")
    if minimum is not None and v < minimum:
        raise ConfigError(f"{name}: expected at least {minimum:g} ({unit}), got {value!r}")
    if positive and v <= 0:
        raise ConfigError(f"{name}: expected a number > 0 ({unit}), got {value!r}")
    if not allow_zero and v == 0:
        raise ConfigError(f"{name}: expected a number > 0 ({unit}), got {value!r}")
    if v < 0:
        raise ConfigError(f"{name}: must not be negative ({unit}), got {value!r}")
    return v


def default_strategies() -> list[str]:
    """Every registered strategy that exists outside the simulator: those whose wake path is a
    proposal (fastwake_irq_deep: not implemented by fastwake.ko) are left out, since nobody can
    run them; name them in `strategies` to compare them anyway."""
    return [s["name"] for s in _fastwake.strategies() if not str(s.get("wake_path", "")).startswith("proposal")]


def polling_strategies() -> list[str]:
    """Registered strategies that keep a core spinning (wait mode spin or dispatcher)."""
    return [s["name"] for s in _fastwake.strategies() if s.get("wait") in POLLING_WAITS]


@dataclass
class ConfigMapping:
    """One line of how the workload description became config keys."""

    argument: str
    given: Any
    key: str
    value: Any

    def __str__(self) -> str:
        g = "(base config)" if self.given is None else (self.given if isinstance(self.given, str)
                                                         else json.dumps(self.given))
        return f"{self.argument:<17} {g:<19} -> {self.key} = {json.dumps(self.value)}"


def workload_config(config: ConfigLike = None, *, cores: int | None = None, host_cores: int | None = None,
                    threads_per_core: int | None = None, load_rps: float | None = None,
                    think_us: float | None = None, service_us: float | None = None,
                    service_dist: str | None = None, message_bytes: int | None = None,
                    power_cap_w: float | None = None, platform: str | None = None,
                    sets: Iterable[str] = (), strategies: Iterable[str] | None = None,
                    duration_ms: float = DEFAULT_DURATION_MS, warmup_ms: float = DEFAULT_WARMUP_MS,
                    min_requests: int = DEFAULT_MIN_REQUESTS) -> tuple[dict, list[ConfigMapping]]:
    """The config document advise simulates (not yet resolved, run.seed left to the sweep) and the
    mapping from each argument to its config key. Raises ConfigError naming the argument for
    inconsistent or out-of-range input. Arguments left None keep the base config's value."""
    cores = _number("cores", cores, unit="application cores", integer=True, minimum=1)
    host_cores = _number("host_cores", host_cores, unit="cores of the host", integer=True, minimum=1)
    threads_per_core = _number("threads_per_core", threads_per_core, unit="threads", integer=True, minimum=1)
    load_rps = _number("load_rps", load_rps, unit="requests/s offered to the host", positive=True)
    think_us = _number("think_us", think_us, unit="µs")
    service_us = _number("service_us", service_us, unit="µs")
    message_bytes = _number("message_bytes", message_bytes, unit="bytes", integer=True, minimum=1)
    power_cap_w = _number("power_cap_w", power_cap_w, unit="W of host power", positive=True)
    duration_ms = _number("duration_ms", duration_ms, unit="simulated ms", positive=True)
    warmup_ms = _number("warmup_ms", warmup_ms, unit="simulated ms")
    min_requests = _number("min_requests", min_requests, unit="requests per strategy", integer=True, minimum=1)
    if load_rps is not None and think_us is not None:
        raise ConfigError("load_rps and think_us: give one of them: an offered load (open loop, Poisson "
                          "arrivals) or a think time (closed loop, each connection waits for its reply), "
                          "not both")
    if service_dist is not None and service_dist not in ("fixed", "exp"):
        raise ConfigError(f"service_dist: expected 'fixed' or 'exp', got {service_dist!r}")
    if platform is not None and not isinstance(platform, (str, os.PathLike)):
        raise ConfigError(f"platform: expected a platform name (x86, arm, host-NAME) or a profile .json "
                          f"path, got {type(platform).__name__} {platform!r}")

    doc = load_config(config, platform=platform, sets=sets)
    if not isinstance(doc, dict):
        raise ConfigError(f"config: expected an object, got {type(doc).__name__}")
    base = _fastwake.resolve_config(doc)  # the base's own values, for the arguments left out
    bh, bw = base["host"], base["workload"]
    maps: list[ConfigMapping] = []

    def put(argument: str, given: Any, key: str, value: Any) -> None:
        nonlocal doc
        doc = set_value(doc, key, value)
        maps.append(ConfigMapping(argument, given, key, value))

    if platform is not None:
        maps.append(ConfigMapping("platform", os.fspath(platform), "platform", os.fspath(platform)))
    else:
        maps.append(ConfigMapping("platform", None, "platform", base["platform"]["name"]))
    app = cores if cores is not None else bh["app_cores"]
    put("cores", cores, "host.app_cores", app)
    total = host_cores if host_cores is not None else max(bh["cores"], app + bh.get("first_app_core", 0))
    if total < app:
        raise ConfigError(f"host_cores: {total} cores cannot hold cores={app} application cores")
    put("host_cores", host_cores, "host.cores", total)
    if "app_core_list" in doc.get("host", {}):
        # the base's explicit list would contradict the new count
        h = dict(doc["host"])
        h.pop("app_core_list")
        doc = dict(doc, host=h)
    tpc = threads_per_core if threads_per_core is not None else bw["threads_per_core"]
    put("threads_per_core", threads_per_core, "workload.threads_per_core", tpc)
    connections = app * tpc
    asked = None  # the duration asked for, when an open loop needs a longer one
    if load_rps is not None:
        put("load_rps", load_rps, "workload.kind", "poisson")
        per_conn = load_rps / connections
        if not 0.001 <= per_conn <= 1e8:
            raise ConfigError(f"load_rps: {load_rps:g} req/s over {connections} connections ({app} cores x {tpc} "
                              f"threads) is {per_conn:g} req/s per connection; workload.rate_rps takes "
                              f"0.001 ... 1e8 per connection")
        put("load_rps", f"{load_rps:g} / ({app} x {tpc})", "workload.rate_rps", per_conn)
        put("load_rps", load_rps, "workload.think_ns", 0)
        # Enough simulated time for min_requests at the offered load (the sweep lengthens closed loops).
        need_ms = 1.15 * min_requests / load_rps * 1e3
        if need_ms > duration_ms:
            asked = duration_ms
            duration_ms = min(MAX_OPEN_LOOP_MS, need_ms)
    elif think_us is not None:
        put("think_us", think_us, "workload.kind", "pingpong")
        put("think_us", think_us, "workload.think_ns", int(round(think_us * 1e3)))
        put("think_us", think_us, "workload.rate_rps", 0)
    else:
        maps.append(ConfigMapping("load_rps/think_us", None, "workload.kind", bw["kind"]))
        if bw["kind"] == "poisson":
            maps.append(ConfigMapping("load_rps/think_us", None, "workload.rate_rps", bw["rate_rps"]))
        else:
            maps.append(ConfigMapping("load_rps/think_us", None, "workload.think_ns", bw["think_ns"]))
    if service_us is not None:
        put("service_us", service_us, "workload.service_ns", int(round(service_us * 1e3)))
    else:
        maps.append(ConfigMapping("service_us", None, "workload.service_ns", bw["service_ns"]))
    if service_dist is not None:
        put("service_dist", service_dist, "workload.service_dist", service_dist)
    put("message_bytes", message_bytes, "workload.message_bytes",
        message_bytes if message_bytes is not None else bw["message_bytes"])
    if strategies is None:
        names = default_strategies()
        put("strategies", None, "strategies", names)
    else:
        if isinstance(strategies, str):
            strategies = [strategies]
        names = list(strategies)
        if not names:
            raise ConfigError("strategies: expected at least one strategy name")
        put("strategies", names, "strategies", names)
    put("duration_ms", duration_ms if asked is None else f"{asked:g}, {min_requests} requests", "run.duration_ms",
        duration_ms)
    put("warmup_ms", warmup_ms, "run.warmup_ms", warmup_ms)
    if power_cap_w is not None:
        # A strategy that honours a cap at run time (fastwake_adaptive) gets the same cap, when the
        # config knows the key; builds without it simply compare against the cap.
        section = doc.get("adaptive")
        trial = dict(doc, adaptive=dict(section if isinstance(section, dict) else {}, power_cap_w=power_cap_w))
        try:
            _fastwake.resolve_config(trial)
        except ConfigError:
            pass
        else:
            doc = trial
            maps.append(ConfigMapping("power_cap_w", power_cap_w, "adaptive.power_cap_w", power_cap_w))
    try:
        _fastwake.resolve_config(doc)
    except ConfigError as e:
        raise ConfigError(f"the described workload is not a valid config: {e}") from None
    return doc, maps


@dataclass
class Advice:
    """What fastwake.advise() returns.

    table        one row per strategy: p50_us, p99_us, power_w (means over the seeds), their 95 %
                 t-interval half-widths (*_ci), the worst seed (p99_worst_us, power_worst_w),
                 cpu_util, throughput_rps, saturated, meets_target, within_cap, pareto, polling
    recommended  the strategy to run, or None when no strategy meets the target and the cap
    closest      when recommended is None: the strategy nearest to meeting them (else None)
    reason       which constraint decided, in words
    """

    table: pd.DataFrame
    recommended: str | None
    closest: str | None
    reason: str
    p99_target_us: float | None
    power_cap_w: float | None
    mapping: list[ConfigMapping]
    config: dict
    seeds: list[int]
    rows: pd.DataFrame = field(repr=False)
    attrs: dict = field(default_factory=dict)

    @property
    def choice(self) -> str:
        """The recommendation, or the closest strategy when none meets the target."""
        return self.recommended or self.closest

    @property
    def feasible(self) -> bool:
        return self.recommended is not None

    def describe(self) -> str:
        """One line: the workload as simulated."""
        c = self.config
        w, h = c["workload"], c["host"]
        if w["kind"] == "poisson":
            load = f"offered {w['rate_rps'] * h['app_cores'] * w['threads_per_core']:,.0f} req/s (Poisson)"
        else:
            load = f"closed loop, think {w['think_ns'] / 1e3:g} µs ({w.get('think_dist', 'fixed')})"
        return (f"{c['platform']['name']}: {h['app_cores']} app core(s) of {h['cores']} x "
                f"{w['threads_per_core']} threads, {load}, service {w['service_ns'] / 1e3:g} µs "
                f"({w['service_dist']}), {w['message_bytes']} B")

    def durations(self) -> str:
        """The simulated windows the runs used (the sweep lengthens runs short of min_requests)."""
        col = "config.run.duration_ms"
        if col not in self.rows or self.rows.empty:
            return f"{self.config['run']['duration_ms']:g} ms"
        lo, hi = float(self.rows[col].min()), float(self.rows[col].max())
        return f"{lo:g} ms" if lo == hi else f"{lo:g}-{hi:g} ms (lengthened to reach min_requests)"

    def text(self) -> str:
        """The table and the recommendation as the command line prints them."""
        t = self.table
        lines = [f"workload: {self.describe()}",
                 f"{len(self.seeds)} seeds x {self.durations()} simulated per strategy; "
                 f"mean ± {100 * CONFIDENCE:.0f} % t-interval over the seeds; worst = the worst seed",
                 f"{'strategy':<28}{'p50 µs':>14}{'p99 µs':>16}{'worst p99':>11}{'power W':>14}"
                 f"{'CPU %':>7}  {'target':<7}{'cap':<5}{'pareto':<7}"]

        def pm(v: float, ci: float, fmt: str) -> str:
            return f"{v:{fmt}}±{ci:{fmt}}" if ci == ci else f"{v:{fmt}}"

        for _, r in t.iterrows():
            mark = "  <- recommended" if r["strategy"] == self.recommended else (
                "  <- closest" if r["strategy"] == self.closest else "")
            sat = " (saturated)" if r["saturated"] else ""
            lines.append(
                f"{r['strategy']:<28}{pm(r['p50_us'], r['p50_ci_us'], '.2f'):>14}"
                f"{pm(r['p99_us'], r['p99_ci_us'], '.2f'):>16}{r['p99_worst_us']:>11.2f}"
                f"{pm(r['power_w'], r['power_ci_w'], '.2f'):>14}{100 * r['cpu_util']:>7.0f}  "
                f"{'yes' if r['meets_target'] else 'no':<7}{'yes' if r['within_cap'] else 'no':<5}"
                f"{'yes' if r['pareto'] else '':<7}{mark}{sat}")
        target = f"p99 ≤ {self.p99_target_us:g} µs" if self.p99_target_us is not None else "no p99 target"
        cap = f"power ≤ {self.power_cap_w:g} W" if self.power_cap_w is not None else "no power cap"
        given = " (in every seed)" if self.p99_target_us is not None or self.power_cap_w is not None else ""
        lines.append(f"constraints: {target}, {cap}{given}")
        lines.append(("recommended: " + self.recommended) if self.recommended else NO_STRATEGY)
        lines.append(f"reason: {self.reason}")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Draws p99 latency (x, µs) against host power (y, W), one marker per strategy with its
        seed interval, the Pareto front, the target and the cap, the recommendation ringed.
        Returns the axes (a new figure's when `ax` is None)."""
        from matplotlib.figure import Figure

        from .plots import style

        if ax is None:
            fig = Figure(figsize=(8.6, 5.6), layout="constrained")
            ax = fig.add_subplot()
        t = self.table
        for i, r in enumerate(t.itertuples(index=False)):
            s = style(r.strategy, i)
            label = r.strategy + (" (saturated)" if r.saturated else "")
            ax.errorbar([r.p99_us], [r.power_w],
                        xerr=[[0.0 if r.p99_ci_us != r.p99_ci_us else r.p99_ci_us],
                              [0.0 if r.p99_ci_us != r.p99_ci_us else r.p99_ci_us]],
                        yerr=[[0.0 if r.power_ci_w != r.power_ci_w else r.power_ci_w],
                              [0.0 if r.power_ci_w != r.power_ci_w else r.power_ci_w]],
                        color=s["color"], marker=s["marker"], ms=8, ls="none", capsize=3,
                        mfc=s["color"] if r.meets_target and r.within_cap else "white",
                        label=label, gid=f"strategy:{r.strategy}")
        front = t[t["pareto"]].sort_values("p99_us")
        if len(front) > 0:
            xs, ys = [], []
            for r in front.itertuples(index=False):
                if xs:  # a staircase: what is reachable at no more p99 and no more power
                    xs.append(r.p99_us)
                    ys.append(ys[-1])
                xs.append(r.p99_us)
                ys.append(r.power_w)
            ax.plot(xs, ys, color="#555555", lw=1.2, ls="-", alpha=0.7, zorder=0,
                    label="Pareto front (no strategy lower in both)", gid="pareto")
        lo_x = float(t["p99_us"].min())
        hi_x = float(t["p99_us"].max())
        if self.p99_target_us is not None:
            ax.axvline(self.p99_target_us, color="#2ca02c", ls="--", lw=1.2,
                       label=f"p99 target {self.p99_target_us:g} µs", gid="target")
            lo_x, hi_x = min(lo_x, self.p99_target_us), max(hi_x, self.p99_target_us)
        if self.power_cap_w is not None:
            ax.axhline(self.power_cap_w, color="#d62728", ls="--", lw=1.2,
                       label=f"power cap {self.power_cap_w:g} W", gid="cap")
        if self.p99_target_us is not None or self.power_cap_w is not None:
            x1 = self.p99_target_us if self.p99_target_us is not None else hi_x * 10
            y1 = self.power_cap_w if self.power_cap_w is not None else float(t["power_w"].max()) * 10
            ax.fill_between([lo_x / 10 if lo_x > 0 else 0, x1], 0, y1, color="#2ca02c", alpha=0.12,
                            lw=0, zorder=-1, label="region meeting " + " and ".join(
                                x for x in ("target" if self.p99_target_us is not None else "",
                                            "cap" if self.power_cap_w is not None else "") if x),
                            gid="region")
        pick = self.choice
        if pick is not None:
            r = t[t["strategy"] == pick].iloc[0]
            word = "recommended" if self.recommended else "closest (none meets the target)"
            ax.plot([r["p99_us"]], [r["power_w"]], marker="o", ms=18, mfc="none", mec="black", mew=1.6,
                    ls="none", label=f"{word}: {pick}", gid="recommended")
        if self.recommended is None:
            ax.text(1.04, 0.02, NO_STRATEGY, transform=ax.transAxes, ha="left", va="bottom", fontsize=10,
                    color="#d62728", fontweight="bold", gid="none-meets",
                    bbox=dict(boxstyle="round", fc="white", ec="#d62728", alpha=0.9))
        if hi_x / max(lo_x, 1e-9) > 20:
            ax.set_xscale("log")
        pw = t["power_w"].to_numpy(dtype=float)
        ylo, yhi = float(np.nanmin(pw)), float(np.nanmax(pw))
        if self.power_cap_w is not None:
            ylo, yhi = min(ylo, self.power_cap_w), max(yhi, self.power_cap_w)
        pad = max(0.08 * (yhi - ylo), 0.5)
        ax.set_ylim(max(0.0, ylo - pad), yhi + pad)
        xs_all = t["p99_us"].to_numpy(dtype=float)
        if ax.get_xscale() == "log":
            ax.set_xlim(lo_x / 1.4, hi_x * 1.4)
        else:
            xpad = max(0.08 * (hi_x - lo_x), 0.05 * hi_x, 0.1)
            ax.set_xlim(max(0.0, min(np.nanmin(xs_all), lo_x) - xpad), hi_x + xpad)
        self._label_points(ax)
        ax.set_xlabel("p99 round-trip latency (µs), mean over seeds ± 95 % interval")
        ax.set_ylabel("host power (W), mean over seeds")
        ax.set_title(f"fastwake advise: {self.describe()}", fontsize=9, wrap=True)
        ax.grid(True, alpha=0.3, which="both")
        # Strategies first (plotting order), then the front, the constraints and the pick.
        handles, labels = ax.get_legend_handles_labels()
        names = set(t["strategy"])
        first = [i for i, lab in enumerate(labels) if lab.split(" ")[0] in names]
        order = first + [i for i in range(len(labels)) if i not in first]
        ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left",
                  bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False, markerscale=0.8,
                  title="filled marker: meets target and cap\n(hollow: misses one)", title_fontsize=8)
        return ax

    def _label_points(self, ax) -> None:
        """Each marker's strategy name beside it, moved down/up in steps where it would cover an earlier
        label (strategies with nearly equal p99 and power sit on top of each other)."""
        placed: list[tuple[float, float, float, float]] = []
        for r in self.table.itertuples(index=False):
            x, y = ax.transData.transform((r.p99_us, r.power_w))
            w, h = 5.2 * len(r.strategy) + 4, 10.0
            left = x + 8 + w > ax.bbox.x1  # no room on the right: the label goes to the left
            dx = -10 if left else 10
            for dy in (4, -14, 16, -26, 28, -38, 40, -50):
                x0 = x - 8 - w if left else x + 8
                box = (x0, y + dy, x0 + w, y + dy + h)
                if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                    break
            placed.append(box)
            ax.annotate(r.strategy, (r.p99_us, r.power_w), xytext=(dx, dy), textcoords="offset points",
                        ha="right" if left else "left", fontsize=7, color="#333333", gid=f"label:{r.strategy}")

    def save_plot(self, path: str | os.PathLike) -> list[Path]:
        """Writes the plot: PATH.png / .pdf / .svg as named, or both STEM.png and STEM.pdf for a path
        without one of those suffixes. Returns the files written (the folder must exist)."""
        p = Path(path)
        if p.suffix.lower() in (".png", ".pdf", ".svg"):
            paths = [p]
        else:
            paths = [p.with_name(p.name + ".png"), p.with_name(p.name + ".pdf")]
        ax = self.plot()
        fig = ax.figure
        for q in paths:
            if not q.parent.is_dir():
                raise ConfigError(f"plot {q}: folder {q.parent} does not exist (it is not created)")
            fig.savefig(q, dpi=150, bbox_inches="tight")
        return paths

    def key(self) -> str:
        """A short hash of the simulated workload and constraints (default plot file name)."""
        text = canonical_json({"config": self.config, "seeds": self.seeds, "target": self.p99_target_us,
                               "cap": self.power_cap_w, "model": _fastwake.MODEL_VERSION})
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _pareto(p99: np.ndarray, power: np.ndarray) -> np.ndarray:
    """True for the points no other point beats in both (≤ in both, < in one)."""
    n = len(p99)
    out = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i != j and p99[j] <= p99[i] and power[j] <= power[i] and (p99[j] < p99[i] or power[j] < power[i]):
                out[i] = False
                break
    return out


def summarise(rows: pd.DataFrame, strategies: list[str], target: float | None, cap: float | None) -> pd.DataFrame:
    """Per strategy (in `strategies` order): means, intervals and worst seeds of p50/p99/power, and the
    target/cap/Pareto flags (docs/advise.md "How the choice is made")."""
    polling = set(polling_strategies())
    out = []
    for s in strategies:
        g = rows[rows["strategy"] == s]
        if g.empty:
            raise ConfigError(f"strategies: the sweep returned no rows for '{s}'")
        p50 = g["latency_us.p50"].to_numpy(dtype=float)
        p99 = g["latency_us.p99"].to_numpy(dtype=float)
        pw = g["power_w"].to_numpy(dtype=float)
        sat = bool(g["saturated"].astype(str).str.lower().isin(["true", "1"]).any()) if "saturated" in g else False
        row = {"strategy": s, "polling": s in polling,
               "p50_us": float(p50.mean()), "p50_ci_us": t_halfwidth(p50),
               "p99_us": float(p99.mean()), "p99_ci_us": t_halfwidth(p99), "p99_worst_us": float(p99.max()),
               "power_w": float(pw.mean()), "power_ci_w": t_halfwidth(pw), "power_worst_w": float(pw.max()),
               "cpu_util": float(g["cpu_util"].mean()), "throughput_rps": float(g["throughput_rps"].mean()),
               "requests_min": int(g["requests"].min()), "n_seeds": int(len(g)), "saturated": sat}
        row["meets_target"] = (not sat) and (target is None or row["p99_worst_us"] <= target)
        row["within_cap"] = cap is None or row["power_worst_w"] <= cap
        out.append(row)
    t = pd.DataFrame(out)
    t["pareto"] = _pareto(t["p99_us"].to_numpy(), t["power_w"].to_numpy())
    return t


def choose(t: pd.DataFrame, target: float | None, cap: float | None,
           power_tolerance: float = DEFAULT_POWER_TOLERANCE) -> tuple[str | None, str | None, str]:
    """(recommended, closest, reason) from a summarise() table. The rule (docs/advise.md):
    candidates meet the target and the cap in every seed and did not saturate. With a target: the
    lowest mean power among them, powers within `power_tolerance` of the lowest counting as equal
    and the lowest mean p99 deciding among those; without a target: the lowest mean p99. None
    qualifies: recommended is None, the reason starts "no strategy meets the target", and closest is
    the lowest p99 within the cap (the lowest power if nothing is within the cap)."""
    tg = f"p99 ≤ {target:g} µs" if target is not None else None
    cp = f"power ≤ {cap:g} W" if cap is not None else None
    both = " and ".join(x for x in (tg, cp) if x)

    def fails(r) -> str:
        why = []
        if r["saturated"]:
            why.append("saturated: cannot keep up with the offered load")
        elif target is not None and r["p99_worst_us"] > target:
            why.append(f"p99 {r['p99_worst_us']:.2f} µs > {target:g} µs")
        if cap is not None and r["power_worst_w"] > cap:
            why.append(f"power {r['power_worst_w']:.2f} W > {cap:g} W")
        return f"{r['strategy']} ({', '.join(why)})"

    ok = t[t["meets_target"] & t["within_cap"]]
    excluded = [fails(r) for _, r in t.iterrows() if not (r["meets_target"] and r["within_cap"])]
    excl = ("; excluded (worst seed): " + "; ".join(excluded)) if excluded else ""
    if len(ok) > 0:
        if target is not None:
            low = float(ok["power_w"].min())
            tied = ok[ok["power_w"] <= low * (1 + power_tolerance)]
            best = tied.sort_values(["p99_us", "power_w"], kind="stable").iloc[0]
            among = f"among the {len(ok)} strategies that meet" if len(ok) > 1 else "of the only strategy that meets"
            reason = (f"lowest power {among} {both} in every seed: "
                      f"{best['power_w']:.2f} W, p99 {best['p99_us']:.2f} µs")
            if len(tied) > 1:
                others = ", ".join(f"{r['strategy']} {r['power_w']:.2f} W / p99 {r['p99_us']:.2f} µs"
                                   for _, r in tied.iterrows() if r["strategy"] != best["strategy"])
                reason += (f"; tied on power within {100 * power_tolerance:g} % with {others}: "
                           f"the lowest p99 decided")
        else:
            best = ok.sort_values(["p99_us", "power_w"], kind="stable").iloc[0]
            where = f"among the {len(ok)} strategies within the cap ({cp} in every seed)" if cap is not None \
                else "(no p99 target and no power cap given)"
            reason = f"lowest p99 {where}: {best['p99_us']:.2f} µs at {best['power_w']:.2f} W"
        return str(best["strategy"]), None, reason + excl
    in_cap = t[t["within_cap"] & ~t["saturated"]] if cap is not None else t[~t["saturated"]]
    if len(in_cap) > 0:
        best = in_cap.sort_values(["p99_us", "power_w"], kind="stable").iloc[0]
        near = (f"closest: {best['strategy']}, the lowest p99 {'within the cap' if cap is not None else ''}"
                f" ({best['p99_us']:.2f} µs mean, {best['p99_worst_us']:.2f} µs worst seed, "
                f"{best['power_w']:.2f} W)").replace("p99  (", "p99 (")
    else:
        pool = t if len(t[~t["saturated"]]) == 0 else t[~t["saturated"]]
        best = pool.sort_values(["power_worst_w", "p99_us"], kind="stable").iloc[0]
        near = (f"closest: {best['strategy']}, the lowest power ({best['power_worst_w']:.2f} W worst seed)"
                + ("; no strategy stays within the cap" if cap is not None else ""))
    return None, str(best["strategy"]), f"{NO_STRATEGY} ({both} in every seed); {near}{excl}"


def advise(config: ConfigLike = None, *, cores: int | None = None, host_cores: int | None = None,
           threads_per_core: int | None = None, load_rps: float | None = None, think_us: float | None = None,
           service_us: float | None = None, service_dist: str | None = None,
           message_bytes: int | None = None, p99_target_us: float | None = None,
           power_cap_w: float | None = None, platform: str | None = None, sets: Iterable[str] = (),
           strategies: Iterable[str] | None = None, seeds=DEFAULT_SEEDS,
           duration_ms: float = DEFAULT_DURATION_MS, warmup_ms: float = DEFAULT_WARMUP_MS,
           min_requests: int = DEFAULT_MIN_REQUESTS, power_tolerance: float = DEFAULT_POWER_TOLERANCE,
           executor: str = "local", jobs: int | None = None, scheduler=None, cache=True,
           progress: bool | None = None, force: bool = False) -> Advice:
    """Which strategy to run for a workload, and what every strategy would give.

    Workload (None keeps the base config's value; `config` is the base, default configs/default.json):
      cores             application cores (host.app_cores)
      host_cores        cores of the host (host.cores; default: the base's, at least `cores`)
      threads_per_core  application threads per core, one connection each (workload.threads_per_core)
      load_rps          offered load of the whole host, requests/s: open loop, Poisson arrivals
                        (workload.kind=poisson, workload.rate_rps = load_rps / connections)
      think_us          think time per connection, µs: closed loop (workload.kind=pingpong,
                        workload.think_ns); not together with load_rps
      service_us        application time per request, µs (workload.service_ns); service_dist
                        'fixed' or 'exp' (workload.service_dist)
      message_bytes     request/reply size, bytes (workload.message_bytes)
      platform          built-in profile (x86, arm), a calibrated host-NAME profile, or a .json path
      sets              further 'PATH=VALUE' overrides, applied to the base before the above
    Constraints:
      p99_target_us     the p99 round trip the workload needs, µs (> 0)
      power_cap_w       host power it may draw, W (> 0); also given to strategies that honour a
                        cap at run time (adaptive.power_cap_w) when the config has that key
    Run:
      strategies        default: every registered strategy except simulator-only proposals
      seeds             N (seeds 1..N, default 3) or a list; duration_ms/warmup_ms simulated per
                        run (default 10 / 1); min_requests per strategy (default 2000, runs lengthened)
      power_tolerance   powers within this fraction of the lowest count as equal (default 0.01)
      executor, jobs, scheduler, cache, progress, force: as fastwake.sweep

    Returns an Advice: .table (DataFrame, one row per strategy), .recommended (None when no strategy
    meets the target and cap), .closest, .reason, .plot(ax=None), .save_plot(path), .text().
    Raises fastwake.ConfigError naming the argument for bad input.
    """
    from .sweeps import seed_list, sweep

    p99_target_us = _number("p99_target_us", p99_target_us, unit="µs", positive=True)
    power_tolerance = _number("power_tolerance", power_tolerance, unit="fraction of the lowest power")
    if power_tolerance is None or power_tolerance >= 1:
        raise ConfigError(f"power_tolerance: expected a fraction in [0, 1), got {power_tolerance!r}")
    doc, maps = workload_config(config, cores=cores, host_cores=host_cores, threads_per_core=threads_per_core,
                                load_rps=load_rps, think_us=think_us, service_us=service_us,
                                service_dist=service_dist, message_bytes=message_bytes,
                                power_cap_w=power_cap_w, platform=platform, sets=sets,
                                strategies=strategies, duration_ms=duration_ms, warmup_ms=warmup_ms,
                                min_requests=min_requests)
    power_cap_w = _number("power_cap_w", power_cap_w, unit="W", positive=True)
    sl = seed_list(seeds)
    if not sl:
        raise ConfigError("seeds: expected a count ≥ 1 or a list of seeds")
    names = list(doc["strategies"])
    # One sweep point per strategy and seed: each is cached on its own (a strategy added later is
    # the only one simulated), and the points spread over the executor's workers.
    grid = {"strategies": [[s] for s in names]}
    rows = sweep(doc, grid, executor=executor, jobs=jobs, scheduler=scheduler, cache=cache,
                 progress=progress, seeds=sl, min_requests=min_requests, desc="advise", force=force)
    t = summarise(rows, names, p99_target_us, power_cap_w)
    rec, closest, reason = choose(t, p99_target_us, power_cap_w, power_tolerance)
    resolved = _fastwake.resolve_config(set_value(doc, "run.seed", sl[0]))
    return Advice(table=t, recommended=rec, closest=closest, reason=reason, p99_target_us=p99_target_us,
                  power_cap_w=power_cap_w, mapping=maps, config=resolved, seeds=sl, rows=rows,
                  attrs=dict(rows.attrs))


__all__ = ["Advice", "advise", "choose", "summarise", "workload_config", "default_strategies",
           "polling_strategies", "NO_STRATEGY"]
