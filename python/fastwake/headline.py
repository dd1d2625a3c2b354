"""The headline table: each strategy's latency change vs interrupt (signed %, negative = faster), the dispatcher's gap to busy polling, each strategy's power overhead."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .plots import _platforms, _strategies

BASELINE = "interrupt"
IDEAL = "busy_poll"
DISPATCHER = "fastwake_poll"
TPC = "config.workload.threads_per_core"


def _default_tpc() -> int:
    """Threads per core of the paper scenario (configs/default.json), listed first."""
    from . import _fastwake

    return int(_fastwake.default_config()["workload"]["threads_per_core"])


def _pct(new: float, base: float) -> float:
    """(new - base) / base in percent: the toolkit's sign convention (negative = lower = faster)."""
    return 100.0 * (new - base) / base if base else math.nan


def headline(df: pd.DataFrame) -> pd.DataFrame:
    """One row per platform x threads per core (the paper scenario's first) x strategy with:
    p50/p99 (µs); p50_vs_interrupt_pct / p99_vs_interrupt_pct = (x - interrupt's) /
    interrupt's in percent (negative = faster); p50_above_busy_poll_ns and
    p50_ratio_to_busy_poll; power_w, power_overhead_w and power_overhead_pct
    against `interrupt` (positive = draws more)."""
    need = ["platform", "strategy", TPC, "latency_us.p50", "latency_us.p99", "power_w"]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"headline: the data has no column {', '.join(missing)}")
    from .stats import aggregate

    # Means over the seeds of each point (p50_ci_us etc.: the t-interval's half-width).
    df = aggregate(df, ["latency_us.p50", "latency_us.p99", "power_w", "core_power_w", "package_power_w",
                        "throughput_rps", "max_app_core_load"])
    rows = []
    default_tpc = _default_tpc()
    for plat in _platforms(df):
        tpcs = sorted(df.loc[df.platform == plat, TPC].unique(), key=lambda t: (t != default_tpc, t))
        for tpc in tpcs:
            d = df[(df.platform == plat) & (df[TPC] == tpc)].set_index("strategy")
            if d.index.duplicated().any():
                raise ValueError(f"headline: several rows for one strategy at {plat}, {tpc} threads/core")
            if BASELINE not in d.index or IDEAL not in d.index:
                raise ValueError(f"headline: needs '{BASELINE}' and '{IDEAL}' results ({plat}, {tpc} threads/core)")
            base, ideal = d.loc[BASELINE], d.loc[IDEAL]
            for s in _strategies(d.reset_index()):
                r = d.loc[s]
                rows.append({
                    "platform": plat,
                    "threads_per_core": int(tpc),
                    "strategy": s,
                    "p50_us": r["latency_us.p50"],
                    "p50_ci_us": r["latency_us.p50.ci"],
                    "p99_us": r["latency_us.p99"],
                    "p99_ci_us": r["latency_us.p99.ci"],
                    "seeds": int(r["n_seeds"]),
                    "saturated": bool(r.get("saturated", False)),
                    "max_app_core_load": r.get("max_app_core_load", math.nan),
                    "p50_vs_interrupt_pct": _pct(r["latency_us.p50"], base["latency_us.p50"]),
                    "p99_vs_interrupt_pct": _pct(r["latency_us.p99"], base["latency_us.p99"]),
                    "p50_above_busy_poll_ns": 1e3 * (r["latency_us.p50"] - ideal["latency_us.p50"]),
                    "p50_ratio_to_busy_poll": r["latency_us.p50"] / ideal["latency_us.p50"],
                    "throughput_rps": r.get("throughput_rps", math.nan),
                    "power_w": r["power_w"],
                    "core_power_w": r.get("core_power_w", math.nan),
                    "package_power_w": r.get("package_power_w", math.nan),
                    "power_overhead_w": r["power_w"] - base["power_w"],
                    "power_overhead_pct": _pct(r["power_w"], base["power_w"]),
                })
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Per platform and thread count: the dispatcher's gap to busy polling and
    each FastWake strategy's change vs interrupt (signed %, negative = faster)."""
    out = []
    for (plat, tpc), d in table.groupby(["platform", "threads_per_core"], sort=False):
        d = d.set_index("strategy")
        item: dict[str, Any] = {"platform": plat, "threads_per_core": int(tpc)}
        if DISPATCHER in d.index:
            item["dispatcher_p50_above_busy_poll_ns"] = float(d.loc[DISPATCHER, "p50_above_busy_poll_ns"])
            item["dispatcher_p50_ratio_to_busy_poll"] = float(d.loc[DISPATCHER, "p50_ratio_to_busy_poll"])
        for s in d.index:
            if s.startswith("fastwake"):
                item[f"{s}_p50_vs_interrupt_pct"] = float(d.loc[s, "p50_vs_interrupt_pct"])
                item[f"{s}_p99_vs_interrupt_pct"] = float(d.loc[s, "p99_vs_interrupt_pct"])
        out.append(item)
    return out


def _vs(r, p: str) -> str:
    """The change vs interrupt as a signed percentage (negative = faster); a strategy more than
    twice as slow also shows the factor (+2400% = ×25)."""
    if r.strategy == BASELINE:
        return "—"
    pct = r[f"{p}_vs_interrupt_pct"]
    if pct != pct:
        return "-"
    if pct > 100:
        return f"{pct:+.0f}% (×{1 + pct / 100:.0f})"
    return f"{pct:+.0f}%"


def format_table(table: pd.DataFrame, default_tpc: int | None = None) -> str:
    """The headline table as text, one block per platform and thread count."""
    lines = []
    for (plat, tpc), d in table.groupby(["platform", "threads_per_core"], sort=False):
        tag = " (default scenario)" if default_tpc is not None and tpc == default_tpc else ""
        lines.append(f"{plat}, {tpc} thread{'s' if tpc != 1 else ''} per core{tag}")
        lines.append(f"  {'strategy':<28}{'p50 µs':>9}{'p99 µs (± CI)':>20}{'p50 vs irq':>18}{'p99 vs irq':>18}"
                     f"{'p50 - busy_poll p50':>23}{'power W':>9}{'power vs interrupt':>20}")
        for _, r in d.iterrows():
            gap = ("—" if r.strategy == IDEAL
                   else f"{r.p50_above_busy_poll_ns / 1e3:+,.2f} µs (×{r.p50_ratio_to_busy_poll:.2f})")
            dp = "—" if r.strategy == BASELINE else f"{r.power_overhead_w:+.2f} W ({r.power_overhead_pct:+.1f}%)"
            ci = getattr(r, "p99_ci_us", math.nan)
            p99 = f"{r.p99_us:.2f}" + (f" ± {ci:.2f}" if ci == ci else "")
            p99 += " *" if getattr(r, "saturated", False) else "  "
            lines.append(f"  {r.strategy:<28}{r.p50_us:>9.2f}{p99:>20}"
                         f"{_vs(r, 'p50'):>18}{_vs(r, 'p99'):>18}{gap:>23}{r.power_w:>9.2f}{dp:>20}")
        lines.append("")
    seeds = int(table["seeds"].min()) if "seeds" in table and len(table) else 1
    lines.append(f"means over {seeds} seed(s); ± : half-width of the 95 % t-interval over the seeds; * : saturated\n"
                 "(an application core > 90 % busy with work + irq); p50/p99 vs irq: (x - interrupt's) / interrupt's\n"
                 "(negative = faster than interrupt); p50 - busy_poll p50: the gap to busy polling (µs, ratio);\n"
                 "power vs interrupt: host power minus interrupt's, W and % (model estimate; positive = draws more)")
    return "\n".join(lines)


#: What each computed column of the table means (headline.json "columns").
COLUMNS = {
    "p50_ci_us": "half-width of the 95 % t-interval of p50 over the seeds, µs",
    "p99_ci_us": "half-width of the 95 % t-interval of p99 over the seeds, µs",
    "seeds": "seeds the means are over",
    "saturated": "an application core > 90 % busy (work + irq) in any seed",
    "max_app_core_load": "the busiest application core's load (work + irq), mean over seeds",
    "core_power_w": "the cores' power, W (model estimate)",
    "package_power_w": "the package/uncore constant, W (estimate)",
    "p50_vs_interrupt_pct": "(p50 - interrupt's p50) / interrupt's p50, % (negative = faster)",
    "p99_vs_interrupt_pct": "(p99 - interrupt's p99) / interrupt's p99, % (negative = faster)",
    "p50_above_busy_poll_ns": "p50 minus busy_poll's p50, ns",
    "p50_ratio_to_busy_poll": "p50 / busy_poll's p50",
    "power_overhead_w": "host power minus interrupt's, W (model estimate)",
    "power_overhead_pct": "(power - interrupt's) / interrupt's, % (positive = draws more)",
}


def write(data: pd.DataFrame, stem, description: str = "") -> list:
    """The headline table of sweep rows `data` as STEM.csv, STEM.json (description, column
    definitions, summary, rows) and STEM.txt (format_table); returns the three paths."""
    import json
    from pathlib import Path

    from . import _fastwake
    from .results import write_text_atomic

    stem = Path(stem)
    default_tpc = _default_tpc()
    table = headline(data)
    doc = {
        "description": description,
        "default_threads_per_core": default_tpc,
        "model_version": _fastwake.MODEL_VERSION,
        "columns": COLUMNS,
        "summary": summary(table),
        "rows": table.to_dict(orient="records"),
    }
    paths = [stem.with_suffix(".csv"), stem.with_suffix(".json"), stem.with_suffix(".txt")]
    stem.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(paths[0], table.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(paths[1], json.dumps(doc, indent=2) + "\n")
    write_text_atomic(paths[2], format_table(table, default_tpc=default_tpc) + "\n")
    return paths
