"""Each plot function: the expected series per panel, labelled axes with units, legends (matplotlib objects, not pixels)."""
import numpy as np
import pandas as pd
import pytest

import fastwake
from fastwake import plots
from fastwake.results import STAGES

STRATS = ["busy_poll", "fastwake_poll", "fastwake_irq", "interrupt"]


@pytest.fixture(scope="module")
def base():
    doc = fastwake.default_config()
    doc["run"].update({"duration_ms": 5, "warmup_ms": 1})
    doc["strategies"] = STRATS
    return doc


@pytest.fixture(scope="module")
def threads_df(base):
    return fastwake.sweep(base, {"platform": ["x86", "arm"], "workload.threads_per_core": [1, 4, 16]},
                          cache=False, progress=False)


@pytest.fixture(scope="module")
def load_df(base):
    b = dict(base, workload=dict(base["workload"], kind="poisson", think_ns=0, think_dist="fixed"))
    return fastwake.sweep(b, {"platform": ["x86", "arm"], "workload.rate_rps": [2000, 10000]},
                          cache=False, progress=False)


def _series(ax):
    # the strategies' mean lines (not their ":saturated" markers)
    return {line.get_gid(): line for line in ax.get_lines() if line.get_gid() and ":" not in line.get_gid()}


def _check_axes(ax, xunit, yunit):
    assert xunit in ax.get_xlabel(), ax.get_xlabel()
    assert yunit in ax.get_ylabel(), ax.get_ylabel()
    assert ax.get_title()


def _fig(axes):
    """The Figure of the axes a plot function returns."""
    return plots.figure_of(axes)


def _legend_texts(fig):
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_latency_vs_threads(threads_df, tmp_path):
    fig = _fig(plots.latency_vs_threads(threads_df))
    axes = fig.get_axes()
    assert len(axes) == 4  # (p50, p99) x (x86, arm)
    titles = [ax.get_title() for ax in axes]
    assert titles == ["x86 profile: median (p50) latency", "ARM profile: median (p50) latency",
                      "x86 profile: tail (p99) latency", "ARM profile: tail (p99) latency"]
    for ax, (plat, pct) in zip(axes, [("x86", "p50"), ("arm", "p50"), ("x86", "p99"), ("arm", "p99")]):
        _check_axes(ax, "threads per core", "(µs)")
        assert pct in ax.get_ylabel()
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        series = _series(ax)
        assert list(series) == STRATS
        for s, line in series.items():
            d = threads_df[(threads_df.platform == plat) & (threads_df.strategy == s)]
            assert list(line.get_xdata()) == [1, 4, 16]
            np.testing.assert_allclose(line.get_ydata(), d[f"latency_us.{pct}"])
    legend = _legend_texts(fig)
    assert all(t.startswith(s) for t, s in zip(legend, STRATS))
    # one seed: no band entry; saturated points (if any) explained by the last entry
    assert legend[len(STRATS):] in ([], ["hollow or ringed marker: an application core > 90 % busy (saturated)"])
    assert "threads share one core" in fig._suptitle.get_text()
    png, pdf = plots.save(fig, tmp_path / "f1")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"


def test_latency_cdf(base):
    samples = {}
    for plat in ("x86", "arm"):
        r = fastwake.run(base, platform=plat, samples=True)
        samples[plat] = {s: r.latencies_us(s) for s in r.samples}
    cdf = plots.cdf_frame(samples, points=200)
    assert set(cdf.columns) >= {"platform", "strategy", "quantile", "latency_us"}
    fig = _fig(plots.latency_cdf(cdf, scenario="test scenario"))
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["x86 profile", "ARM profile"]
    for ax, plat in zip(axes, ("x86", "arm")):
        _check_axes(ax, "(µs", "fraction of requests slower than x")
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"  # a CCDF: the tail readable
        series = _series(ax)
        assert list(series) == STRATS
        floor = ax.get_ylim()[0]
        for s, line in series.items():
            x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
            assert y[0] == 1 and y[-1] == floor and np.all(np.diff(y) <= 0) and np.all(np.diff(x) >= 0)
            lat = samples[plat][s]
            assert x[0] == lat.min() and x[-1] == lat.max()
            # the curve drops to 1 - F = 0.5 at the samples' median, to 0.01 at their p99, 0.001 at p99.9
            for q in (0.5, 0.99, 0.999):
                at = x[np.argmax(y <= 1 - q + 1e-9)]
                assert at == pytest.approx(np.quantile(lat, q, method="inverted_cdf"), rel=1e-3), (s, q)
        assert {t.get_text() for t in ax.texts} >= {"p50", "p99"}
    assert "test scenario" in fig._suptitle.get_text()


def test_breakdown(threads_df):
    one = threads_df[threads_df["workload.threads_per_core"] == 4]
    fig = _fig(plots.breakdown(one))
    axes = fig.get_axes()
    assert [ax.get_title() for ax in axes] == ["x86 profile", "ARM profile"]
    # the p99 tick beside each bar is the strategy's p99
    p99 = {l.get_gid(): l.get_xdata()[0] for l in axes[0].get_lines() if str(l.get_gid()).endswith(":p99")}
    for s, v in p99.items():
        want = one[(one.platform == "x86") & (one.strategy == s.split(":")[0])]["latency_us.p99"].iloc[0]
        assert v == pytest.approx(want)
    for ax, plat in zip(axes, ("x86", "arm")):
        _check_axes(ax, "(µs)", "strategy" if ax is axes[0] else "")
        labels = {t.get_text(): t.get_position()[1] for t in axes[0].get_yticklabels()}
        assert sorted(labels, key=labels.get, reverse=True) == STRATS  # top to bottom
        bars = [p for p in ax.patches if p.get_gid()]
        assert len(bars) == len(STRATS) * len(STAGES)
        for s in STRATS:
            width = sum(p.get_width() for p in bars if p.get_gid().startswith(s + ":"))
            mean = one[(one.platform == plat) & (one.strategy == s)]["latency_us.mean"].iloc[0]
            assert width == pytest.approx(mean, rel=1e-9)
    legend = _legend_texts(fig)
    assert [t.split(":")[0] for t in legend if not t.startswith("p99")] == list(STAGES)
    # several scenarios: the error names the column that differs and how to select one
    with pytest.raises(ValueError, match=r"one row per platform and strategy.*workload.threads_per_core: 1, 4, 16.*"
                                         r"--where workload.threads_per_core=1"):
        plots.breakdown(threads_df)
    sel = _fig(plots.breakdown(threads_df, where={"workload.threads_per_core": 4}))
    assert [p.get_width() for p in sel.get_axes()[0].patches] == [p.get_width() for p in axes[0].patches]
    with pytest.raises(ValueError, match=r"workload.threads_per_core=3.*matches no row.*1, 16, 4|1, 4, 16"):
        plots.select(threads_df, ["workload.threads_per_core=3"])


def test_breakdown_cuts_an_outlier_bar(threads_df):
    one = threads_df[threads_df["workload.threads_per_core"] == 16]  # busy_poll waits for slices: ms
    fig = _fig(plots.breakdown(one))
    ax = fig.get_axes()[0]
    bp = one[(one.platform == "x86") & (one.strategy == "busy_poll")]["latency_us.mean"].iloc[0]
    assert ax.get_xlim()[1] < bp
    assert any("bar cut" in t.get_text() for t in ax.texts)


def test_power_vs_load(load_df):
    fig = _fig(plots.power_vs_load(load_df))
    axes = fig.get_axes()
    assert len(axes) == 2
    for ax, plat in zip(axes, ("x86", "arm")):
        _check_axes(ax, "offered load (thousand requests/s)", "power (W")
        series = _series(ax)
        assert list(series) == STRATS
        for s, line in series.items():
            assert list(line.get_xdata()) == [64.0, 320.0]  # 32 connections x 2k / 10k per s
            d = load_df[(load_df.platform == plat) & (load_df.strategy == s)]
            np.testing.assert_allclose(line.get_ydata(), d["power_w"])
    assert len(_legend_texts(fig)) == len(STRATS)


def test_power_vs_latency(load_df):
    fig = _fig(plots.power_vs_latency(load_df))
    for ax, plat in zip(fig.get_axes(), ("x86", "arm")):
        _check_axes(ax, "p99 round-trip latency (µs", "power (W")
        assert ax.get_xscale() == "log"
        series = _series(ax)
        assert list(series) == STRATS
        d = load_df[(load_df.platform == plat) & (load_df.strategy == "interrupt")]
        np.testing.assert_allclose(series["interrupt"].get_xdata(), d["latency_us.p99"])  # in load order
        # every point labelled with its load, in thousand requests/s
        labels = [t.get_text() for t in ax.texts if t.get_gid() == "interrupt:load"]
        assert labels == ["64k", "320k"]


def test_plots_read_back_from_csv(threads_df, tmp_path):
    """Figures are drawn from result files: a CSV round trip draws the same series."""
    path = tmp_path / "sweep.csv"
    threads_df.to_csv(path, index=False)
    fig = _fig(plots.latency_vs_threads(pd.read_csv(path)))
    line = _series(fig.get_axes()[0])["interrupt"]
    d = threads_df[(threads_df.platform == "x86") & (threads_df.strategy == "interrupt")]
    np.testing.assert_allclose(line.get_ydata(), d["latency_us.p50"])


def test_bad_data_is_a_clear_error(threads_df):
    with pytest.raises(ValueError, match=r"latency_vs_threads: the data has no column latency_us.p99"):
        plots.latency_vs_threads(threads_df.drop(columns=["latency_us.p99"]))
    with pytest.raises(ValueError, match="no rows"):
        plots.latency_vs_threads(threads_df.iloc[0:0])
    with pytest.raises(ValueError, match="rate_rps"):
        plots.power_vs_load(threads_df.drop(columns=["config.workload.rate_rps"]))


def test_incast():
    """The incast figure (experiments/incast): 2 x 2 panels vs clients, one solid (SimGrid) and one dashed
    (simple fabric) line per strategy, the server link's capacity from the sidecar."""
    rows = [{"strategy": s, "clients": n, "fabric": f, "latency_us.p50": 10.0 * n, "latency_us.p99": 20.0 * n,
             "throughput_rps": 1e5 * n, "power_w": 30.0 + n}
            for s in ("interrupt", "fastwake_poll") for f in ("simple", "simgrid") for n in (1, 16, 256)]
    df = pd.DataFrame(rows)
    fig = _fig(plots.incast(df, {"server_link_gbps": 100, "message_bytes": 4096, "description": "test incast"}))
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["p50 latency (µs)", "p99 latency (µs)", "throughput (M requests/s)",
                                                "host power (W, estimate)"]
    assert all(ax.get_xscale() == "log" for ax in axes) and axes[0].get_yscale() == "log"
    for ax in axes:
        lines = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 3]
        assert len(lines) == 4  # 2 strategies x 2 fabrics
        assert sorted(ln.get_linestyle() for ln in lines) == ["-", "-", "--", "--"]
    solid = [ln for ln in axes[2].get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) == 3]
    np.testing.assert_allclose(solid[0].get_ydata(), [0.1, 1.6, 25.6])  # M requests/s
    cap = [ln for ln in axes[2].get_lines() if len(ln.get_xdata()) == 2]
    assert cap and cap[0].get_ydata()[0] == pytest.approx(100e9 / 8 / 4096 / 1e6)
    # ticks at the data's client counts; the simple-fabric reference drawn above the SimGrid lines
    assert list(axes[0].get_xticks()) == [1, 16, 256]
    assert [t.get_text() for t in axes[2].get_xticklabels()] == ["1", "16", "256"]
    z = {ln.get_gid(): ln.get_zorder() for ln in axes[0].get_lines() if ln.get_gid()}
    assert z["interrupt:simple"] > z["interrupt:simgrid"]
    legend = _legend_texts(fig)
    assert legend[0].startswith("fastwake_poll") and legend[1].startswith("interrupt") and len(legend) == 4
    assert any(t.get_text() == "test incast" for t in fig.texts)
    with pytest.raises(ValueError, match="incast: the data has no column fabric"):
        plots.incast(df.drop(columns=["fabric"]))
