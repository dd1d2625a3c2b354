"""Python for notebooks (issue 12): dict/keyword overrides, the XDG cache folder, tqdm.auto, the tidy view,
ax= on every plot function, scenario selection, and the one sign convention in every table."""
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

import fastwake
from fastwake import plots, sweeps
from fastwake.headline import format_table, headline
from fastwake.results import compare_table, signed_pct, table

REPO = Path(__file__).resolve().parents[2]
SHORT = {"run.duration_ms": 3, "run.warmup_ms": 1}


# ------------------------------------------------------------ overrides

def test_run_takes_overrides_as_dict_keywords_or_strings():
    a = fastwake.run(sets={**SHORT, "workload.threads_per_core": 8})
    b = fastwake.run(run__duration_ms=3, run__warmup_ms=1, workload__threads_per_core=8)
    c = fastwake.run(sets=["run.duration_ms=3", "run.warmup_ms=1", "workload.threads_per_core=8"])
    for r in (a, b, c):
        assert r.config["workload"]["threads_per_core"] == 8 and r.config["run"]["duration_ms"] == 3
    assert a.doc["results"] == b.doc["results"] == c.doc["results"]  # the same config, the same numbers
    # keywords apply after the dict; values are Python values (lists too)
    d = fastwake.run(sets=SHORT, workload__threads_per_core=2, strategies=["interrupt"])
    assert [r["strategy"] for r in d.results] == ["interrupt"]
    assert d.config["workload"]["threads_per_core"] == 2


def test_bad_overrides_name_the_key():
    with pytest.raises(fastwake.ConfigError, match="threads_per_cor"):
        fastwake.run(sets={"workload.threads_per_cor": 8})
    with pytest.raises(fastwake.ConfigError, match="sets: expected a dict"):
        fastwake.run(sets=8)
    with pytest.raises(fastwake.ConfigError, match=r"sets\[0\]: expected a 'PATH=VALUE' string"):
        fastwake.run(sets=[8])
    with pytest.raises(fastwake.ConfigError, match="cannot be written as JSON"):
        fastwake.run(sets={"run.duration_ms": object()})


def test_sweep_takes_a_dict_of_overrides(cache_dir):
    df = fastwake.sweep(None, {"workload.threads_per_core": [1, 2]}, sets={**SHORT, "strategies": ["interrupt"]},
                        cache=cache_dir, progress=False)
    assert sorted(df["config.workload.threads_per_core"]) == [1, 2]
    assert set(df["config.run.duration_ms"]) == {3}


# ------------------------------------------------------------ cache folder, progress

def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    for v in ("FASTWAKE_CACHE_DIR", "FASTWAKE_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert fastwake.default_cache_dir() == tmp_path / "home" / ".cache" / "fastwake"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fastwake.default_cache_dir() == tmp_path / "xdg" / "fastwake"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: only absolute paths count
    assert fastwake.default_cache_dir() == tmp_path / "home" / ".cache" / "fastwake"
    monkeypatch.setenv("FASTWAKE_CACHE_DIR", str(tmp_path / "mine"))
    assert fastwake.default_cache_dir() == tmp_path / "mine"
    assert REPO not in fastwake.default_cache_dir().parents


def test_a_default_sweep_writes_nothing_into_the_source_tree(monkeypatch, tmp_path):
    for v in ("FASTWAKE_CACHE_DIR", "FASTWAKE_CACHE"):
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    before = sorted(p.relative_to(REPO) for p in REPO.glob(".cache/**/*"))
    df = fastwake.sweep(None, {"workload.threads_per_core": [1]}, sets={**SHORT, "strategies": ["interrupt"]},
                        progress=False)
    assert df.attrs["cache"] == str(tmp_path / "xdg" / "fastwake")
    assert list((tmp_path / "xdg" / "fastwake").glob("*/*.json"))
    assert sorted(p.relative_to(REPO) for p in REPO.glob(".cache/**/*")) == before


def test_progress_bar_is_tqdm_auto_and_on_in_a_notebook(monkeypatch):
    import tqdm.auto

    monkeypatch.setattr(sweeps, "in_notebook", lambda: True)
    bar = sweeps._progress_bar(3, 0, "t", None)
    try:
        assert isinstance(bar, tqdm.auto.tqdm) and not bar.disable
    finally:
        bar.close()
    monkeypatch.setattr(sweeps, "in_notebook", lambda: False)
    bar = sweeps._progress_bar(3, 0, "t", None)  # stderr is no terminal under pytest
    assert bar.disable
    bar.close()
    assert sweeps.in_notebook() is False  # plain python: no Jupyter kernel


# ------------------------------------------------------------ tidy

def test_tidy_view_of_a_run_and_a_sweep(cache_dir):
    r = fastwake.run(sets={**SHORT, "strategies": ["busy_poll", "interrupt"]})
    t = r.tidy()
    assert list(t.columns[:3]) == ["strategy", "platform", "seed"]
    assert list(t.columns[-3:]) == ["metric", "value", "unit"]
    assert not any("." in c for c in t.columns)  # df.query without backticks
    p99 = t.query("metric == 'latency_us.p99' and strategy == 'interrupt'")
    assert len(p99) == 1 and p99["value"].iloc[0] == r.result("interrupt")["latency_us"]["p99"]
    assert p99["unit"].iloc[0] == "µs" and p99["threads_per_core"].iloc[0] == 8
    units = dict(zip(t["metric"], t["unit"]))
    assert units["power_w"] == "W" and units["throughput_rps"] == "req/s" and units["breakdown_us.irq"] == "µs"
    assert t.dtypes["value"] == float
    # every measured number of the wide row is one tidy row
    wide = r.frame()
    n = sum(1 for c in wide.columns if c in set(t["metric"]))
    assert len(t) == n * len(wide)

    df = fastwake.sweep(None, {"platform": ["x86", "arm"], "workload.threads_per_core": [1, 2]},
                        sets={**SHORT, "strategies": ["interrupt"]}, cache=cache_dir, progress=False)
    long = fastwake.tidy(df, metrics=["latency_us.p50", "power_w"])
    assert set(long["metric"]) == {"latency_us.p50", "power_w"} and len(long) == 2 * len(df)
    assert "threads_per_core" in long.columns and "workload.threads_per_core" not in long.columns
    got = long.query("platform == 'arm' and threads_per_core == 2 and metric == 'power_w'")["value"].iloc[0]
    want = df[(df.platform == "arm") & (df["workload.threads_per_core"] == 2)]["power_w"].iloc[0]
    assert got == want
    with pytest.raises(KeyError, match="no measured column nope"):
        fastwake.tidy(df, metrics=["nope"])


# ------------------------------------------------------------ one sign convention, units

def _doc():
    """A constructed result document: interrupt 10 µs, fastwake_poll 2 µs (faster), busy_poll 30 µs (slower)."""
    cfg = {"name": "t", "platform": {"name": "x86"}, "host": {"app_cores": 1},
           "workload": {"threads_per_core": 4, "kind": "pingpong"}}
    res = [{"strategy": s, "latency_us": {"p50": p50, "p99": 2 * p50}, "throughput_rps": 123456.0,
            "cpu_util": 0.5, "power_w": w, "energy_per_req_uj": 1.0, "power_estimated": True, "backend": "sim"}
           for s, p50, w in (("busy_poll", 30.0, 40.0), ("fastwake_poll", 2.0, 35.0), ("interrupt", 10.0, 30.0))]
    return {"config": cfg, "results": res}


def test_signed_percent_is_change_over_the_baseline():
    assert signed_pct(2, 10) == "-80%" and signed_pct(30, 10) == "+200%" and signed_pct(10, 10) == "+0%"
    assert signed_pct(1, 0) == "-"


def test_run_table_signs_units_and_baseline_named():
    text = table(_doc())
    header = text.splitlines()[1]
    assert "p50 µs" in header and "p50 vs interrupt" in header and "req/s" in header and "power W" in header
    rows = {line.split()[0]: line for line in text.splitlines()[2:5]}
    assert "-80%" in rows["fastwake_poll"] and "+200%" in rows["busy_poll"] and "—" in rows["interrupt"]
    assert "123,456" in rows["interrupt"]
    assert "negative = faster" in text


def _sweep_rows():
    rows = []
    for seed in (1, 2):
        for s, p50, w in (("busy_poll", 30.0, 40.0), ("fastwake_poll", 2.0, 35.0), ("interrupt", 10.0, 30.0)):
            rows.append({"platform": "x86", "strategy": s, "seed": seed, "config.workload.threads_per_core": 8,
                         "latency_us.p50": p50, "latency_us.p99": 3 * p50, "power_w": w})
    return pd.DataFrame(rows)


def test_headline_signs_agree_with_the_run_table():
    h = headline(_sweep_rows()).set_index("strategy")
    assert h.loc["fastwake_poll", "p50_vs_interrupt_pct"] == pytest.approx(-80)
    assert h.loc["busy_poll", "p50_vs_interrupt_pct"] == pytest.approx(200)
    assert h.loc["fastwake_poll", "power_overhead_pct"] == pytest.approx(100 * 5 / 30)
    text = format_table(h.reset_index(), default_tpc=8)
    line = {ln.split()[0]: ln for ln in text.splitlines() if ln.startswith("  ") and ln.split()[0] in h.index}
    assert "-80%" in line["fastwake_poll"] and "+200% (×3)" in line["busy_poll"]
    assert "+5.00 W (+16.7%)" in line["fastwake_poll"]
    assert "µs" in text and "negative = faster" in text and " ns " not in text


def test_compare_table_prints_signed_percent_errors():
    rows = [{"strategy": "interrupt", "measured_p50_us": 10.0, "predicted_p50_us": 13.4, "error_p50": 0.34,
             "measured_p99_us": 20.0, "predicted_p99_us": 15.0, "error_p99": -0.25}]
    text = compare_table({"platform": "x86", "rows": rows})
    line = next(ln for ln in text.splitlines() if ln.startswith("interrupt"))
    assert "+34%" in line and "-25%" in line and "0.34" not in line
    assert "(predicted - measured) / measured" in text and "µs" in text
    rows[0].update(error_p50_ci95=0.05, error_p99_ci95=0.1, rounds=3)
    text = compare_table({"platform": "x86", "rows": rows})
    assert "+34% ± 5" in text and "3 rounds" in text


def test_compare_figure_is_linear_with_errors_and_intervals():
    def doc(m, p):
        return {"platform": "x86", "rows": [{"strategy": "interrupt", "measured_p50_us": m, "predicted_p50_us": p,
                                             "error_p50": (p - m) / m, "measured_p99_us": 2 * m,
                                             "predicted_p99_us": 2 * p, "error_p99": (p - m) / m}]}
    from fastwake.hw import combine_rounds

    cmp = combine_rounds([doc(10, 12), doc(10, 14), doc(11, 13)])
    ax50, ax99 = plots.compare(cmp)
    assert ax50.get_yscale() == "linear" and ax50.get_ylim()[0] == 0
    label = next(t.get_text() for t in ax50.texts if t.get_gid() == "error:p50")
    e = cmp["rows"][0]["error_p50"]
    assert label.startswith(f"{100 * e:+.0f}%") and "±" in label
    assert cmp["rows"][0]["error_p50_ci95"] > 0
    assert any(c.__class__.__name__ == "LineCollection" for c in ax50.collections)  # error bars


# ------------------------------------------------------------ ax= on every plot function

@pytest.fixture(scope="module")
def one_platform():
    doc = fastwake.default_config()
    doc["run"].update({"duration_ms": 4, "warmup_ms": 1})
    doc["strategies"] = ["busy_poll", "fastwake_poll", "interrupt"]
    return fastwake.sweep(doc, {"workload.threads_per_core": [1, 4]}, seeds=2, cache=False, progress=False)


def test_every_plot_function_takes_ax_and_returns_it(one_platform):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1)
    got = plots.latency_vs_threads(one_platform, ax=axes)
    assert got is axes and len(axes[0].get_lines()) > 0 and len(axes[1].get_lines()) > 0
    assert not fig.legends and axes[0].get_legend() is not None  # a compact legend inside, nothing outside
    fig, ax = plt.subplots()
    one = one_platform[one_platform["workload.threads_per_core"] == 4]
    assert plots.breakdown(one, ax=ax) is ax and ax.patches
    fig, ax = plt.subplots()
    assert plots.state_residency(one, ax=ax) is ax and ax.patches
    fig, ax = plt.subplots()
    assert plots.latency_vs_threads(one_platform, percentiles=("p99",), ax=ax) is ax
    with pytest.raises(ValueError, match=r"latency_vs_threads: ax= needs 2 matplotlib Axes \(2 percentiles x 1 "
                                         r"platforms\), got 1"):
        plots.latency_vs_threads(one_platform, ax=ax)
    plt.close("all")
    # without ax: its own Figure, the axes returned, save() takes them
    axes = plots.latency_vs_threads(one_platform)
    assert isinstance(plots.figure_of(axes), Figure) and axes.shape == (2,)


def test_single_platform_legend_is_not_clipped(one_platform, tmp_path):
    axes = plots.latency_vs_threads(one_platform)
    fig = plots.figure_of(axes)
    plots.save(fig, tmp_path / "one", formats=("png",))
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    r = FigureCanvasAgg(fig).get_renderer()
    box = fig.legends[0].get_window_extent(r)
    width, height = fig.get_size_inches() * fig.dpi
    assert box.x0 >= 0 and box.x1 <= width and box.y0 >= 0, (box, width)
    assert all(box.y1 <= a.get_tightbbox(r).y0 + 1 for a in fig.axes)  # below the panels, not over them


def test_bands_where_there_are_seeds(one_platform):
    ax = plots.latency_vs_threads(one_platform)[0]
    assert any(str(c.get_gid()).endswith(":ci") for c in ax.collections)
    one = one_platform[one_platform["workload.threads_per_core"] == 4]
    ax = plots.breakdown(one)[0]
    assert any(str(c.get_gid()).endswith(":ci") for c in ax.collections)  # the mean's interval


def test_state_residency_adds_up_to_each_cores_time(one_platform):
    one = one_platform[one_platform["workload.threads_per_core"] == 4]
    ax = plots.state_residency(one)[0]
    for s in ("busy_poll", "interrupt"):
        width = sum(p.get_width() for p in ax.patches if p.get_gid().startswith(s + ":"))
        assert width == pytest.approx(100, abs=0.5)
        poll = sum(p.get_width() for p in ax.patches if p.get_gid() == f"{s}:poll")
        want = 100 * one[one.strategy == s]["state_share.poll"].mean()
        assert poll == pytest.approx(want)
    assert "each core's time" in ax.get_xlabel()
    with pytest.raises(ValueError, match="--where workload.threads_per_core=1"):
        plots.state_residency(one_platform)


def test_cli_plot_breakdown_selects_its_scenario(one_platform, tmp_path):
    csv = tmp_path / "s.csv"
    one_platform.to_csv(csv, index=False)
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), MPLBACKEND="Agg")
    run = lambda *a: subprocess.run([sys.executable, "-m", "fastwake", "plot", "breakdown", str(csv), *a],
                                    capture_output=True, text=True, env=env)
    p = run()
    assert p.returncode == 2 and "workload.threads_per_core: 1, 4" in p.stderr and "--where" in p.stderr
    p = run("--where", "workload.threads_per_core=7")
    assert p.returncode == 2 and "matches no row" in p.stderr and "1, 4" in p.stderr
    p = run("--where", "threads=4")
    assert p.returncode == 2 and "no column 'threads'" in p.stderr and "workload.threads_per_core" in p.stderr
    p = run("--where", "workload.threads_per_core=4", "--out", str(tmp_path / "b"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "b.png").stat().st_size > 1000
