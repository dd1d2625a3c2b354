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
CONFIG_SECTIONS = ("host", "workload", "remapper", "run")

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


def table(doc: Mapping[str, Any]) -> str:
    """The result document as the table fastwake-sim prints."""
    cfg = doc["config"]
    res = doc["results"]
    irq = next((r["latency_us"]["p50"] for r in res if r["strategy"] == "interrupt"), None)
    lines = [f"config {cfg['name']}, platform {cfg['platform']['name']}, "
             f"{cfg['host']['app_cores']} app core(s) x {cfg['workload']['threads_per_core']} threads, "
             f"{cfg['workload']['kind']}",
             f"{'strategy':<28}{'p50 us':>10}{'p99 us':>10}{'vs irq':>10}{'kreq/s':>12}"
             f"{'CPU %':>8}{'power W':>9}{'uJ/req':>10}"]
    for r in res:
        p50 = r["latency_us"]["p50"]
        vs = f"{100 * (p50 - irq) / irq:.0f}%" if irq else "-"
        lines.append(f"{r['strategy']:<28}{p50:>10.2f}{r['latency_us']['p99']:>10.2f}{vs:>10}"
                     f"{r['throughput_rps'] / 1e3:>12.1f}{100 * r['cpu_util']:>8.0f}"
                     f"{r['power_w']:>9.2f}{r['energy_per_req_uj']:>10.2f}")
    backend = doc["results"][0].get("backend", "sim") if doc.get("results") else "sim"
    who = "client" if backend == "sim" else ("NIC thread" if backend == "loopback" else "client")
    estimated = any(r.get("power_estimated", True) for r in doc.get("results", []))
    lines.append(f"latency = round trip as the {who} sees it ({backend})"
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
