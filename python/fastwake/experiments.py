"""The experiments/ folders and the one runner for all of them.

Each folder experiments/NAME/ holds data only: its spec (sweep.json, or incast.json) and an
experiment.json saying how it runs, which file it writes and which registered plot draws it:

    {"plot": "latency-vs-threads"}        # defaults: "runner": "sweep", "spec": "sweep.json",
                                          # "data": "NAME.csv", "paper": true
    {"runner": "incast", "spec": "incast.json", "plot": "incast", "paper": false}

RUNNERS (name -> run(ctx, experiment)) and PLOTS (name -> Plot) are the registries the folders name.
run_experiment(NAME) runs any folder and draws its figure (`fastwake experiment NAME`,
`python3 -m fastwake.experiments NAME`); `fastwake paper` runs every folder with "paper": true.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from ._fastwake import ConfigError
from ._native import DATA, WORK
from .cache import ResultCache, default_cache_dir
from .results import write_text_atomic
from .sweeps import sweep as run_sweep

#: Default output folder of `fastwake paper` and of every paper experiment.
DEFAULT_OUT = WORK / "results" / "paper"

#: The file that makes a folder of experiments/ an experiment.
EXPERIMENT_FILE = "experiment.json"


def experiments_dir() -> Path:
    """$FASTWAKE_EXPERIMENTS, else experiments/ of the repository (or of the installed package data)."""
    env = os.environ.get("FASTWAKE_EXPERIMENTS")
    return Path(env) if env else DATA / "experiments"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: cannot open ({e.strerror})") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None


def _unknown_keys(path: Path, where: str, got: Iterable[str], known: Iterable[str]) -> None:
    unknown = set(got) - set(known)
    if unknown:
        raise ConfigError(f"{path}: {where}unknown key(s) {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(sorted(known))})")


SPEC_KEYS = {"description", "base", "set", "grid", "quick", "seeds", "min_requests"}


def load_spec(path: str | os.PathLike, quick: bool = False) -> dict:
    """Reads a sweep spec (an experiment's sweep.json):

        {"description": "...",
         "base": "../../configs/default.json",   # relative to this file; null = embedded default
         "set":  {"run.duration_ms": 100},        # overrides of the base, PATH: value
         "grid": {"platform": ["x86", "arm"], "workload.threads_per_core": [1, 2, 4]},
         "seeds": 3,                              # every point once per seed (1..3, or a list)
         "min_requests": 5000,                    # lengthen a point's run until each strategy has these
         "quick": {"set": {...}, "grid": {...}, "seeds": ..., "min_requests": ...}}  # merged with --quick

    Returns {"description", "base" (absolute path or None), "set", "grid", "seeds", "min_requests"}."""
    path = Path(path)
    spec = _read_json(path)
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    _unknown_keys(path, "", spec, SPEC_KEYS)
    for k in ("set", "quick"):
        if not isinstance(spec.get(k, {}), dict):
            raise ConfigError(f"{path}: '{k}' must be an object")
    def grid_of(g, where):
        if not isinstance(g, (dict, list)):
            raise ConfigError(f"{path}: '{where}' must be an object {{PATH: [values]}} or a list of points")
        return dict(g) if isinstance(g, dict) else list(g)

    sets = dict(spec.get("set", {}))
    grid = grid_of(spec.get("grid", {}), "grid")
    seeds, min_requests = spec.get("seeds"), spec.get("min_requests")
    if quick:
        q = spec.get("quick", {})
        _unknown_keys(path, "quick: ", q, {"set", "grid", "seeds", "min_requests"})
        sets.update(q.get("set", {}))
        if "grid" in q:  # an object merges over an object grid; a list of points replaces it
            qg = grid_of(q["grid"], "quick.grid")
            grid = {**grid, **qg} if isinstance(grid, dict) and isinstance(qg, dict) else qg
        seeds = q.get("seeds", seeds)
        min_requests = q.get("min_requests", min_requests)
    base = spec.get("base")
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}: 'base' must be a path (relative to the spec) or null")
        base = str((path.parent / base).resolve())
    return {"description": spec.get("description", ""), "base": base, "set": sets, "grid": grid,
            "seeds": seeds, "min_requests": min_requests}


def set_args(sets: dict) -> list[str]:
    """A spec's "set" object as `--set PATH=JSON` arguments."""
    return [f"{k}={json.dumps(v)}" for k, v in sets.items()]


@dataclass
class Context:
    """What an experiment's runner gets: where to write, quick or full,
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
        return self.sweep_grid(spec["base"], spec["grid"] or None, set_args(spec["set"]),
                               desc=desc or Path(spec_path).parent.name, seeds=spec["seeds"],
                               min_requests=spec["min_requests"])

    def sweep_grid(self, base, grid, sets: Iterable[str] = (), desc: str = "sweep", seeds=None,
                   min_requests: int | None = None) -> pd.DataFrame:
        """fastwake.sweep(base, grid, sets=..., seeds=..., min_requests=...) with this context's executor
        and cache; counts the points."""
        df = run_sweep(base, grid, sets=list(sets), executor=self.executor, jobs=self.jobs,
                       scheduler=self.scheduler, cache=self.cache, progress=self.progress, desc=desc,
                       seeds=seeds, min_requests=min_requests)
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


# ------------------------------------------------------------ the plot registry

@dataclass(frozen=True)
class Plot:
    """One entry of PLOTS, named by an experiment's "plot" and by `fastwake plot NAME DATA`.
    A figure: draw(rows, sidecar) -> matplotlib Figure, saved as STEM.png and STEM.pdf (sidecar:
    the JSON object next to the data file, plots.sidecar). A table: write(rows, stem, description)
    writes its own files (description: the experiment spec's)."""

    name: str
    help: str
    draw: Callable[[pd.DataFrame, dict], Any] | None = None
    write: Callable[[pd.DataFrame, Path, str], list] | None = None

    @property
    def is_figure(self) -> bool:
        return self.draw is not None

    def render(self, data: str | os.PathLike, stem: str | os.PathLike, description: str = "",
               where=None) -> list[Path]:
        """Reads the data file, keeps the rows matching `where` (plots.select: a dict or
        'KEY=VALUE' strings), writes the figure or table at STEM; returns the files written."""
        from . import plots

        data = Path(data)
        if not data.exists():
            raise ConfigError(f"{data}: no such file")
        rows = plots.select(pd.read_csv(data), where)
        if self.draw is not None:
            return plots.save(self.draw(rows, plots.sidecar(data)), stem)
        return [Path(p) for p in self.write(rows, Path(stem), description)]


def _plots():
    from . import plots  # matplotlib only when something is drawn

    return plots


def _write_headline(rows: pd.DataFrame, stem: Path, description: str) -> list:
    from . import headline

    return headline.write(rows, stem, description)


PLOTS: dict[str, Plot] = {p.name: p for p in [
    Plot("latency-vs-threads", "p50 and p99 latency vs threads per core (plots.latency_vs_threads)",
         draw=lambda rows, side: _plots().latency_vs_threads(rows)),
    Plot("latency-vs-threads-fixed-load",
         "p50 and p99 latency vs threads per core at a fixed offered load per core (plots.latency_vs_threads_fixed_load)",
         draw=lambda rows, side: _plots().latency_vs_threads_fixed_load(rows)),
    Plot("latency-vs-load", "p50 and p99 latency vs offered load per core, past saturation (plots.latency_vs_load)",
         draw=lambda rows, side: _plots().latency_vs_load(rows)),
    Plot("cdf", "CDF of per-request latency, from a CDF table; NAME.json gives the scenario (plots.latency_cdf)",
         draw=lambda rows, side: _plots().latency_cdf(rows, scenario=side.get("scenario"))),
    Plot("breakdown", "mean latency per stage, per strategy (plots.breakdown)",
         draw=lambda rows, side: _plots().breakdown(rows)),
    Plot("state-residency", "each core's time split into work, irq, polling and C-states, per strategy "
         "(plots.state_residency)", draw=lambda rows, side: _plots().state_residency(rows)),
    Plot("power-vs-load", "host power vs offered load (plots.power_vs_load)",
         draw=lambda rows, side: _plots().power_vs_load(rows)),
    Plot("power-vs-latency", "host power vs p99 latency, one point per load (plots.power_vs_latency)",
         draw=lambda rows, side: _plots().power_vs_latency(rows)),
    Plot("adaptive-vs-load",
         "fastwake_adaptive beside fastwake_poll and fastwake_irq vs offered load: p50, p99, power and the cap "
         "(plots.adaptive_vs_load)",
         draw=lambda rows, side: _plots().adaptive_vs_load(rows)),
    Plot("incast", "latency, throughput, power vs clients on both fabrics; NAME.json gives the link (plots.incast)",
         draw=lambda rows, side: _plots().incast(rows, side)),
    Plot("headline", "the headline table as STEM.csv, .json, .txt (headline.write)", write=_write_headline),
]}


def figure_plots() -> list[str]:
    """The PLOTS that are figures (what `fastwake plot NAME DATA.csv` draws)."""
    return [name for name, p in PLOTS.items() if p.is_figure]


# ------------------------------------------------------------ the runner registry

#: Runners by name: run(ctx, experiment) writes the experiment's data through ctx.
RUNNERS: dict[str, Callable[[Context, "Experiment"], None]] = {}


def runner(name: str):
    """Registers run(ctx, experiment) as RUNNERS[name] (for experiments that need code)."""
    def register(fn):
        RUNNERS[name] = fn
        return fn
    return register


@runner("sweep")
def run_sweep_spec(ctx: Context, exp: "Experiment") -> None:
    """The spec is a sweep spec (load_spec): one sweep, its rows to DATA."""
    df = ctx.sweep(exp.spec_path, desc=exp.name)
    ctx.write_csv(df, exp.data)


@runner("latency-cdf")
def run_latency_cdf(ctx: Context, exp: "Experiment") -> None:
    """Each point of the sweep spec run once with per-request samples (not cached, one short run per
    platform); DATA is the CDF table (plots.cdf_frame), NAME.json next to it the scenario and the
    request counts."""
    from . import plots
    from ._fastwake import MODEL_VERSION
    from .config import canonical_json
    from .runner import run
    from .sweeps import make_points

    spec = load_spec(exp.spec_path, ctx.quick)
    sets = [f"{k}={canonical_json(v)}" for k, v in spec["set"].items()]
    import numpy as np

    samples, scenario, seeds = {}, None, set()
    for p in make_points(spec["base"], spec["grid"], sets=sets, seeds=spec["seeds"]):
        r = run(p.config, samples=True)
        # Seeds of one platform pool their requests into one CDF.
        have = samples.setdefault(r.config["platform"]["name"], {})
        for s in r.samples:
            have[s] = np.concatenate([have.get(s, np.empty(0)), r.latencies_us(s)])
        seeds.add(r.config["run"]["seed"])
        scenario = plots.scenario_text(r.frame())
    ctx.write_csv(plots.cdf_frame(samples), exp.data)
    ctx.write_json({"scenario": scenario, "model_version": MODEL_VERSION, "seeds": sorted(seeds),
                    "requests": {plat: {s: len(v) for s, v in d.items()} for plat, d in samples.items()}},
                   exp.sidecar)


INCAST_KEYS = {"description", "base", "set", "app_cores", "clients", "fabrics", "quick"}


def load_incast_spec(path: str | os.PathLike, quick: bool = False) -> dict:
    """Reads an incast spec (experiments/incast/incast.json): base, set, app_cores, clients, fabrics,
    and quick (set/clients merged in when `quick`). "base" comes back as an absolute path."""
    path = Path(path)
    spec = _read_json(path)
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    _unknown_keys(path, "", spec, INCAST_KEYS)
    missing = sorted({"base", "set", "app_cores", "clients", "fabrics"} - set(spec))
    if missing:
        raise ConfigError(f"{path}: missing key(s) {', '.join(missing)}")
    spec = dict(spec, set=dict(spec["set"]))
    if quick:
        q = spec.get("quick", {})
        _unknown_keys(path, "quick: ", q, {"set", "clients"})
        spec["set"].update(q.get("set", {}))
        spec["clients"] = q.get("clients", spec["clients"])
    spec["base"] = str((path.parent / spec["base"]).resolve())
    return spec


def incast_points(spec: dict, fabric: str) -> list[dict]:
    """One grid point per client count on `fabric`: N clients = N connections = app_cores x
    threads_per_core (fewer clients than cores: one per core)."""
    out = []
    for n in spec["clients"]:
        cores = min(n, spec["app_cores"])
        if n % cores:
            raise ConfigError(f"incast: {n} clients do not spread evenly over {cores} cores")
        out.append({"fabric.kind": fabric, "host.app_cores": cores, "workload.threads_per_core": n // cores})
    return out


@runner("incast")
def run_incast(ctx: Context, exp: "Experiment") -> None:
    """An incast spec (load_incast_spec): one sweep per fabric over the client counts; DATA gets the
    rows with `clients` and `fabric` columns, NAME.json what the figure needs besides them (the
    server link's rate, the message size)."""
    from ._fastwake import MODEL_VERSION
    from .config import resolve_config

    spec = load_incast_spec(exp.spec_path, ctx.quick)
    sets = set_args(spec["set"])
    frames, walls = [], {}
    for fabric in spec["fabrics"]:
        t = time.perf_counter()
        df = ctx.sweep_grid(spec["base"], incast_points(spec, fabric), sets, desc=f"{exp.name} ({fabric} fabric)")
        walls[fabric] = (time.perf_counter() - t, df.attrs.get("computed", 0), df.attrs.get("cached", 0))
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    df.insert(1, "clients", df["host.app_cores"] * df["workload.threads_per_core"])
    df.insert(2, "fabric", df["fabric.kind"])
    ctx.write_csv(df, exp.data)
    resolved = resolve_config(spec["base"], sets=[*sets, 'fabric.kind="simgrid"'])
    ctx.write_json({"description": spec.get("description", ""), "quick": ctx.quick, "model_version": MODEL_VERSION,
                    "server_link_gbps": resolved["fabric"]["server_link_gbps"],
                    "message_bytes": resolved["workload"]["message_bytes"]}, exp.sidecar)
    for fabric, (wall, computed, cached) in walls.items():
        ctx.log(f"{exp.name}: {fabric} fabric: {computed} points simulated, {cached} from cache, {wall:.1f} s")


# ------------------------------------------------------------ experiments

EXPERIMENT_KEYS = {"runner", "spec", "data", "plot", "paper"}


@dataclass(frozen=True)
class Experiment:
    """One experiments/NAME/ folder, as its experiment.json describes it."""

    name: str
    folder: Path
    plot: str                 #: PLOTS entry that draws DATA into OUT/NAME.*
    runner: str = "sweep"     #: RUNNERS entry that writes DATA
    spec: str = "sweep.json"  #: the runner's input, in the folder
    data: str = ""            #: data file in OUT (default NAME.csv)
    paper: bool = True        #: part of `fastwake paper` (else its own folder results/NAME/)

    def __post_init__(self):
        if not self.data:
            object.__setattr__(self, "data", f"{self.name}.csv")

    @property
    def spec_path(self) -> Path:
        return self.folder / self.spec

    @property
    def sidecar(self) -> str:
        """NAME.json next to DATA: what the plot needs besides the rows (not every runner writes one)."""
        return str(Path(self.data).with_suffix(".json"))

    @property
    def description(self) -> str:
        doc = _read_json(self.spec_path)
        return doc.get("description", "") if isinstance(doc, dict) else ""

    @property
    def default_out(self) -> Path:
        return DEFAULT_OUT if self.paper else WORK / "results" / self.name

    def run(self, ctx: Context) -> None:
        """Writes the data through ctx (the runner named in experiment.json)."""
        RUNNERS[self.runner](ctx, self)

    def draw(self, out: str | os.PathLike) -> list[Path]:
        """Draws OUT/DATA into OUT/NAME.* (the plot named in experiment.json); returns the files."""
        out = Path(out)
        return PLOTS[self.plot].render(out / self.data, out / self.name, self.description)


def load_experiment(folder: str | os.PathLike) -> Experiment:
    """The experiment of a folder, from its experiment.json (checked: keys, runner, plot, spec file)."""
    folder = Path(folder)
    path = folder / EXPERIMENT_FILE
    doc = _read_json(path)
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    _unknown_keys(path, "", doc, EXPERIMENT_KEYS)
    if "plot" not in doc:
        raise ConfigError(f"{path}: 'plot' is required (one of {', '.join(PLOTS)})")
    for key, registry in (("plot", PLOTS), ("runner", RUNNERS)):
        if key in doc and doc[key] not in registry:
            raise ConfigError(f"{path}: {key}: unknown {key} {doc[key]!r} (known: {', '.join(registry)})")
    for key in ("spec", "data"):
        if key in doc and (not isinstance(doc[key], str) or not doc[key] or "/" in doc[key]):
            raise ConfigError(f"{path}: {key}: expected a file name, got {doc[key]!r}")
    if "paper" in doc and not isinstance(doc["paper"], bool):
        raise ConfigError(f"{path}: paper: expected true or false, got {doc['paper']!r}")
    exp = Experiment(name=folder.name, folder=folder, **doc)
    if not exp.spec_path.is_file():
        raise ConfigError(f"{path}: spec: {exp.spec_path} does not exist")
    return exp


def discover(folder: Path | None = None) -> list[Experiment]:
    """The experiment folders (those with an experiment.json), sorted by name."""
    folder = folder or experiments_dir()
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no experiments folder (set FASTWAKE_EXPERIMENTS)")
    return [load_experiment(p) for p in sorted(folder.iterdir()) if (p / EXPERIMENT_FILE).is_file()]


def paper_experiments() -> list[Experiment]:
    """The experiments of `fastwake paper` ("paper": true), in name order."""
    return [e for e in discover() if e.paper]


def find(name: str) -> Experiment:
    exps = discover()
    for e in exps:
        if e.name == name:
            return e
    raise ConfigError(f"unknown experiment '{name}' (known: {', '.join(e.name for e in exps)})")


@contextlib.contextmanager
def dask_scope(executor: str, scheduler: Any, jobs: int | None):
    """With executor "dask" and no scheduler: one LocalCluster for every sweep inside (yields its
    client); otherwise yields `scheduler` unchanged."""
    if executor != "dask" or scheduler is not None:
        yield scheduler
        return
    from .sweeps import _default_jobs, start_local_cluster

    cluster, client = start_local_cluster(jobs or _default_jobs())
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def run_experiment(name: str, out: str | os.PathLike | None = None, *, quick: bool = False,
                   executor: str = "local", jobs: int | None = None, scheduler: Any = None, cache: Any = True,
                   progress: bool | None = None, plot: bool = True,
                   log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> list[Path]:
    """Runs experiments/NAME/ (its runner writes the data into `out`, default results/paper/ for a paper
    experiment, else results/NAME/) and, with `plot`, draws its figure or table. Returns the files
    written, data first. An unknown NAME is a ConfigError listing the known ones."""
    exp = find(name)
    out = Path(out) if out is not None else exp.default_out
    with dask_scope(executor, scheduler, jobs) as sched:
        ctx = Context(out=out, quick=quick, executor=executor, jobs=jobs, scheduler=sched, cache=cache,
                      progress=progress, log=log)
        exp.run(ctx)
    return [*ctx.written, *(exp.draw(out) if plot else [])]


def main(argv: list[str] | None = None) -> int:
    """`python3 -m fastwake.experiments NAME [options]`: the same as `fastwake experiment NAME [options]`."""
    from .cli import main as cli_main

    return cli_main(["experiment", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
