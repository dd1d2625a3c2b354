"""Statistics over seeds: a sweep run with `seeds` has one row per grid point x strategy x seed;
aggregate() folds the seeds into mean, a Student-t confidence interval and the saturation flag."""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

#: Confidence level of every interval the figures and the headline table show.
CONFIDENCE = 0.95

#: Columns that differ between the seeds of one point (never grouped on).
PER_SEED = ("seed", "run.seed", "config.run.seed", "point", "config_hash",
            # min_requests may lengthen one seed's run more than another's
            "run.duration_ms", "config.run.duration_ms", "run.warmup_ms", "config.run.warmup_ms")

#: First path segments of the columns that say which point a row is (grid keys, config.*).
_KEY_HEADS = ("config", "host", "workload", "remapper", "run", "fabric", "clients")


def group_columns(df: pd.DataFrame) -> list[str]:
    """The columns that identify one point of a figure across its seeds: platform, strategy, grid keys
    and config.* (seed, run length and the cache key excluded)."""
    cols = [c for c in ("platform", "strategy", "fabric", "clients") if c in df.columns]
    cols += [c for c in df.columns if c not in cols and c not in PER_SEED and c.split(".", 1)[0] in _KEY_HEADS]
    return cols


def t_halfwidth(values: Sequence[float], confidence: float = CONFIDENCE) -> float:
    """Half-width of the Student-t interval of the mean of `values` (nan for fewer than 2)."""
    v = np.asarray([x for x in values if x == x], dtype=float)
    if v.size < 2:
        return math.nan
    from scipy import stats as st

    return float(st.t.ppf(0.5 + confidence / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))


def aggregate(df: pd.DataFrame, metrics: Iterable[str] | None = None,
              confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per point (group_columns): each metric's mean over the seeds under its own name, its
    CI half-width as METRIC.ci (Student t, `confidence`) and METRIC.lo / METRIC.hi; `n_seeds`;
    `saturated` = any seed saturated; `requests_min` = the fewest requests of any seed. Without
    `metrics`: every numeric result column."""
    keys = group_columns(df)
    if metrics is None:
        metrics = [c for c in df.columns if c not in keys and c not in PER_SEED and c != "saturated"
                   and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    metrics = [m for m in metrics if m in df.columns]
    rows = []
    for key, g in df.groupby(keys, sort=False, dropna=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row["n_seeds"] = int(g["seed"].nunique()) if "seed" in g else len(g)
        for m in metrics:
            vals = pd.to_numeric(g[m], errors="coerce").to_numpy(dtype=float)
            mean = float(np.nanmean(vals)) if np.isfinite(vals).any() else math.nan
            half = t_halfwidth(vals, confidence)
            row[m] = mean
            row[f"{m}.ci"] = half
            row[f"{m}.lo"] = mean - half if half == half else mean
            row[f"{m}.hi"] = mean + half if half == half else mean
        if "saturated" in g:
            row["saturated"] = bool(g["saturated"].astype(str).str.lower().isin(["true", "1"]).any())
        if "requests" in g:
            row["requests_min"] = int(g["requests"].min())
        rows.append(row)
    return pd.DataFrame(rows)
