"""The pybind11 module through the package: configs, errors, run() against fastwake-sim, samples, the GIL."""
import json
import subprocess
import threading
import time

import numpy as np
import pytest

import fastwake
from conftest import build_dir, numbers


def test_lists_strategies_and_platforms():
    names = [s["name"] for s in fastwake.strategies()]
    assert names[:2] == ["busy_poll", "fastwake_poll"] and "interrupt" in names
    assert {"wait", "wake_path", "remap_affinity", "description"} <= set(fastwake.strategies()[0])
    assert set(fastwake.platforms()) >= {"x86", "arm"}
    assert fastwake.MODEL_VERSION.startswith(fastwake.VERSION + "+src.")


def test_errors_map_to_python_exceptions(tmp_path):
    assert issubclass(fastwake.ConfigError, ValueError)
    assert issubclass(fastwake.DeviceError, OSError)
    with pytest.raises(fastwake.ConfigError, match=r"^workload.threads_per_core: expected an integer"):
        fastwake.resolve_config({"workload": {"threads_per_core": -3}})
    with pytest.raises(fastwake.ConfigError, match=r"host.foo: unknown key"):
        fastwake.run({"host": {"foo": 1}})
    with pytest.raises(fastwake.ConfigError, match="unknown strategy 'nope'"):
        fastwake.run(sets=['strategies=["nope"]'])
    with pytest.raises(fastwake.ConfigError, match="cannot open"):
        fastwake.load_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"host": {"cores": 2,}}')
    with pytest.raises(fastwake.ConfigError, match="line 1 column"):
        fastwake.load_config(bad)
    with pytest.raises(fastwake.ConfigError, match="config: expected"):
        fastwake.load_config(42)
    with pytest.raises(fastwake.ConfigError, match="platform"):
        fastwake.load_config(platform="sparc")
    with pytest.raises(fastwake.ConfigError, match="not a finite number"):
        fastwake.resolve_config({"run": {"duration_ms": float("nan")}})


def test_config_accepts_numpy_values_and_paths(tmp_path):
    r = fastwake.resolve_config({"workload": {"threads_per_core": np.int64(3)},
                                 "run": {"duration_ms": np.float64(1.5), "seed": 2**64 - 1}})
    assert r["workload"]["threads_per_core"] == 3 and r["run"]["seed"] == 2**64 - 1
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"platform": "arm"}))
    assert fastwake.resolve_config(p)["platform"]["name"] == "arm"
    assert fastwake.resolve_config(str(p), platform="x86")["platform"]["name"] == "x86"
    # resolve is idempotent: a resolved config resolves to itself
    assert fastwake.resolve_config(r) == r


def test_run_matches_the_cli_exactly(quick_base, tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(quick_base))
    out = tmp_path / "cli.json"
    subprocess.run([str(build_dir() / "sim" / "fastwake-sim"), str(cfg), "--platform", "arm", "-q",
                    "--set", "workload.threads_per_core=4", "--json", str(out)], check=True,
                   capture_output=True)
    r = fastwake.run(cfg, platform="arm", sets=["workload.threads_per_core=4"])
    assert numbers(r.doc) == numbers(json.loads(out.read_text()))
    assert r.doc["meta"]["model_version"] == fastwake.MODEL_VERSION
    assert [x["strategy"] for x in r.results] == quick_base["strategies"]
    assert "interrupt" in r.table() and r.table().splitlines()[0].startswith("config paper-default, platform arm")
    row = r.frame().set_index("strategy")
    assert row.loc["interrupt", "latency_us.p50"] == r.result("interrupt")["latency_us"]["p50"]


def test_samples_are_numpy_and_agree_with_the_summary(quick_base):
    r = fastwake.run(quick_base, samples=True)
    assert r.config["run"]["record_samples"] is True
    for res in r.results:
        s = r.samples[res["strategy"]]
        assert set(s) == {"done_ns", "thread", "latency_ns", "irq_core"}
        assert s["latency_ns"].dtype == np.int64 and s["thread"].dtype == np.int32
        assert len(s["latency_ns"]) == res["requests"] > 0
        lat = r.latencies_us(res["strategy"])
        assert lat.mean() == pytest.approx(res["latency_us"]["mean"], rel=1e-9)
        assert lat.max() == pytest.approx(res["latency_us"]["max"], rel=1e-9)
        assert np.all(s["thread"] >= 0) and np.all(s["thread"] < r.config["workload"]["threads_per_core"] * r.config["host"]["app_cores"])
    # interrupts only in interrupt mode
    assert np.all(r.samples["busy_poll"]["irq_core"] == -1)
    assert np.any(r.samples["interrupt"]["irq_core"] >= 0)
    with pytest.raises(KeyError, match="samples=True"):
        fastwake.run(quick_base).latencies_us("interrupt")


def test_simulation_releases_the_gil(quick_base):
    """While one thread simulates, pure-Python code in another keeps running."""
    cfg = dict(quick_base, strategies=["interrupt", "fastwake_irq"])
    cfg["run"] = dict(cfg["run"], duration_ms=1000)
    cfg["workload"] = dict(cfg["workload"], threads_per_core=32)
    t = threading.Thread(target=fastwake.run, args=(cfg,))
    t.start()
    time.sleep(0.05)  # let the simulation enter C++
    ticks = 0
    while t.is_alive() and ticks < 10**9:
        ticks += 1
    t.join()
    # Holding the GIL would block this loop until run() returned (ticks ~ 0).
    assert ticks > 10_000, ticks
