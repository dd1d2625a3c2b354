"""The Dask executor: a LocalCluster and a separately started scheduler + workers (as on a real cluster) give the local DataFrame."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import fastwake
from conftest import REPO, build_dir

GRID = {"platform": ["x86", "arm"], "workload.threads_per_core": [1, 8]}


def test_local_cluster_gives_the_local_dataframe(quick_base, cache_dir):
    local = fastwake.sweep(quick_base, GRID, cache=False, progress=False)
    dask = fastwake.sweep(quick_base, GRID, executor="dask", jobs=2, cache=cache_dir, progress=False)
    pd.testing.assert_frame_equal(local, dask)
    assert dask.attrs["computed"] == 4
    # the client cached what the workers computed: a rerun needs no cluster at all
    again = fastwake.sweep(quick_base, GRID, executor="dask", scheduler="tcp://127.0.0.1:9", cache=cache_dir,
                           progress=False)
    assert again.attrs["computed"] == 0
    pd.testing.assert_frame_equal(local, again)


def _start(args, env, log):
    return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                            cwd="/")


def _wait_for(path: Path, proc, timeout=60):
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None or time.monotonic() - t0 > timeout:
            raise RuntimeError(f"dask scheduler did not start (exit {proc.poll()})")
        time.sleep(0.1)


@pytest.fixture
def external_scheduler(tmp_path):
    """`dask-scheduler` on loopback in its own process, like a cluster's head
    node; yields (address file, start_worker(env))."""
    sched_file = tmp_path / "scheduler.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FASTWAKE_BUILD_DIR")}
    procs = []
    log = open(tmp_path / "dask.log", "w")
    sched = _start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                    "--dashboard-address", "127.0.0.1:0", "--no-dashboard", "--scheduler-file",
                    str(sched_file)], env, log)
    procs.append(sched)

    def start_worker(with_fastwake: bool):
        wenv = dict(env)
        if with_fastwake:  # what a worker machine needs: the repo's python/ and its build
            wenv["PYTHONPATH"] = str(REPO / "python")
            wenv["FASTWAKE_BUILD_DIR"] = str(build_dir())
        procs.append(_start(["distributed.cli.dask_worker", "--scheduler-file", str(sched_file),
                             "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                             "--local-directory", str(tmp_path / "w")], wenv, log))
        return procs[-1]

    try:
        _wait_for(sched_file, sched)
        yield sched_file, start_worker
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()


def _address(sched_file: Path) -> str:
    return json.loads(sched_file.read_text())["address"]


def test_external_scheduler_and_workers(quick_base, external_scheduler):
    sched_file, start_worker = external_scheduler
    start_worker(True)
    start_worker(True)
    address = _address(sched_file)
    assert address.startswith("tcp://127.0.0.1:")
    local = fastwake.sweep(quick_base, GRID, cache=False, progress=False)
    remote = fastwake.sweep(quick_base, GRID, executor="dask", scheduler=address, cache=False, progress=False)
    pd.testing.assert_frame_equal(local, remote)


def test_worker_without_the_package_is_a_clear_error(quick_base, external_scheduler):
    sched_file, start_worker = external_scheduler
    start_worker(False)
    with pytest.raises(fastwake.ClusterError, match=r"cannot import the fastwake package.*PYTHONPATH"):
        fastwake.sweep(quick_base, GRID, executor="dask", scheduler=_address(sched_file), cache=False,
                       progress=False)


def test_no_workers_is_a_clear_error(quick_base, external_scheduler):
    sched_file, _ = external_scheduler
    with pytest.raises(fastwake.ClusterError, match=r"no Dask worker connected to tcp://127.0.0.1:\d+ within 2 s"):
        fastwake.sweep(quick_base, GRID, executor="dask", scheduler=_address(sched_file), cache=False,
                       progress=False, worker_timeout_s=2)


def _kill_tree(pid: int) -> None:
    """SIGKILL a dask-worker: its nanny first (so nothing restarts the worker),
    then the worker process it spawned."""
    import signal

    import psutil

    proc = psutil.Process(pid)
    children = proc.children(recursive=True)
    os.kill(pid, signal.SIGKILL)
    for c in children:
        try:
            os.kill(c.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _sweep_and_kill_one_worker(base, external_scheduler, cache_dir, grid, n_points):
    """Starts 2 workers and a sweep in a thread; SIGKILLs one worker while it
    simulates a point (after >= 2 points are done); returns (df or None, error or None)."""
    import threading

    import psutil
    from dask.distributed import Client

    sched_file, start_worker = external_scheduler
    victim = start_worker(True)
    start_worker(True)
    address = _address(sched_file)
    watcher = Client(address, timeout=30)
    try:
        watcher.wait_for_workers(2, timeout=60)
        victim_pids = {victim.pid} | {c.pid for c in psutil.Process(victim.pid).children(recursive=True)}
        victim_addr = next(a for a, pid in watcher.run(os.getpid).items() if pid in victim_pids)
        out, err = {}, {}

        def run():
            try:
                out["df"] = fastwake.sweep(base, grid, executor="dask", scheduler=address, cache=cache_dir,
                                           progress=False)
            except BaseException as e:  # noqa: BLE001 - returned to the test
                err["e"] = e

        t = threading.Thread(target=run)
        t.start()
        t0 = time.monotonic()
        killed = False
        while time.monotonic() - t0 < 40 and t.is_alive():
            done = len(list(cache_dir.rglob("*.json"))) if cache_dir.exists() else 0
            if 2 <= done <= n_points - 4 and watcher.processing().get(victim_addr):
                _kill_tree(victim.pid)
                killed = True
                break
            time.sleep(0.05)
        assert killed, "the victim worker was never busy mid-sweep (points too fast?)"
        t.join(timeout=90)
        assert not t.is_alive(), "the sweep hung after a worker died"
    finally:
        watcher.close()
    return out.get("df"), err.get("e")


KILL_GRID = {"run.seed": list(range(1, 13))}


@pytest.fixture
def slow_base(quick_base):
    base = json.loads(json.dumps(quick_base))
    base["run"].update({"duration_ms": 60, "warmup_ms": 1})  # ~0.5 s a point: still running when killed
    return base


def test_worker_killed_mid_sweep_loses_and_duplicates_nothing(slow_base, external_scheduler, cache_dir):
    """A worker SIGKILLed while it simulates a point: the sweep completes on the
    other worker, every point once, the same numbers as a serial run, and the
    cache holds only whole entries."""
    n_points = len(KILL_GRID["run.seed"])
    df, e = _sweep_and_kill_one_worker(slow_base, external_scheduler, cache_dir, KILL_GRID, n_points)
    assert e is None, f"sweep failed after a worker was killed: {e!r}"
    assert df.attrs["points"] == n_points and df.attrs["computed"] == n_points
    # every point exactly once (one row per strategy and point)
    counts = df.groupby(["point", "strategy"]).size()
    assert sorted(df["point"].unique()) == list(range(n_points))
    assert (counts == 1).all() and len(counts) == n_points * len(slow_base["strategies"])
    serial = fastwake.sweep(slow_base, KILL_GRID, jobs=1, cache=False, progress=False)
    pd.testing.assert_frame_equal(serial, df)
    # the cache: one whole, valid entry per point, no temp file left behind
    entries = [f for f in sorted(cache_dir.rglob("*")) if f.is_file()]
    assert all(f.suffix == ".json" for f in entries), entries
    assert len(entries) == n_points
    for f in entries:
        entry = json.loads(f.read_text())
        assert entry["key"] == f.stem and isinstance(entry["doc"]["results"], list)


def test_a_point_whose_workers_keep_dying_is_a_cluster_error(slow_base, monkeypatch, request, cache_dir):
    """With no failure allowed (allowed-failures=0) one killed worker fails its
    point: a ClusterError naming it, not a Dask exception; finished points stay cached."""
    monkeypatch.setenv("DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", "0")
    sched = request.getfixturevalue("external_scheduler")
    _, e = _sweep_and_kill_one_worker(slow_base, sched, cache_dir, KILL_GRID, len(KILL_GRID["run.seed"]))
    assert isinstance(e, fastwake.ClusterError), repr(e)
    assert re.search(r"grid point \d+ \(run.seed=\d+\): the Dask workers running it died", str(e)), str(e)
    for f in cache_dir.rglob("*.json"):
        json.loads(f.read_text())
