"""The fastwake command line (python3 -m fastwake and ./fastwake): run, sweep, plot, paper --quick, exit codes."""
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

import fastwake
from conftest import REPO, build_dir, numbers

SHORT = ["--set", "run.duration_ms=5", "--set", "run.warmup_ms=1"]


def fw(*args, launcher=False, check=True):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), FASTWAKE_BUILD_DIR=str(build_dir()),
               MPLBACKEND="Agg")
    cmd = [str(REPO / "fastwake")] if launcher else [sys.executable, "-m", "fastwake"]
    p = subprocess.run([*cmd, *map(str, args)], env=env, capture_output=True, text=True, timeout=300)
    if check and p.returncode != 0:
        raise AssertionError(f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
    return p


def test_run_prints_the_table_and_writes_the_document(tmp_path):
    p = fw("run", "--platform", "arm", *SHORT, "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv",
           "--samples", tmp_path / "s.npz")
    assert p.stdout.splitlines()[0].startswith("config paper-default, platform arm")
    assert "fastwake_poll" in p.stdout and "interrupt" in p.stdout
    doc = json.loads((tmp_path / "r.json").read_text())
    assert numbers(doc) == numbers(fastwake.run(platform="arm", sets=SHORT[1::2], samples=True).doc)
    assert doc["meta"]["toolkit_version"] == fastwake.__version__
    assert {"numpy", "pandas", "matplotlib"} <= set(doc["meta"]["libraries"])
    assert len(pd.read_csv(tmp_path / "r.csv")) == len(doc["results"])
    import numpy as np

    with np.load(tmp_path / "s.npz") as z:
        assert len(z["interrupt.latency_ns"]) == doc["results"][-1]["requests"]


@pytest.mark.parametrize("launcher", [False, True], ids=["python -m fastwake", "./fastwake"])
def test_version_prints_the_one_version_and_the_commit(launcher):
    from fastwake import _fastwake

    p = fw("--version", launcher=launcher)
    assert p.stdout == f"fastwake {fastwake.__version__} (commit {_fastwake.COMMIT})\n"
    assert fastwake.__version__ == _fastwake.VERSION and fastwake.MODEL_VERSION.startswith(fastwake.__version__ + "+src.")
    # CMake's project(VERSION) is the one place the version is written.
    import re

    cmake = (REPO / "CMakeLists.txt").read_text()
    assert re.search(r"project\(fastwake VERSION (\S+)", cmake).group(1) == fastwake.__version__


def test_bad_input_exits_2_naming_the_key():
    p = fw("run", "--set", "workload.threads_per_core=-1", check=False)
    assert p.returncode == 2
    assert p.stderr.strip() == "fastwake run: workload.threads_per_core: expected an integer in [1, 4096], got -1"
    p = fw("sweep", "--grid", "workload.threads_per_core", check=False)
    assert p.returncode == 2 and "--grid 'workload.threads_per_core': expected PATH=V1,V2" in p.stderr
    p = fw("sweep", "--grid", "workload.threads_per_core=1,0", *SHORT, "--no-cache", check=False)
    assert p.returncode == 2 and "grid point 1 (workload.threads_per_core=0)" in p.stderr
    p = fw("plot", "cdf", "/nonexistent.csv", check=False)
    assert p.returncode == 2 and "no such file" in p.stderr


def test_sweep_writes_the_rows(tmp_path):
    out = tmp_path / "s.csv"
    p = fw("sweep", "--grid", "platform=x86,arm", "--grid", "workload.threads_per_core=[1, 2]", *SHORT,
           "--set", 'strategies=["fastwake_irq","interrupt"]', "--cache", tmp_path / "c", "--out", out,
           "--no-progress")
    df = pd.read_csv(out)
    assert len(df) == 2 * 2 * 2 and list(df["strategy"][:2]) == ["fastwake_irq", "interrupt"]
    assert "4 points x strategies = 8 rows; 4 simulated, 0 from cache" in p.stderr
    p = fw("sweep", "--grid", "platform=x86,arm", "--grid", "workload.threads_per_core=[1, 2]", *SHORT,
           "--set", 'strategies=["fastwake_irq","interrupt"]', "--cache", tmp_path / "c", "--no-progress")
    assert "0 simulated, 4 from cache" in p.stderr


def test_paper_quick_writes_every_figure_and_the_headline(tmp_path):
    out = tmp_path / "paper"
    p = fw("paper", "--quick", "--out", out, "--no-cache", "--no-progress")
    for stem in ["fig1_latency_vs_threads", "fig2_latency_cdf", "fig3_breakdown", "fig4_power_vs_load",
                 "fig5_power_vs_latency", "fig6_latency_fixed_load", "fig7_latency_vs_load", "fig8_adaptive", "fig9_state_residency"]:
        for ext in ("png", "pdf", "csv"):
            f = out / f"{stem}.{ext}"
            assert f.stat().st_size > 1000, f
            assert str(f) in p.stdout
    head = pd.read_csv(out / "headline.csv")
    assert set(head["platform"]) == {"x86", "arm"} and set(head["threads_per_core"]) == {1, 8, 32}
    assert {"p50_vs_interrupt_pct", "p99_vs_interrupt_pct", "p50_above_busy_poll_ns", "p50_ratio_to_busy_poll",
            "power_overhead_w", "power_overhead_pct"} <= set(head.columns)
    row = head[(head.platform == "x86") & (head.threads_per_core == 8) & (head.strategy == "interrupt")].iloc[0]
    assert row.p50_vs_interrupt_pct == 0 and row.power_overhead_w == 0
    # one sign convention: (x - interrupt) / interrupt, negative = faster
    d = head[(head.platform == "x86") & (head.threads_per_core == 8)].set_index("strategy")
    for s in d.index:
        want = 100 * (d.loc[s, "p50_us"] - d.loc["interrupt", "p50_us"]) / d.loc["interrupt", "p50_us"]
        assert d.loc[s, "p50_vs_interrupt_pct"] == pytest.approx(want, rel=1e-3, abs=1e-3)
    doc = json.loads((out / "headline.json").read_text())
    assert doc["default_threads_per_core"] == 8 and doc["model_version"] == fastwake.MODEL_VERSION
    assert any("dispatcher_p50_above_busy_poll_ns" in s for s in doc["summary"])
    assert "Headline" in p.stdout and "(default scenario)" in p.stdout
    assert "fastwake paper --quick: wall time" in p.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["quick"] is True and "headline.csv" in manifest["files"]
    page = (out / "index.html").read_text()  # one page: every figure, the headline, the manifest
    assert all(f'<img src="{f.name}"' in page for f in out.glob("*.png")) and "Headline table" in page
    assert str(out / "index.html") in p.stdout

    # figures are redrawn from the data files alone
    for f in out.glob("*.png"):
        f.unlink()
    p = fw("plot", "all", out)
    assert len(list(out.glob("*.png"))) == 9  # fig1 ... fig9
    p = fw("plot", "latency-vs-threads", out / "fig1_latency_vs_threads.csv", "--out", tmp_path / "again")
    assert (tmp_path / "again.png").exists() and (tmp_path / "again.pdf").exists()


def test_one_experiment_runs_alone(tmp_path):
    """`fastwake experiment NAME` (the launcher finds the package itself) and `python3 -m
    fastwake.experiments NAME` run one folder: its data, then its figure."""
    env = dict(os.environ, FASTWAKE_BUILD_DIR=str(build_dir()), MPLBACKEND="Agg")
    env.pop("PYTHONPATH", None)
    p = subprocess.run([str(REPO / "fastwake"), "experiment", "fig3_breakdown", "--quick", "--no-cache",
                        "--no-progress", "--out", tmp_path / "a"], env=env, check=True, capture_output=True,
                       text=True)
    a = tmp_path / "a"
    assert p.stdout.split() == [str(a / "fig3_breakdown.csv"), str(a / "fig3_breakdown.png"),
                                str(a / "fig3_breakdown.pdf")]
    assert "fastwake experiment fig3_breakdown --quick: wall time" in p.stderr
    p = fw("experiment", "fig3_breakdown", "--quick", "--no-cache", "--no-progress", "--no-plot",
           "--out", tmp_path / "b")
    assert p.stdout.split() == [str(tmp_path / "b" / "fig3_breakdown.csv")]
    pd.testing.assert_frame_equal(pd.read_csv(a / "fig3_breakdown.csv"), pd.read_csv(tmp_path / "b" / "fig3_breakdown.csv"))
    env["PYTHONPATH"] = str(REPO / "python")
    p = subprocess.run(["/usr/bin/python3", "-m", "fastwake.experiments", "nope"], env=env, capture_output=True,
                       text=True)
    assert p.returncode == 2
    assert p.stderr.strip() == ("fastwake experiment: unknown experiment 'nope' (known: fig1_latency_vs_threads, "
                                "fig2_latency_cdf, fig3_breakdown, fig4_power_vs_load, fig5_power_vs_latency, "
                                "fig6_latency_fixed_load, fig7_latency_vs_load, fig8_adaptive, fig9_state_residency, headline, incast)")


def test_every_experiment_spec_resolves():
    from fastwake.experiments import discover, incast_points, load_incast_spec, load_spec, set_args
    from fastwake.sweeps import make_points

    exps = discover()
    assert [e.name for e in exps][:5] == ["fig1_latency_vs_threads", "fig2_latency_cdf", "fig3_breakdown",
                                           "fig4_power_vs_load", "fig5_power_vs_latency"]
    for e in exps:
        for quick in (False, True):
            if e.runner == "incast":
                spec = load_incast_spec(e.spec_path, quick)
                grid = [p for f in spec["fabrics"] for p in incast_points(spec, f)]
            else:
                spec = load_spec(e.spec_path, quick)
                grid = spec["grid"]
            pts = make_points(spec["base"], grid, sets=set_args(spec["set"]))
            # incast and the adaptive evaluation (its 36 W cap is an x86 figure) run on x86 only
            x86_only = e.runner == "incast" or e.name == "fig8_adaptive"
            assert {p.config["platform"]["name"] for p in pts} == ({"x86"} if x86_only else {"x86", "arm"}), e.name


def test_launcher_finds_the_build():
    p = fw("list", launcher=True)
    assert "fastwake_poll" in p.stdout and f"model version: {fastwake.MODEL_VERSION}" in p.stdout


def test_bad_sweep_spec(tmp_path):
    from fastwake.experiments import load_spec

    bad = tmp_path / "s.json"
    bad.write_text(json.dumps({"grid": {"platform": ["x86"]}, "gird": {}}))
    with pytest.raises(fastwake.ConfigError, match="unknown key.*gird"):
        load_spec(bad)
    bad.write_text("{")
    with pytest.raises(fastwake.ConfigError, match="not valid JSON"):
        load_spec(bad)
