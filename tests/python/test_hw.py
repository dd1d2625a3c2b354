"""fastwake.hw and the bench/calibrate/compare commands: real threads through fastwake-bench."""
import json
import os
import subprocess
import sys

import pytest

import fastwake
from fastwake import hw

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                reason="the loopback needs 2 CPUs (app core + NIC thread)")

SHORT = ["run.duration_ms=50", "run.warmup_ms=5", "workload.threads_per_core=2",
         "host.app_cores=1"]  # the loopback needs app_cores + 1 CPUs


def test_bench_returns_the_result_schema_with_backend_loopback():
    doc = hw.bench(None, sets=SHORT + ['strategies=["fastwake_poll","interrupt"]'])
    assert [r["strategy"] for r in doc["results"]] == ["fastwake_poll", "interrupt"]
    for r in doc["results"]:
        assert r["backend"] == "loopback"
        assert r["requests"] > 0
        assert r["extra"]["sent"] == r["extra"]["completed"] == r["extra"]["served"]
        assert r["latency_us"]["p50"] > 0


def test_bench_bad_cpu_is_a_config_error():
    with pytest.raises(fastwake.ConfigError, match="no such CPU 4096"):
        hw.bench(None, sets=SHORT, cpus=[4096])


def test_compare_rows_and_plot(tmp_path):
    cmp = hw.compare(None, platform="x86", sets=["run.duration_ms=60", "run.warmup_ms=5"])
    df = hw.compare_frame(cmp)
    assert list(df.index) == ["busy_poll", "fastwake_poll", "interrupt"]
    assert (df["measured_p50_us"] > 0).all() and (df["predicted_p50_us"] > 0).all()
    axes = hw.plot_compare(cmp, tmp_path / "cmp")
    assert (tmp_path / "cmp.png").exists() and (tmp_path / "cmp.pdf").exists()
    ax50, ax99 = axes
    assert "p50" in ax50.get_ylabel() and "µs" in ax50.get_ylabel()
    assert ax50.get_yscale() == "linear" and ax50.get_ylim()[0] == 0
    errs = [t.get_text() for t in ax50.texts if t.get_gid() == "error:p50"]
    assert errs == [f"{100 * e:+.0f}%" for e in df["error_p50"]]
    labels = [t.get_text() for t in ax50.figure.legends[0].get_texts()]
    assert labels == ["measured (loopback)", "predicted (model)"]
    assert len(ax99.patches) == 2 * len(df)


def test_cli_compare_writes_table_figure_and_json(tmp_path):
    out = tmp_path / "c"
    proc = subprocess.run([sys.executable, "-m", "fastwake", "compare", "--platform", "x86",
                           "--set", "run.duration_ms=60", "--set", "run.warmup_ms=5",
                           "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "predicted" in proc.stdout and "error" in proc.stdout
    cmp = json.loads(out.with_suffix(".json").read_text())
    # errors printed as signed percentages of the measurement, not as fractions
    e = cmp["rows"][0]["error_p50"]
    assert f"{100 * e:+.0f}%" in proc.stdout
    assert json.loads(out.with_suffix(".json").read_text())["schema"] == "fastwake-compare/1"
    assert out.with_suffix(".png").exists()


def test_cli_calibrate_writes_a_valid_profile(tmp_path):
    prof = tmp_path / "host-t.json"
    proc = subprocess.run([sys.executable, "-m", "fastwake", "calibrate", "--out", str(prof),
                           "--iterations", "600"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "fitted components" in proc.stdout
    doc = json.loads(prof.read_text())
    assert doc["calibration"]["paths"]
    # The profile is usable by the simulator as it stands.
    r = fastwake.run({"platform": doc, "run": {"duration_ms": 2, "warmup_ms": 0.5},
                      "strategies": ["interrupt"]})
    assert r.result("interrupt")["platform"] == doc["name"]


def test_plain_compare_calibrates_into_the_cache_not_the_source_tree(tmp_path, monkeypatch):
    """`fastwake compare` without --platform calibrates first; the profile goes to the cache folder
    (FASTWAKE_CACHE_DIR here), configs/platforms/ stays as it was."""
    from pathlib import Path

    platforms = Path(__file__).resolve().parents[2] / "configs" / "platforms"
    before = {p.name: p.stat().st_mtime_ns for p in platforms.iterdir()}
    monkeypatch.setenv("FASTWAKE_CACHE_DIR", str(tmp_path / "cache"))
    cmp = hw.compare(None, sets=["run.duration_ms=40", "run.warmup_ms=5"])
    prof = hw.calibration_path()
    assert prof.parent == tmp_path / "cache" / "platforms" and prof.is_file()
    assert cmp["platform"] == json.loads(prof.read_text())["name"]  # the prediction used that profile
    assert {p.name: p.stat().st_mtime_ns for p in platforms.iterdir()} == before


def test_plain_cpp_compare_keeps_its_calibration_out_of_the_source_tree(tmp_path):
    """`fastwake-bench compare` (the C++ tool, no --platform) calibrates first; the copy of the
    profile goes to $FASTWAKE_CACHE_DIR/platforms/, configs/platforms/ stays as it was."""
    from pathlib import Path

    platforms = Path(__file__).resolve().parents[2] / "configs" / "platforms"
    before = {p.name: p.stat().st_mtime_ns for p in platforms.iterdir()}
    env = dict(os.environ, FASTWAKE_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run([str(hw.bench_binary()), "compare", "-q", "--set", "run.duration_ms=40",
                           "--set", "run.warmup_ms=5"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    written = list((tmp_path / "cache" / "platforms").glob("host-*.json"))
    assert len(written) == 1 and json.loads(written[0].read_text())["calibration"]["paths"]
    assert {p.name: p.stat().st_mtime_ns for p in platforms.iterdir()} == before
