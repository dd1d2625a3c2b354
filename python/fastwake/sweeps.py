"""Parameter sweeps (fastwake.sweep): grid points -> resolved configs -> simulations (local threads or Dask) -> one DataFrame, cached by config hash."""
from __future__ import annotations

import concurrent.futures
import itertools
import json
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from . import _fastwake
from ._fastwake import ConfigError
from .cache import ResultCache, default_cache_dir
from .config import ConfigLike, config_hash, load_config, plain, set_value
from .results import rows_of

EXECUTORS = ("local", "dask")


class ClusterError(RuntimeError):
    """The Dask cluster cannot run the sweep (no workers, workers without the
    fastwake package, or running a different model version, or workers kept
    dying on one point)."""


@dataclass
class Point:
    """One grid point: its overrides, resolved config and cache key."""

    index: int
    overrides: dict
    config: dict
    key: str


def expand_grid(grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None) -> list[dict]:
    """The grid's points as override dicts. A dict {PATH: [values…]} gives
    every combination (first key outermost); a list of dicts gives exactly
    those points; None or {} gives the base config alone."""
    if grid is None:
        return [{}]
    if isinstance(grid, Mapping):
        keys = list(grid)
        values = []
        for k in keys:
            if not isinstance(k, str) or not k:
                raise ConfigError(f"grid: keys are config paths such as 'workload.threads_per_core', got {k!r}")
            v = grid[k]
            if isinstance(v, (set, frozenset)):
                raise ConfigError(f"grid['{k}']: a set has no order; give the values as a list, "
                                  f"e.g. {sorted(v, key=repr)!r}")
            if isinstance(v, range):
                v = list(v)
            v = plain(v, f"grid['{k}']")
            if isinstance(v, (str, bytes)) or not isinstance(v, list):
                raise ConfigError(f"grid['{k}']: expected a list of values, got {v!r} "
                                  f"(write [{v!r}] for one value)")
            if not v:
                raise ConfigError(f"grid['{k}']: empty list of values (the sweep would have no points)")
            values.append(v)
        return [dict(zip(keys, combo)) for combo in itertools.product(*values)] if keys else [{}]
    if isinstance(grid, (list, tuple)):
        points = []
        for i, p in enumerate(grid):
            if not isinstance(p, Mapping):
                raise ConfigError(f"grid[{i}]: expected a dict of PATH: value overrides, got {p!r}")
            points.append(plain(dict(p), f"grid[{i}]"))
        if not points:
            raise ConfigError("grid: empty list of points")
        return points
    raise ConfigError(f"grid: expected a dict {{PATH: [values…]}} or a list of {{PATH: value}} dicts, "
                      f"got {type(grid).__name__}")


def _describe(overrides: Mapping[str, Any]) -> str:
    def text(v: Any) -> str:
        try:
            return json.dumps(v)
        except (TypeError, ValueError):
            return repr(v)

    return ", ".join(f"{k}={text(v)}" for k, v in overrides.items()) or "base config"


def seed_list(seeds) -> list[int]:
    """`seeds` as a list: an int N means seeds 1..N, a list is taken as given."""
    if seeds is None:
        return []
    if isinstance(seeds, bool):
        raise ConfigError(f"seeds: expected a count or a list of seeds, got {seeds!r}")
    if isinstance(seeds, int):
        if seeds < 1 or seeds > 100_000:
            raise ConfigError(f"seeds: expected a count in [1, 100000], got {seeds}")
        return list(range(1, seeds + 1))
    if isinstance(seeds, range):
        seeds = list(seeds)
    if isinstance(seeds, (list, tuple)) and seeds and all(isinstance(x, int) and not isinstance(x, bool)
                                                           for x in seeds):
        bad = [x for x in seeds if not 0 <= x < 2**64]
        if bad:
            raise ConfigError(f"seeds: every seed must be in [0, 2**64-1], got {bad[0]}")
        return list(seeds)
    raise ConfigError(f"seeds: expected a count or a non-empty list of integer seeds, got {seeds!r}")


def make_points(base: ConfigLike, grid, *, platform: str | None = None, sets=(),
                seeds=None) -> list[Point]:
    """Resolves every grid point (all validated before anything runs, so a bad
    grid fails at once with the point and the key named). With `seeds`, every
    grid point runs once per seed (run.seed, the innermost grid dimension)."""
    from .runner import set_strings

    doc = load_config(base, platform=platform, sets=set_strings(sets))
    points = []
    grid_points = expand_grid(grid)
    sl = seed_list(seeds)
    if sl:
        grid_points = [{**o, "run.seed": s} for o in grid_points for s in sl]
    for i, overrides in enumerate(grid_points):
        try:
            d = doc
            for path, value in overrides.items():
                d = set_value(d, path, value)
            resolved = _fastwake.resolve_config(d)
        except ConfigError as e:
            raise ConfigError(f"grid point {i} ({_describe(overrides)}): {e}") from None
        points.append(Point(i, overrides, resolved, config_hash(resolved)))
    return points


def simulate_point(config: dict, model_version: str, force: bool = False) -> dict:
    """Runs one resolved config (every strategy) and returns its result
    document. This is the task a Dask worker runs: it needs the fastwake
    package importable and built at the same MODEL_VERSION as the client."""
    from fastwake import _fastwake as native  # resolved on the worker

    if native.MODEL_VERSION != model_version:
        raise ClusterError(f"worker runs model {native.MODEL_VERSION}, the client expects {model_version}: "
                           "build the same source tree on every machine")
    doc, _samples, _wall = native.simulate(config, force)
    return doc


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell), where stderr is no terminal."""
    ip = sys.modules.get("IPython")
    try:
        shell = ip.get_ipython() if ip is not None else None
    except Exception:  # noqa: BLE001 - whatever a half-initialised IPython raises
        return False
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _progress_bar(total: int, initial: int, desc: str, enabled: bool | None):
    """tqdm.auto: a widget in Jupyter (when ipywidgets is installed, else text), text on a terminal."""
    import warnings

    if enabled is None:
        enabled = sys.stderr.isatty() or in_notebook()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tqdm.auto's "IProgress not found" without ipywidgets
        from tqdm.auto import tqdm
        return tqdm(total=total, initial=initial, desc=desc, unit="point", disable=not enabled,
                    file=sys.stderr, dynamic_ncols=True, leave=True)


def _default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _run_local(todo: list[Point], jobs: int, done: Callable[[Point, dict], None],
               force: bool = False) -> None:
    # simulate_point(config, model_version) unless forced: the task's usual
    # signature (what a Dask worker or a wrapper around it expects).
    extra = (True,) if force else ()
    if jobs == 1 or len(todo) == 1:
        for p in todo:
            done(p, simulate_point(p.config, _fastwake.MODEL_VERSION, *extra))
        return
    # Threads are enough: the module releases the GIL while it simulates.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="fastwake-sweep")
    try:
        futures = {pool.submit(simulate_point, p.config, _fastwake.MODEL_VERSION, *extra): p for p in todo}
        for f in concurrent.futures.as_completed(futures):
            done(futures[f], f.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_PROBE = "__import__('fastwake').MODEL_VERSION"


def _check_workers(client, address: str) -> None:
    """Every connected worker must import fastwake at the client's model version."""
    try:
        versions = client.run(eval, _PROBE)
    except Exception as e:  # noqa: BLE001 - whatever the worker raised
        raise ClusterError(
            f"a Dask worker of {address} cannot import the fastwake package ({type(e).__name__}: {e}). "
            "Start each worker with the repository's python/ on PYTHONPATH and a build of the same "
            "source tree, e.g. `PYTHONPATH=$REPO/python dask-worker SCHEDULER` (see docs/python.md)") from None
    wrong = {w: v for w, v in versions.items() if v != _fastwake.MODEL_VERSION}
    if wrong:
        raise ClusterError(f"Dask workers run another model version than this client "
                           f"({_fastwake.MODEL_VERSION}): {wrong}; build the same source tree everywhere")


def start_local_cluster(jobs: int):
    """A dask.distributed LocalCluster on loopback with `jobs` single-threaded
    worker processes, and a Client to it: returns (cluster, client)."""
    from dask.distributed import Client, LocalCluster

    from . import _native

    # Worker processes search for the build like this process did; pin it.
    os.environ.setdefault("FASTWAKE_BUILD_DIR", _native.module_dir(_fastwake))
    cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.ERROR)
    return cluster, Client(cluster)


def _run_dask(todo: list[Point], jobs: int, scheduler, done: Callable[[Point, dict], None],
              worker_timeout_s: float, force: bool = False) -> None:
    from dask.distributed import Client, as_completed
    from distributed.scheduler import KilledWorker

    cluster, owned = None, True
    if scheduler is not None and not isinstance(scheduler, str):
        client, owned = scheduler, False  # a dask.distributed.Client the caller manages
        address = str(getattr(client, "scheduler", None) and client.scheduler.address)
    elif scheduler:
        client = Client(scheduler, timeout=worker_timeout_s)
        address = scheduler
    else:
        cluster, client = start_local_cluster(jobs)
        address = "LocalCluster"
    try:
        try:
            client.wait_for_workers(1, timeout=worker_timeout_s)
        except Exception:  # noqa: BLE001 - dask raises TimeoutError or its own
            raise ClusterError(f"no Dask worker connected to {address} within {worker_timeout_s:.0f} s") from None
        _check_workers(client, address)
        # Only plain data goes to the workers (resolved configs, platform
        # inlined): no file paths, no shared disk. Results come back as data
        # and are cached here, by the client.
        futures = {}
        for p in todo:
            f = client.submit(simulate_point, p.config, _fastwake.MODEL_VERSION, *((True,) if force else ()),
                              key=f"fastwake-point-{p.key}", pure=False, retries=1)
            futures[f] = p
        # A worker that dies (even SIGKILL) loses nothing: the scheduler gives
        # its points to the others; results are cached here, once per point,
        # whole. Only a point that kills every worker it lands on (Dask's
        # distributed.scheduler.allowed-failures, default 3) stops the sweep;
        # the points finished before are cached, so a rerun resumes.
        try:
            for f in as_completed(list(futures)):
                p = futures[f]
                try:
                    doc = f.result()
                except KilledWorker as e:
                    raise ClusterError(f"grid point {p.index} ({_describe(p.overrides)}): the Dask workers "
                                       f"running it died too often ({e}); the points finished so far are "
                                       "cached, rerun to resume") from None
                done(p, doc)
        finally:
            for f in futures:
                f.cancel()
    finally:
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()


def _resolve_cache(cache) -> ResultCache:
    if isinstance(cache, ResultCache):
        return cache
    if cache is True or cache is None:
        return ResultCache(default_cache_dir())
    if cache is False:
        return ResultCache(None)
    if isinstance(cache, (str, os.PathLike)):
        return ResultCache(cache)
    raise ConfigError(f"cache: expected True, False, a directory or a ResultCache, got {cache!r}")


def _lengthen(p: Point, doc: dict, min_requests: int) -> Point | None:
    """The point again with a run long enough for `min_requests` per strategy, or None if it has them."""
    have = min((int(r.get("requests", 0)) for r in doc.get("results", [])), default=0)
    if have >= min_requests:
        return None
    ms = p.config["run"]["duration_ms"]
    factor = min(50.0, 1.15 * min_requests / max(have, 1))
    longer = max(ms + 1, int(-(-ms * factor // 1)))
    cfg = set_value(p.config, "run.duration_ms", longer)
    resolved = _fastwake.resolve_config(cfg)
    return Point(p.index, p.overrides, resolved, config_hash(resolved))


def sweep(base: ConfigLike = None, grid=None, *, executor: str = "local", jobs: int | None = None,
          scheduler=None, cache=True, progress: bool | None = None,
          platform: str | None = None, sets=(), desc: str = "sweep",
          worker_timeout_s: float = 60.0, seeds=None, min_requests: int | None = None,
          force: bool = False) -> pd.DataFrame:
    """Simulates every point of `grid` applied to `base` and returns a
    DataFrame with one row per grid point x strategy.

    base      config dict, JSON file path, or None for configs/default.json
    grid      {PATH: [values…]} (every combination, first key outermost) or a
              list of {PATH: value} points; PATH as in `fastwake-sim --set`,
              e.g. {"platform": ["x86", "arm"], "workload.threads_per_core": [1, 8]}
    executor  "local" (threads in this process) or "dask" (dask.distributed)
    jobs      local: worker threads; dask without scheduler: LocalCluster
              worker processes (default: the usable cores). Ignored with a
              scheduler address (the cluster decides).
    scheduler Dask scheduler address (tcp://host:8786), or a connected
              dask.distributed.Client (left open); None starts a LocalCluster
    cache     True (fastwake.default_cache_dir(): $FASTWAKE_CACHE_DIR, else
              $XDG_CACHE_HOME/fastwake, else ~/.cache/fastwake), a directory, a
              ResultCache, or False (nothing on disk). Finished points are
              stored as they complete, so an interrupted sweep resumes.
    progress  tqdm.auto bar (None: when stderr is a terminal or in Jupyter)
    sets      overrides of the base: a dict {PATH: value} or 'PATH=VALUE' strings
    seeds     N (seeds 1..N) or a list: every point once per seed (grid key
              run.seed, innermost; each seed cached on its own). Fold the
              seeds with fastwake.stats.aggregate (mean, t-interval).
    min_requests  a point whose shortest strategy measured fewer requests
              runs again, longer (run.duration_ms scaled to ~1.15x the need,
              at most 50x): enough samples for a p99 (5,000 = 50 beyond it)
    force     run points the pre-run guard refuses (too many events, too much
              memory, an open-loop backlog that cannot drain; docs/config.md)

    Columns: `point` (grid index), one column per grid key (values as given;
    lists/dicts as JSON text), `config_hash`, config.* (name and the scalar
    keys of host/workload/remapper/run), then the result schema flattened
    with dots (strategy, latency_us.p50, breakdown_us.irq, power_w, ...). A
    result field wins over a grid column of the same name (e.g. `platform`
    holds the platform's name). df.attrs holds computed/cached point counts.
    Raises fastwake.ConfigError for a bad grid, config or argument.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"executor: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
    if jobs is None:
        jobs = _default_jobs()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs: expected a positive integer, got {jobs!r}")
    if scheduler is not None and executor != "dask":
        raise ConfigError("scheduler: only used with executor='dask'")
    if min_requests is not None and (isinstance(min_requests, bool) or not isinstance(min_requests, int)
                                     or min_requests < 1):
        raise ConfigError(f"min_requests: expected a positive integer, got {min_requests!r}")
    if not isinstance(force, bool):
        raise ConfigError(f"force: expected True or False, got {force!r}")
    store = _resolve_cache(cache)
    store.check_writable()  # an unusable cache folder fails before anything runs
    points = make_points(base, grid, platform=platform, sets=sets, seeds=seeds)
    if not force:
        # The pre-run guard, for every point before the first one runs.
        for p in points:
            try:
                _fastwake.check_run(p.config)
            except ConfigError as e:
                raise ConfigError(f"grid point {p.index} ({_describe(p.overrides)}): {e}") from None

    docs: dict[str, dict] = {}
    computed = cached = 0
    bar = _progress_bar(len(points), 0, desc, progress)
    try:
        def done(p: Point, doc: dict) -> None:
            store.put(p.key, doc)
            docs[p.key] = doc
            bar.update(1)

        # Up to three passes: the points as given, then (min_requests) the short ones lengthened.
        for _pass in range(3):
            todo, seen = [], set(docs)
            for p in points:
                if p.key in seen:
                    continue
                seen.add(p.key)
                hit = store.get(p.key)
                if hit is not None:
                    docs[p.key] = hit
                    cached += 1
                    bar.update(1)
                else:
                    todo.append(p)
            computed += len(todo)
            if todo:
                if executor == "local":
                    _run_local(todo, jobs, done, force)
                else:
                    _run_dask(todo, jobs, scheduler, done, worker_timeout_s, force)
            if not min_requests:
                break
            longer = {i: q for i, p in enumerate(points) if (q := _lengthen(p, docs[p.key], min_requests))}
            if not longer:
                break
            bar.total += len({q.key for q in longer.values()})
            bar.refresh()
            points = [longer.get(i, p) for i, p in enumerate(points)]
    finally:
        bar.close()

    rows = []
    for p in points:
        head = {"point": p.index}
        for k, v in p.overrides.items():
            head[k] = v if not isinstance(v, (list, dict)) else json.dumps(v, sort_keys=True)
        head["config_hash"] = p.key[:16]
        rows.extend(rows_of(docs[p.key], head))
    df = pd.DataFrame(rows)
    df.attrs.update({"points": len(points), "computed": computed, "cached": cached,
                     "model_version": _fastwake.MODEL_VERSION,
                     "cache": str(store.directory) if store.directory else None})
    return df
