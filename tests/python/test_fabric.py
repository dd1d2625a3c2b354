"""The SimGrid fabric from Python (issue 7): run() and sweeps (local threads, Dask) need nothing special,
each SimGrid run happens in its own process, and `fastwake incast` draws its figure in one command."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import fastwake
from conftest import REPO, build_dir, numbers

DRIVER = build_dir() / "sim" / "fastwake-sim-fabric"
needs_simgrid = pytest.mark.skipif(
    not os.access(DRIVER, os.X_OK) and not os.environ.get("FASTWAKE_SIM_FABRIC"),
    reason=f"this build has no SimGrid fabric ({DRIVER} missing: install libsimgrid-dev and reconfigure)")

SIMGRID = ['fabric.kind="simgrid"']


def _strip_fabric(doc: dict) -> dict:
    """A result document without what only the SimGrid fabric adds."""
    doc = json.loads(json.dumps(numbers(doc)))
    doc["config"].pop("fabric", None)
    for r in doc["results"]:
        for k in [k for k in r.get("extra", {}) if k.startswith("fabric")]:
            del r["extra"][k]
    return doc


def _simgrid_loaded() -> bool:
    return "libsimgrid" in Path("/proc/self/maps").read_text()


@needs_simgrid
def test_run_twice_in_one_process_and_one_client_matches_the_simple_fabric(quick_base):
    one = dict(quick_base, workload=dict(quick_base["workload"], threads_per_core=1))
    a = fastwake.run(one, sets=SIMGRID)
    b = fastwake.run(one, sets=SIMGRID)  # a second SimGrid engine in this process would fail
    assert numbers(a.doc) == numbers(b.doc)
    assert a.doc["config"]["fabric"]["kind"] == "simgrid"
    assert all(r["extra"]["fabric"] == "simgrid" for r in a.doc["results"])
    simple = fastwake.run(one)
    assert _strip_fabric(a.doc) == numbers(simple.doc)  # a lone client: the same latencies to the ns
    assert not _simgrid_loaded()  # SimGrid ran in child processes only


@needs_simgrid
def test_sweep_on_threads_equals_one_at_a_time(quick_base):
    grid = {"workload.threads_per_core": [1, 4, 16]}
    par = fastwake.sweep(quick_base, grid, sets=SIMGRID, jobs=3, cache=False, progress=False)
    seq = fastwake.sweep(quick_base, grid, sets=SIMGRID, jobs=1, cache=False, progress=False)
    pd.testing.assert_frame_equal(par, seq)
    assert (par["extra.fabric"] == "simgrid").all()
    assert par.groupby("workload.threads_per_core")["extra.fabric_client_hosts"].first().tolist() == [4, 16, 64]  # 4 app cores x threads
    assert not _simgrid_loaded()


@needs_simgrid
def test_sweep_on_dask_equals_local(quick_base, cache_dir):
    grid = {"workload.threads_per_core": [1, 8]}
    local = fastwake.sweep(quick_base, grid, sets=SIMGRID, cache=False, progress=False)
    dask = fastwake.sweep(quick_base, grid, sets=SIMGRID, executor="dask", jobs=2, cache=cache_dir, progress=False)
    pd.testing.assert_frame_equal(local, dask)


def test_without_the_driver_it_is_a_config_error(quick_base, monkeypatch):
    monkeypatch.setenv("FASTWAKE_SIM_FABRIC", "/nonexistent/fastwake-sim-fabric")
    with pytest.raises(fastwake.ConfigError, match=r'^fabric.kind: "simgrid" needs a build with SimGrid'):
        fastwake.run(quick_base, sets=SIMGRID)


def test_bad_fabric_key_names_the_key(quick_base):
    with pytest.raises(fastwake.ConfigError, match=r"^fabric.fat_tree: only used with fabric.topology"):
        fastwake.run(quick_base, sets=[*SIMGRID, "fabric.fat_tree={}"])


@needs_simgrid
def test_incast_quick_is_one_command(tmp_path):
    env = dict(os.environ, FASTWAKE_BUILD_DIR=str(build_dir()), MPLBACKEND="Agg")
    out = tmp_path / "incast"
    p = subprocess.run([str(REPO / "fastwake"), "incast", "--quick", "--out", str(out), "--no-cache",
                        "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    for ext in ("csv", "png", "pdf"):
        f = out / f"incast.{ext}"
        assert f.stat().st_size > 1000, f
        assert str(f) in p.stdout
    df = pd.read_csv(out / "incast.csv")
    assert set(df["clients"]) == {1, 16, 256} and set(df["fabric"]) == {"simgrid", "simple"}
    assert set(df["strategy"]) == {"fastwake_poll", "fastwake_irq", "interrupt"}
    sg = df[df.fabric == "simgrid"].set_index(["strategy", "clients"])
    simple = df[df.fabric == "simple"].set_index(["strategy", "clients"])
    # One client: no contention, the fabrics agree; 256 clients: the poll dispatcher's requests queue
    # at the shared server link, so SimGrid's latency is higher.
    for s in ("fastwake_poll", "fastwake_irq", "interrupt"):
        assert sg.loc[(s, 1), "latency_us.p50"] == simple.loc[(s, 1), "latency_us.p50"]
    assert sg.loc[("fastwake_poll", 256), "latency_us.p50"] > 1.5 * simple.loc[("fastwake_poll", 256), "latency_us.p50"]
    meta = json.loads((out / "incast.json").read_text())
    assert meta["server_link_gbps"] == 100 and meta["quick"] is True
