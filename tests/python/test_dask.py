"""The Dask executor: a LocalCluster and a separately started scheduler + workers (as on a real cluster) give the local DataFrame."""
import os
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
    import json

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
