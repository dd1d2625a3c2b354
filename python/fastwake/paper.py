"""`fastwake paper`: runs every paper experiment of experiments/ ("paper": true in its experiment.json), draws its figure or table, writes a manifest, reports the wall time."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from . import _fastwake
from .experiments import DEFAULT_OUT, Context, dask_scope, discover, paper_experiments
from .headline import format_table
from .meta import result_meta
from .results import write_text_atomic


def paper(out: str | Path = DEFAULT_OUT, *, quick: bool = False, executor: str = "local",
          jobs: int | None = None, scheduler: Any = None, cache: Any = True,
          progress: bool | None = None, only: list[str] | None = None,
          log: Callable[[str], None] = lambda m: print(m, file=sys.stderr), t0: float | None = None) -> dict:
    """Reproduces the paper-style figures and the headline table into `out`.
    Returns the manifest (also written to OUT/manifest.json): files,
    experiments, sweep point counts, model version and wall time (since
    `t0`, a time.perf_counter() value; default: now)."""
    t0 = time.perf_counter() if t0 is None else t0
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    exps = paper_experiments()
    if only:
        names = {e.name for e in exps}
        unknown = [n for n in only if n not in names]
        if unknown:
            others = {e.name for e in discover()} - names
            hint = "".join(f"; {n} is not a paper experiment: run it with `fastwake experiment {n}`"
                           for n in unknown if n in others)
            raise _fastwake.ConfigError(f"unknown experiment(s) {', '.join(unknown)} "
                                        f"(known: {', '.join(sorted(names))}){hint}")
        exps = [e for e in exps if e.name in only]

    timings: dict[str, dict[str, float]] = {}
    files: list[str] = []
    # One LocalCluster for every experiment (executor "dask" without a scheduler), not one per sweep.
    with dask_scope(executor, scheduler, jobs) as sched:
        ctx = Context(out=out, quick=quick, executor=executor, jobs=jobs, scheduler=sched, cache=cache,
                      progress=progress, log=log)
        for e in exps:
            t = time.perf_counter()
            e.run(ctx)
            timings[e.name] = {"run_s": round(time.perf_counter() - t, 3)}
    for e in exps:
        t = time.perf_counter()
        written = e.draw(out)
        timings[e.name]["plot_s"] = round(time.perf_counter() - t, 3)
        files += [str(p) for p in written]
        log(f"  {e.name}: {', '.join(Path(p).name for p in written)}")
    wall = time.perf_counter() - t0
    manifest = {
        "command": "fastwake paper" + (" --quick" if quick else ""),
        "meta": result_meta("fastwake paper"),
        "model_version": _fastwake.MODEL_VERSION,
        "quick": quick,
        "executor": executor,
        "experiments": timings,
        "sweep_points": ctx.stats,
        "cache": str(ctx.cache.directory) if ctx.cache.directory else None,
        "files": sorted({Path(f).name for f in [*ctx.written, *files]}),
        "wall_s": round(wall, 2),
    }
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def print_report(out: Path, manifest: dict, stream=sys.stdout) -> None:
    """The headline table, where every file is, and the wall time."""
    out = Path(out)
    head = out / "headline.csv"
    if head.exists():
        table = pd.read_csv(head)
        default_tpc = json.loads((out / "headline.json").read_text()).get("default_threads_per_core")
        print("Headline (simulated; power is a model estimate)\n", file=stream)
        print(format_table(table, default_tpc=default_tpc), file=stream)
        print(file=stream)
    print(f"Figures and tables in {out}/:", file=stream)
    for name in [*manifest["files"], "manifest.json"]:
        print(f"  {out / name}", file=stream)
    sp = manifest["sweep_points"]
    print(f"sweep points: {sp['points']}, {sp['computed']} simulated, {sp['cached']} reused (shared between "
          f"figures{' or cached in ' + manifest['cache'] if manifest['cache'] else ''})", file=stream)
    print(f"fastwake paper{' --quick' if manifest['quick'] else ''}: wall time {manifest['wall_s']:.1f} s",
          file=stream)
