"""Result documents (schema fastwake-result/1): flattening to DataFrame rows, the text table, one-run results."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

#: Sections of the resolved config copied into every row as config.* columns
#: (the platform is represented by the result's `platform` name).
CONFIG_SECTIONS = ("host", "workload", "remapper", "adaptive", "run")

#: Request stages in the order of a request's life (core/include/fastwake/types.h).
STAGES = ("wire", "nic_rx", "irq", "handler", "wakeup", "wait_cpu", "sched",
          "read", "rearm", "poll", "queue", "service", "tx")


def _flatten(prefix: str, value: Any, out: dict) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


def config_columns(config: Mapping[str, Any]) -> dict:
    """config.name and the scalar keys of host/workload/remapper/run as
    config.SECTION.KEY columns (lists such as migrations as JSON text)."""
    out = {"config.name": config.get("name")}
    for section in CONFIG_SECTIONS:
        _flatten(f"config.{section}", config.get(section, {}), out)
    return out


#: Result fields in the order rows show them; any others follow, sorted.
RESULT_ORDER = ("strategy", "platform", "backend", "seed", "requests", "latency_us", "throughput_rps",
                "cpu_util", "power_w", "power_estimated", "energy_per_req_uj", "breakdown_us",
                "state_share", "extra")


def result_columns(result: Mapping[str, Any]) -> dict:
    """One strategy's result flattened with dots: latency_us.p50,
    breakdown_us.irq (stages in request order), state_share.C1,
    extra.interrupts, ..."""
    out: dict = {}
    keys = [k for k in RESULT_ORDER if k in result] + sorted(k for k in result if k not in RESULT_ORDER)
    for k in keys:
        v = result[k]
        if k == "breakdown_us" and isinstance(v, Mapping):
            v = {s: v[s] for s in [*STAGES, *sorted(set(v) - set(STAGES))] if s in v}
        _flatten(k, v, out)
    return out


def rows_of(doc: Mapping[str, Any], head: Mapping[str, Any] | None = None) -> list[dict]:
    """The rows of one result document: `head` columns (e.g. the grid point),
    the result, then config.* columns; result fields win on a name clash."""
    cfg = config_columns(doc["config"])
    rows = []
    for r in doc["results"]:
        row = dict(head or {})
        row.update(result_columns(r))
        row.update(cfg)
        rows.append(row)
    return rows


def frame_of(docs: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """A DataFrame with one row per strategy of each result document."""
    rows = [row for d in docs for row in rows_of(d)]
    return pd.DataFrame(rows)


#: Measured quantities (first segment of a column name) and their unit: the `metric` rows of tidy().
UNITS = {"latency_us": "µs", "breakdown_us": "µs", "throughput_rps": "req/s", "power_w": "W",
         "core_power_w": "W", "package_power_w": "W", "energy_per_req_uj": "µJ", "cpu_util": "fraction",
         "state_share": "fraction", "max_app_core_load": "fraction", "requests": "requests",
         "requests_min": "requests", "extra": ""}


def _tidy_name(column: str) -> str:
    """An identifier column's name without dots: config.workload.threads_per_core -> threads_per_core
    when that is unambiguous (see tidy), else workload_threads_per_core."""
    return column.removeprefix("config.").replace(".", "_")


def tidy(df: pd.DataFrame, metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """The long ("tidy") form of a sweep's or a run's rows: one row per row of `df` x measured
    quantity, with the identifying columns first (strategy, platform, seed, the grid keys and the
    config as plain names without dots, e.g. threads_per_core, app_cores, kind), then `metric`
    (the wide column's name, e.g. "latency_us.p50", "power_w", "state_share.C1"), `value` (float)
    and `unit` (µs, W, req/s, fraction, …). Ready for seaborn (hue="strategy") and df.query
    without backticks. `metrics`: keep only these wide columns (default: every measured one)."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"tidy: expected a DataFrame (fastwake.sweep(...) or Result.frame()), got {type(df).__name__}")

    def measured(c: str) -> bool:
        head = c.split(".", 1)[0]
        return head in UNITS and (pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]))

    value_cols = [c for c in df.columns if measured(c)]
    if metrics is not None:
        want = list(metrics)
        unknown = [m for m in want if m not in value_cols]
        if unknown:
            raise KeyError(f"tidy: no measured column {', '.join(unknown)} "
                           f"(have e.g. {', '.join(value_cols[:8])})")
        value_cols = want
    ids = [c for c in df.columns if not measured(c)]
    # Grid-key columns (workload.threads_per_core) repeat their config.* column: keep the config one.
    ids = [c for c in ids if not (f"config.{c}" in df.columns and c.split(".", 1)[0] != "config")]
    # Plain names: the last path segment where it is unique, else SECTION_KEY.
    names = {c: _tidy_name(c) for c in ids}
    last = [c.rsplit(".", 1)[-1] for c in ids]
    for c, tail in zip(ids, last):
        if "." in c and last.count(tail) == 1 and tail not in df.columns and tail not in ("name",):
            names[c] = tail
    first = [c for c in ("strategy", "platform", "seed") if c in ids]
    order = first + [c for c in ids if c not in first]
    long = df[order + value_cols].melt(id_vars=order, value_vars=value_cols, var_name="metric",
                                       value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(float)
    long["unit"] = long["metric"].map(lambda m: UNITS.get(m.split(".", 1)[0], ""))
    return long.rename(columns=names)


_UMASK = os.umask(0o022)
os.umask(_UMASK)


def write_text_atomic(path: str | os.PathLike, text: str, *, make_dirs: bool = True) -> None:
    """Writes the whole file or nothing (temp file in the same folder + rename).
    make_dirs=False: the folder must exist (a file named on the command line
    never creates folders)."""
    path = Path(path)
    if make_dirs:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def signed_pct(new: float, base: float, digits: int = 0) -> str:
    """(new - base) / base as a signed percentage, the toolkit's one convention (negative = lower
    than the baseline: faster, less power): "-82%", "+5%", "+0%"; "-" without a baseline."""
    if base is None or not base or new != new or base != base:
        return "-"
    return f"{100.0 * (new - base) / base:+.{digits}f}%"


def table(doc: Mapping[str, Any], baseline: str = "interrupt") -> str:
    """The result document as a text table: latency in µs, p50 relative to `baseline`'s as a signed
    percentage (negative = faster), throughput in req/s, power in W."""
    cfg = doc["config"]
    res = doc["results"]
    base = next((r["latency_us"]["p50"] for r in res if r["strategy"] == baseline), None)
    vs = f"p50 vs {baseline}"
    lines = [f"config {cfg['name']}, platform {cfg['platform']['name']}, "
             f"{cfg['host']['app_cores']} app core(s) x {cfg['workload']['threads_per_core']} threads, "
             f"{cfg['workload']['kind']}",
             f"{'strategy':<28}{'p50 µs':>10}{'p99 µs':>10}{vs:>{max(18, len(vs) + 2)}}{'req/s':>12}"
             f"{'CPU %':>8}{'power W':>9}{'µJ/req':>10}"]
    for r in res:
        p50 = r["latency_us"]["p50"]
        rel = "—" if r["strategy"] == baseline else signed_pct(p50, base)
        lines.append(f"{r['strategy']:<28}{p50:>10.2f}{r['latency_us']['p99']:>10.2f}{rel:>{max(18, len(vs) + 2)}}"
                     f"{r['throughput_rps']:>12,.0f}{100 * r['cpu_util']:>8.0f}"
                     f"{r['power_w']:>9.2f}{r['energy_per_req_uj']:>10.2f}")
    backend = doc["results"][0].get("backend", "sim") if doc.get("results") else "sim"
    who = "client" if backend == "sim" else ("NIC thread" if backend == "loopback" else "client")
    estimated = any(r.get("power_estimated", True) for r in doc.get("results", []))
    lines.append(f"latency = round trip as the {who} sees it ({backend}); p50 vs {baseline}: "
                 f"(p50 - {baseline}'s) / {baseline}'s, negative = faster"
                 + ("; power is an estimate" if estimated else ""))
    return "\n".join(lines)


@dataclass
class Result:
    """One simulated config: the result document (exactly what
    `fastwake-sim --json` writes), per-request samples when asked for, and the
    host time the simulation took."""

    doc: dict
    #: strategy -> {"done_ns", "thread", "latency_ns", "irq_core"} numpy arrays
    samples: dict = field(default_factory=dict)
    wall_s: float = 0.0

    def __post_init__(self):
        # The native module wrote the C++ half of "meta"; the Python libraries are known here.
        if isinstance(self.doc.get("meta"), dict) and "numpy" not in self.doc["meta"].get("libraries", {}):
            from .meta import add_python_libraries

            add_python_libraries(self.doc["meta"])

    @property
    def config(self) -> dict:
        return self.doc["config"]

    @property
    def results(self) -> list:
        return self.doc["results"]

    def result(self, strategy: str) -> dict:
        for r in self.results:
            if r["strategy"] == strategy:
                return r
        raise KeyError(f"no result for strategy '{strategy}' "
                       f"(have: {', '.join(r['strategy'] for r in self.results)})")

    def frame(self) -> pd.DataFrame:
        """One row per strategy, the same columns as a sweep's rows."""
        return frame_of([self.doc])

    def tidy(self, metrics: Iterable[str] | None = None) -> pd.DataFrame:
        """The rows in long form (results.tidy): strategy, platform, …, metric, value, unit."""
        return tidy(self.frame(), metrics)

    def latencies_us(self, strategy: str) -> np.ndarray:
        """Per-request round-trip latencies in µs (needs samples=True)."""
        if strategy not in self.samples:
            raise KeyError(f"no samples for '{strategy}': run with samples=True")
        return self.samples[strategy]["latency_ns"] / 1e3

    def table(self) -> str:
        return table(self.doc)

    def write_json(self, path: str | os.PathLike, *, make_dirs: bool = True) -> None:
        write_text_atomic(path, json.dumps(self.doc, indent=2) + "\n", make_dirs=make_dirs)

    def write_samples(self, path: str | os.PathLike) -> None:
        """Samples as a .npz file with arrays STRATEGY.latency_ns etc."""
        arrays = {f"{s}.{k}": v for s, d in self.samples.items() for k, v in d.items()}
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)


def compare_table(cmp: Mapping[str, Any]) -> str:
    """A compare document (fastwake-compare/1) as text: measured and predicted p50/p99 in µs and
    the model error (predicted - measured) / measured as a signed percentage (+34% = the model
    predicts higher), with its 95 % interval over the rounds when there are several."""
    rows = cmp["rows"]
    ci = bool(rows) and "error_p50_ci95" in rows[0]

    def err(r, q):
        text = f"{100 * r[f'error_{q}']:+.0f}%"
        if ci:
            text += f" ± {100 * r[f'error_{q}_ci95']:.0f}"
        return text

    ew = 14 if ci else 9
    lines = [f"predicted (model, platform {cmp['platform']}) vs measured (loopback NIC), round trip in µs"]
    if ci:
        lines.append(f"means over {rows[0].get('rounds', '?')} rounds of (calibrate, measure); "
                     "error ± half-width of its 95 % t-interval")
    lines.append(f"{'strategy':<28}{'meas p50':>10}{'pred p50':>10}{'error':>{ew}}"
                 f"{'meas p99':>10}{'pred p99':>10}{'error':>{ew}}")
    for r in rows:
        lines.append(f"{r['strategy']:<28}{r['measured_p50_us']:>10.2f}{r['predicted_p50_us']:>10.2f}"
                     f"{err(r, 'p50'):>{ew}}{r['measured_p99_us']:>10.2f}{r['predicted_p99_us']:>10.2f}"
                     f"{err(r, 'p99'):>{ew}}")
    lines.append("error = (predicted - measured) / measured: + the model predicts higher, - lower")
    return "\n".join(lines)
