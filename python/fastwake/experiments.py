"""The experiments/ folders: sweep specs (sweep.json), the context their run.py/plot.py get, discovery and loading."""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pandas as pd

from ._fastwake import ConfigError
from ._native import REPO
from .cache import ResultCache, default_cache_dir
from .results import write_text_atomic
from .sweeps import sweep as run_sweep

#: Default output folder of `fastwake paper` and of the experiment scripts.
DEFAULT_OUT = REPO / "results" / "paper"


def experiments_dir() -> Path:
    """$FASTWAKE_EXPERIMENTS, else experiments/ in the repository."""
    env = os.environ.get("FASTWAKE_EXPERIMENTS")
    return Path(env) if env else REPO / "experiments"


SPEC_KEYS = {"description", "base", "set", "grid", "quick"}


def load_spec(path: str | os.PathLike, quick: bool = False) -> dict:
    """Reads a sweep spec (an experiment's sweep.json):

        {"description": "...",
         "base": "../../configs/default.json",   # relative to this file; null = embedded default
         "set":  {"run.duration_ms": 100},        # overrides of the base, PATH: value
         "grid": {"platform": ["x86", "arm"], "workload.threads_per_core": [1, 2, 4]},
         "quick": {"set": {...}, "grid": {...}}}  # merged over set/grid with --quick

    Returns {"description", "base" (absolute path or None), "set", "grid"}."""
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot open ({e.strerror})") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    unknown = set(spec) - SPEC_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(SPEC_KEYS))})")
    for k in ("set", "grid", "quick"):
        if not isinstance(spec.get(k, {}), dict):
            raise ConfigError(f"{path}: '{k}' must be an object")
    sets = dict(spec.get("set", {}))
    grid = dict(spec.get("grid", {}))
    if quick:
        q = spec.get("quick", {})
        unknown = set(q) - {"set", "grid"}
        if unknown:
            raise ConfigError(f"{path}: quick: unknown key(s) {', '.join(sorted(unknown))} (known: grid, set)")
        sets.update(q.get("set", {}))
        grid.update(q.get("grid", {}))
    base = spec.get("base")
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}: 'base' must be a path (relative to the spec) or null")
        base = str((path.parent / base).resolve())
    return {"description": spec.get("description", ""), "base": base, "set": sets, "grid": grid}


@dataclass
class Context:
    """What an experiment's run(ctx) gets: where to write, quick or full,
    and how to execute sweeps (executor, jobs, Dask scheduler or client,
    cache shared by every experiment of one `fastwake paper`)."""

    out: Path = DEFAULT_OUT
    quick: bool = False
    executor: str = "local"
    jobs: int | None = None
    scheduler: Any = None
    cache: Any = True
    progress: bool | None = None
    log: Callable[[str], None] = field(default=lambda msg: print(msg, file=sys.stderr))
    stats: dict = field(default_factory=lambda: {"points": 0, "computed": 0, "cached": 0})
    written: list = field(default_factory=list)  #: data files written through this context

    def __post_init__(self):
        self.out = Path(self.out)
        if not isinstance(self.cache, ResultCache):
            if self.cache is True or self.cache is None:
                self.cache = ResultCache(default_cache_dir())
            elif self.cache is False:
                self.cache = ResultCache(None)  # in memory: experiments still share points
            else:
                self.cache = ResultCache(self.cache)

    def sweep(self, spec_path: str | os.PathLike, desc: str | None = None) -> pd.DataFrame:
        """Runs a sweep spec (quick-adjusted) with this context's executor and cache."""
        spec = load_spec(spec_path, self.quick)
        sets = [f"{k}={json.dumps(v)}" for k, v in spec["set"].items()]
        df = run_sweep(spec["base"], spec["grid"] or None, sets=sets, executor=self.executor, jobs=self.jobs,
                       scheduler=self.scheduler, cache=self.cache, progress=self.progress,
                       desc=desc or Path(spec_path).parent.name)
        for k in self.stats:
            self.stats[k] += df.attrs.get(k, 0)
        return df

    def path(self, name: str) -> Path:
        self.out.mkdir(parents=True, exist_ok=True)
        return self.out / name

    def write_csv(self, df: pd.DataFrame, name: str) -> Path:
        p = self.path(name)
        write_text_atomic(p, df.to_csv(index=False))
        self.written.append(p)
        return p

    def write_json(self, obj: Any, name: str) -> Path:
        p = self.path(name)
        write_text_atomic(p, json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default) + "\n")
        self.written.append(p)
        return p


def _json_default(o: Any):
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


@dataclass
class Experiment:
    """One experiments/NAME/ folder: sweep.json (or another config), run.py
    with run(ctx), plot.py with plot(out_dir) -> [written paths]."""

    name: str
    folder: Path

    def _load(self, script: str) -> ModuleType:
        path = self.folder / script
        spec = importlib.util.spec_from_file_location(f"fastwake_experiment_{self.name}_{path.stem}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    def run(self, ctx: Context) -> None:
        self._load("run.py").run(ctx)

    def plot(self, out: Path) -> list[Path]:
        return list(self._load("plot.py").plot(Path(out)) or [])


def discover(folder: Path | None = None) -> list[Experiment]:
    """Experiment folders (those with run.py and plot.py), sorted by name."""
    folder = folder or experiments_dir()
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no experiments folder (set FASTWAKE_EXPERIMENTS)")
    return [Experiment(p.name, p) for p in sorted(folder.iterdir())
            if p.is_dir() and (p / "run.py").exists() and (p / "plot.py").exists()]


def find(name: str) -> Experiment:
    for e in discover():
        if e.name == name:
            return e
    raise ConfigError(f"unknown experiment '{name}' (known: {', '.join(e.name for e in discover())})")


# ------------------------------------------------ entry points of the scripts

def _script_args(doc: str, with_run: bool) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=doc)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    if with_run:
        ap.add_argument("--quick", action="store_true", help="small grid, short runs")
        ap.add_argument("--executor", choices=("local", "dask"), default="local")
        ap.add_argument("--jobs", type=int, default=None)
        ap.add_argument("--scheduler", default=None, help="Dask scheduler address")
        ap.add_argument("--no-cache", action="store_true")
    return ap.parse_args()


def script_run(run: Callable[[Context], None], doc: str) -> None:
    """`python3 experiments/NAME/run.py [--out DIR] [--quick] ...`"""
    a = _script_args(doc, True)
    ctx = Context(out=a.out, quick=a.quick, executor=a.executor, jobs=a.jobs, scheduler=a.scheduler,
                  cache=not a.no_cache)
    t0 = time.perf_counter()
    run(ctx)
    print(f"data written to {a.out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


def script_plot(plot: Callable[[Path], list], doc: str) -> None:
    """`python3 experiments/NAME/plot.py [--out DIR]`"""
    a = _script_args(doc, False)
    for p in plot(a.out) or []:
        print(p)

