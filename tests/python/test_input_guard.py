"""Issue 15 (hostile input) in the Python layer: every bad argument is a fastwake.ConfigError naming it
(never RuntimeError, TypeError, RecursionError or KeyError), the pre-run guard and its force keyword, the
cache checked before anything runs, and CLI output paths (one line, exit 2, no folders created)."""
import json
import os
import subprocess
import sys

import pytest

import fastwake
from fastwake import ConfigError
from conftest import REPO, build_dir


def tiny() -> dict:
    doc = fastwake.default_config()
    doc["run"].update({"duration_ms": 1, "warmup_ms": 0})
    doc["strategies"] = ["busy_poll"]
    return doc


def fw(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), FASTWAKE_BUILD_DIR=str(build_dir()),
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "fastwake", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=300)


# --- numbers and types -------------------------------------------------------------------------------

def test_seed_beyond_64_bits_is_a_config_error_naming_run_seed():
    # Before: RuntimeError (pybind11's cast error) from the dict conversion.
    doc = tiny()
    doc["run"]["seed"] = 2**64
    with pytest.raises(ConfigError, match=r"run\.seed: integer out of range"):
        fastwake.resolve_config(doc)
    with pytest.raises(ConfigError, match=r"run\.seed"):
        fastwake.run(tiny(), sets=[f"run.seed={2**64}"])
    with pytest.raises(ConfigError, match=r"seeds: every seed must be in \[0, 2\*\*64-1\]"):
        fastwake.sweep(tiny(), None, seeds=[2**64], cache=False)
    doc["run"]["seed"] = 2**64 - 1  # the largest seed is fine
    assert fastwake.resolve_config(doc)["run"]["seed"] == 2**64 - 1


def test_number_overflow_names_the_key():
    # Before: RuntimeError "[json.exception.out_of_range.406] ..." without a key.
    with pytest.raises(ConfigError, match=r"run\.duration_ms: number out of range: 1e400"):
        fastwake.run(tiny(), sets=["run.duration_ms=1e400"])
    with pytest.raises(ConfigError, match=r"platform\.params\.hardirq_ns: expected an integer number of ns in \[0, "
                                          r"1000000000\]"):
        fastwake.run(tiny(), sets=["platform.params.hardirq_ns=9223372036854775807"])


def test_grid_values_of_any_iterable_kind():
    # Before: range() and set values raised TypeError (json.dumps in the message).
    pts = fastwake.expand_grid({"workload.threads_per_core": range(1, 3)})
    assert pts == [{"workload.threads_per_core": 1}, {"workload.threads_per_core": 2}]
    with pytest.raises(ConfigError, match=r"grid\['workload.threads_per_core'\]: a set has no order"):
        fastwake.expand_grid({"workload.threads_per_core": {1, 2}})
    with pytest.raises(ConfigError, match=r"grid\['x'\]: expected a list of values, got 5"):
        fastwake.expand_grid({"x": 5})
    with pytest.raises(ConfigError, match=r"workload.threads_per_core: cannot be written as JSON"):
        fastwake.sweep(tiny(), [{"workload.threads_per_core": object()}], cache=False)


def test_platform_and_sets_of_the_wrong_type():
    # Before: TypeError from the C++ binding.
    with pytest.raises(ConfigError, match=r"platform: expected a platform name or a profile \.json path, got int 5"):
        fastwake.run(tiny(), platform=5)
    with pytest.raises(ConfigError, match=r"sets\[0\]: expected a 'PATH=VALUE' string or a \(PATH, value\) pair, got int 5"):
        fastwake.run(tiny(), sets=[5])
    with pytest.raises(ConfigError, match=r"sets: expected a dict \{PATH: value\} or a list of 'PATH=VALUE' strings"):
        fastwake.run(tiny(), sets=5)
    with pytest.raises(ConfigError, match=r"force: expected True or False"):
        fastwake.run(tiny(), force="yes")


def test_deep_nesting_is_a_config_error():
    # Before: RecursionError.
    deep = []
    for _ in range(100_000):
        deep = [deep]
    doc = tiny()
    doc["description"] = deep
    with pytest.raises(ConfigError, match="nested deeper than 64 levels"):
        fastwake.run(doc)
    with pytest.raises(ConfigError, match="nested deeper than 64 levels"):
        fastwake.resolve_config({"name": {"a": deep}})


# --- the pre-run guard -------------------------------------------------------------------------------

def test_too_large_runs_are_refused_with_the_estimate_unless_forced():
    big = ["host.cores=4096", "host.app_cores=4096", "workload.threads_per_core=4096"]
    with pytest.raises(ConfigError, match=r"run: too large: estimated .* GiB of memory.*force=True"):
        fastwake.run(sets=big)
    with pytest.raises(ConfigError, match=r"grid point 0 \(run.duration_ms=1000000\): run: too long"):
        fastwake.sweep(tiny(), {"run.duration_ms": [1000000]}, cache=False)
    est = fastwake._fastwake.estimate_run(fastwake.default_config())
    assert 1e4 < est["requests"] and est["events"] < 1e9
    # force=True lets a refused run through (here an open-loop overload that still drains in time).
    over = ["workload.kind=poisson", "workload.rate_rps=2e7", "run.duration_ms=1", "run.warmup_ms=0",
            'strategies=["busy_poll"]']
    fastwake._fastwake.check_run(fastwake.load_config(sets=over), True)


def test_a_run_that_cannot_drain_is_a_config_error():
    # Before: RuntimeError "simulation did not drain ... (model bug)".
    sets = ["host.app_cores=1", "workload.threads_per_core=64", "workload.service_ns=1000000000"]
    with pytest.raises(ConfigError, match=r"could not drain.*workload.service_ns = 1000000000"):
        fastwake.run(tiny(), sets=sets)


# --- the cache ---------------------------------------------------------------------------------------

def test_unusable_cache_folder_fails_before_any_point_runs(tmp_path, monkeypatch):
    # Before: the sweep simulated the first point, then failed writing it.
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    ran = []
    from fastwake import sweeps

    monkeypatch.setattr(sweeps, "simulate_point", lambda *a, **k: ran.append(a) or {})
    with pytest.raises(ConfigError, match=r"cache: cannot store results in .*afile/cache"):
        fastwake.sweep(tiny(), None, cache=blocker / "cache")
    assert ran == []


def test_cache_entry_without_a_config_is_a_miss(tmp_path):
    # Before: KeyError 'config' when the sweep built its rows.
    store = fastwake.ResultCache(tmp_path / "c")
    df = fastwake.sweep(tiny(), None, cache=store)
    key = df.attrs and fastwake.config_hash(fastwake.resolve_config(tiny()))
    path = store._path(key)
    entry = json.loads(path.read_text())
    del entry["doc"]["config"]
    path.write_text(json.dumps(entry))
    fresh = fastwake.ResultCache(tmp_path / "c")
    assert fresh.get(key) is None
    df2 = fastwake.sweep(tiny(), None, cache=fresh)
    assert df2.attrs["computed"] == 1 and len(df2) == len(df)


# --- CLI output paths --------------------------------------------------------------------------------

def test_cli_output_paths_are_one_line_exit_2_and_create_no_folders(tmp_path):
    # Before: a traceback (NotADirectoryError), and /nonexistent/... created the folders.
    afile = tmp_path / "afile"
    afile.write_text("x")
    short = ["--set", "run.duration_ms=1", "--set", "run.warmup_ms=0", "--set", 'strategies=["busy_poll"]']
    p = fw("run", *short, "--json", afile / "o.json")
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
    assert f"--json {afile}/o.json: {afile} is not a folder" in p.stderr
    p = fw("run", *short, "--json", tmp_path / "no" / "such" / "o.json")
    assert p.returncode == 2 and "does not exist (it is not created)" in p.stderr
    assert not (tmp_path / "no").exists()
    p = fw("sweep", *short, "--no-cache", "--out", tmp_path / "none" / "r.csv")
    assert p.returncode == 2 and "--out" in p.stderr and not (tmp_path / "none").exists()
    p = fw("run", "--set", "run.duration_ms=1e6")
    assert p.returncode == 2 and "run: too long: estimated" in p.stderr and "--force" in p.stderr
    p = fw("run", "--force", *short)
    assert p.returncode == 0, p.stderr
