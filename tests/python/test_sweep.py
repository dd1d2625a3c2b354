"""fastwake.sweep (local executor): DataFrame shape and order, cache and resume, bad grids and arguments."""
import json

import pandas as pd
import pytest

import fastwake
import fastwake.sweeps as sweep_mod

GRID = {"platform": ["x86", "arm"], "workload.threads_per_core": [1, 4]}


def test_shape_order_and_columns(quick_base, cache_dir):
    df = fastwake.sweep(quick_base, GRID, cache=cache_dir, jobs=2, progress=False)
    strategies = quick_base["strategies"]
    assert len(df) == 4 * len(strategies)
    # first grid key outermost, strategies in config order inside a point
    assert list(df["point"]) == [p for p in range(4) for _ in strategies]
    assert list(df["platform"]) == ["x86"] * 6 + ["arm"] * 6
    assert list(df["workload.threads_per_core"]) == [1, 1, 1, 4, 4, 4] * 2
    assert list(df["strategy"]) == strategies * 4
    for col in ["config_hash", "latency_us.p50", "latency_us.p99", "throughput_rps", "cpu_util", "power_w",
                "energy_per_req_uj", "breakdown_us.irq", "breakdown_us.wait_cpu", "extra.interrupts",
                "config.workload.threads_per_core", "config.run.duration_ms", "requests", "backend"]:
        assert col in df.columns, col
    assert (df["config.workload.threads_per_core"] == df["workload.threads_per_core"]).all()
    assert (df["backend"] == "sim").all()
    # stage means add up to the mean latency (the schema's promise), per row
    stages = df[[c for c in df.columns if c.startswith("breakdown_us.")]].sum(axis=1)
    assert (abs(stages - df["latency_us.mean"]) < 1e-6 * df["latency_us.mean"] + 1e-9).all()
    assert df.attrs["points"] == 4 and df.attrs["computed"] == 4 and df.attrs["cached"] == 0
    # a row equals the same config run on its own
    one = fastwake.run(quick_base, platform="arm", sets=["workload.threads_per_core=4"]).frame()
    got = df[df.point == 3].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[one.columns], one)


def test_second_sweep_comes_from_the_cache(quick_base, cache_dir):
    a = fastwake.sweep(quick_base, GRID, cache=cache_dir, progress=False)
    files = sorted(cache_dir.rglob("*.json"))
    assert len(files) == 4
    b = fastwake.sweep(quick_base, GRID, cache=cache_dir, progress=False)
    assert b.attrs["computed"] == 0 and b.attrs["cached"] == 4
    pd.testing.assert_frame_equal(a, b)
    # each entry is the point's result document, keyed by config hash + model version
    entry = json.loads(files[0].read_text())
    assert entry["model_version"] == fastwake.MODEL_VERSION
    assert fastwake.config_hash(entry["doc"]["config"]) == entry["key"] == files[0].stem


def test_interrupted_sweep_resumes_without_recomputing(quick_base, cache_dir, monkeypatch):
    real = sweep_mod.simulate_point
    calls = []

    def dies_after_two(config, model_version):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(config)
        return real(config, model_version)

    monkeypatch.setattr(sweep_mod, "simulate_point", dies_after_two)
    with pytest.raises(KeyboardInterrupt):
        fastwake.sweep(quick_base, GRID, cache=cache_dir, jobs=1, progress=False)
    assert len(list(cache_dir.rglob("*.json"))) == 2

    calls.clear()
    monkeypatch.setattr(sweep_mod, "simulate_point", lambda c, v: (calls.append(c), real(c, v))[1])
    df = fastwake.sweep(quick_base, GRID, cache=cache_dir, jobs=2, progress=False)
    assert df.attrs["cached"] == 2 and df.attrs["computed"] == 2 and len(calls) == 2
    fresh = fastwake.sweep(quick_base, GRID, cache=False, progress=False)
    pd.testing.assert_frame_equal(df, fresh)


def test_cache_misses_on_model_change_or_damage(quick_base, cache_dir, monkeypatch):
    fastwake.sweep(quick_base, {"platform": ["x86"]}, cache=cache_dir, progress=False)
    (path,) = cache_dir.rglob("*.json")
    path.write_text(path.read_text()[:100])  # truncated by hand
    df = fastwake.sweep(quick_base, {"platform": ["x86"]}, cache=cache_dir, progress=False)
    assert df.attrs["computed"] == 1
    monkeypatch.setattr(fastwake._fastwake, "MODEL_VERSION", "0.0.0+src.other")
    df = fastwake.sweep(quick_base, {"platform": ["x86"]}, cache=cache_dir, progress=False)
    assert df.attrs["computed"] == 1 and len(list(cache_dir.rglob("*.json"))) == 2


def test_duplicate_points_run_once_and_grid_forms(quick_base):
    df = fastwake.sweep(quick_base, [{"platform": "x86"}, {"platform": "x86"}, {"host.cores": 4}],
                        cache=False, progress=False)
    assert df.attrs["points"] == 3 and df.attrs["computed"] == 2
    assert list(df["point"].unique()) == [0, 1, 2]
    single = fastwake.sweep(quick_base, None, cache=False, progress=False)
    assert len(single) == 3 and (single["point"] == 0).all()
    # list-valued grid values become JSON text columns
    df = fastwake.sweep(quick_base, {"strategies": [["interrupt"], ["busy_poll", "interrupt"]]},
                        cache=False, progress=False)
    assert list(df["strategies"]) == ['["interrupt"]', '["busy_poll", "interrupt"]', '["busy_poll", "interrupt"]']


@pytest.mark.parametrize("grid, message", [
    ({"workload.threads_per_core": 4}, r"grid\['workload.threads_per_core'\]: expected a list of values"),
    ({"workload.threads_per_core": "1,2"}, r"expected a list of values"),
    ({"workload.threads_per_core": []}, r"empty list of values"),
    ({"workload.threads_per_core": [1, -2]},
     r"grid point 1 \(workload.threads_per_core=-2\): workload.threads_per_core: expected an integer"),
    ({"workload.nonsense": [1]}, r"grid point 0 .*workload.nonsense: unknown key"),
    ({"no.such.path": [1]}, r"grid point 0 .*no: does not exist"),
    ({"platform": ["x86", "sparc"]}, r"grid point 1 \(platform=\"sparc\"\)"),
    ([{"host.cores": 2}, 3], r"grid\[1\]: expected a dict"),
    ("workload.threads_per_core=1,2", r"grid: expected a dict"),
    ([], r"grid: empty list of points"),
])
def test_bad_grids_fail_before_running(quick_base, grid, message, monkeypatch):
    monkeypatch.setattr(sweep_mod, "simulate_point", lambda *a: pytest.fail("ran a simulation"))
    with pytest.raises(fastwake.ConfigError, match=message):
        fastwake.sweep(quick_base, grid, cache=False, progress=False)


@pytest.mark.parametrize("kwargs, message", [
    (dict(executor="spark"), r"executor: expected one of local, dask"),
    (dict(jobs=0), r"jobs: expected a positive integer"),
    (dict(jobs=1.5), r"jobs: expected a positive integer"),
    (dict(scheduler="tcp://127.0.0.1:1"), r"scheduler: only used with executor='dask'"),
    (dict(cache=3), r"cache: expected"),
])
def test_bad_arguments(quick_base, kwargs, message):
    with pytest.raises(fastwake.ConfigError, match=message):
        fastwake.sweep(quick_base, {"platform": ["x86"]}, progress=False, **kwargs)


def test_bad_base_config_names_the_key(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"run": {"duration_ms": -1}}))
    with pytest.raises(fastwake.ConfigError, match=r"grid point 0 \(base config\): run.duration_ms"):
        fastwake.sweep(p, None, cache=False, progress=False)
