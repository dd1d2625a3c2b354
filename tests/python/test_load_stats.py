"""Utilisation columns, the saturation flag, power split, seeds as a sweep dimension, CI aggregation,
min_requests, and the figures' saturated markers and bands."""
import json

import numpy as np
import pandas as pd
import pytest

import fastwake
from fastwake import plots
from fastwake.stats import aggregate, t_halfwidth


def test_every_row_has_per_core_utilisation_saturation_and_the_power_split(quick_base, cache_dir):
    df = fastwake.sweep(quick_base, {"workload.threads_per_core": [1]}, cache=cache_dir, progress=False)
    for col in ["core_util", "core_load", "max_app_core_util", "max_app_core_load", "saturated",
                "core_power_w", "package_power_w", "state_share.cstate_exit"]:
        assert col in df.columns, col
    cores = int(df["config.host.cores"].iloc[0])
    for _, r in df.iterrows():
        util = json.loads(r["core_util"])
        assert len(util) == cores and all(0 <= u <= 1 + 1e-9 for u in util)
        assert r["max_app_core_util"] == pytest.approx(max(util[: int(r["config.host.app_cores"])]))
        assert np.mean(util) == pytest.approx(r["cpu_util"])
        assert r["core_power_w"] + r["package_power_w"] == pytest.approx(r["power_w"])
    # spinning is busy but not load: busy_poll's app core is ~100 % busy, not saturated at 1 thread
    bp = df[df.strategy == "busy_poll"].iloc[0]
    assert bp["max_app_core_util"] > 0.99 and not bp["saturated"]


def test_an_overloaded_point_is_flagged_saturated(quick_base, cache_dir):
    # 8 threads x 40k/s x 5 us service = 1.6 cores of service on one core: saturated for every strategy
    df = fastwake.sweep(quick_base, {"workload.rate_rps": [1000, 40000]}, cache=cache_dir, progress=False,
                        sets=['workload.kind="poisson"', "workload.service_ns=5000"])
    light, heavy = df[df["workload.rate_rps"] == 1000], df[df["workload.rate_rps"] == 40000]
    assert not light["saturated"].any()
    # busy_poll's spinning threads cannot serve each other's CQs: its latency explodes while the
    # core's load stays low, so only the strategies that hand the CPU over saturate it
    served = heavy[heavy.strategy != "busy_poll"]
    assert served["saturated"].all() and (served["max_app_core_load"] > 0.9).all()


def test_seeds_are_a_grid_dimension_cached_per_seed(quick_base, cache_dir):
    df = fastwake.sweep(quick_base, {"workload.threads_per_core": [2]}, seeds=3, cache=cache_dir, progress=False)
    assert sorted(df["run.seed"].unique()) == [1, 2, 3]
    assert sorted(df["seed"].unique()) == [1, 2, 3]
    assert df.attrs["computed"] == 3
    again = fastwake.sweep(quick_base, {"workload.threads_per_core": [2]}, seeds=[1, 2, 3, 4], cache=cache_dir,
                           progress=False)
    assert again.attrs["computed"] == 1 and again.attrs["cached"] == 3
    with pytest.raises(fastwake.ConfigError, match="seeds"):
        fastwake.sweep(quick_base, None, seeds=0, cache=False, progress=False)


def test_aggregate_means_and_ci_that_shrinks_with_more_seeds(quick_base, cache_dir):
    df = fastwake.sweep(quick_base, {"workload.threads_per_core": [4]}, seeds=8, cache=cache_dir, progress=False)
    a3 = aggregate(df[df.seed <= 3], ["latency_us.p99", "latency_us.mean", "power_w"])
    a8 = aggregate(df, ["latency_us.p99", "latency_us.mean", "power_w"])
    assert len(a8) == len(quick_base["strategies"]) and (a8["n_seeds"] == 8).all()
    d = df[df.strategy == "interrupt"]
    r = a8[a8.strategy == "interrupt"].iloc[0]
    assert r["latency_us.p99"] == pytest.approx(d["latency_us.p99"].mean())
    assert r["latency_us.p99.hi"] - r["latency_us.p99"] == pytest.approx(r["latency_us.p99.ci"])
    # t-interval: 8 seeds are narrower than 3 (t = 4.30 for 3 seeds, 2.36 for 8). On the mean
    # latency, which varies continuously from seed to seed (a p99 read from histogram buckets
    # can be equal for a few seeds, and its interval then 0).
    ci3 = a3.set_index("strategy")["latency_us.mean.ci"]
    ci8 = a8.set_index("strategy")["latency_us.mean.ci"]
    assert 0 < ci8["interrupt"] < ci3["interrupt"]
    # known values: t(0.975, 2) = 4.303
    assert t_halfwidth([1.0, 2.0, 3.0]) == pytest.approx(4.3027 * 1.0 / np.sqrt(3), rel=1e-3)
    assert np.isnan(t_halfwidth([1.0]))


def test_min_requests_lengthens_short_points(quick_base, cache_dir):
    base = dict(quick_base, run=dict(quick_base["run"], duration_ms=1))
    df = fastwake.sweep(base, {"workload.threads_per_core": [1]}, min_requests=300, cache=cache_dir, progress=False)
    assert (df["requests"] >= 300).all()
    assert (df["config.run.duration_ms"] > 1).all()


def _fake(n_seeds=3, saturate_at=32):
    rows = []
    rng = np.random.default_rng(1)
    for plat in ["x86"]:
        for s in ["busy_poll", "interrupt"]:
            for t in [1, 8, 32]:
                for seed in range(1, n_seeds + 1):
                    rows.append({"platform": plat, "strategy": s, "seed": seed, "run.seed": seed,
                                 "config.workload.threads_per_core": t, "config.host.app_cores": 1,
                                 "latency_us.p50": 3.0 * t + rng.normal(0, 0.3),
                                 "latency_us.p99": 9.0 * t + rng.normal(0, 1),
                                 "saturated": s == "interrupt" and t >= saturate_at})
    return pd.DataFrame(rows)


def test_figures_draw_bands_and_hollow_saturated_markers(tmp_path):
    fig = plots.figure_of(plots.latency_vs_threads(_fake()))
    ax = fig.axes[0]
    gids = {a.get_gid() for a in [*ax.lines, *ax.collections]}
    assert {"busy_poll", "interrupt", "busy_poll:ci", "interrupt:ci", "interrupt:saturated"} <= gids
    assert "busy_poll:saturated" not in gids
    sat = next(l for l in ax.lines if l.get_gid() == "interrupt:saturated")
    assert list(sat.get_xdata()) == [32] and sat.get_markerfacecolor() == "none"  # x markers get a ring
    mean = next(l for l in ax.lines if l.get_gid() == "interrupt")
    np.testing.assert_allclose(mean.get_ydata(), _fake().query("strategy == 'interrupt'")
                               .groupby("config.workload.threads_per_core")["latency_us.p50"].mean())
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("> 90 % busy" in t for t in texts) and any("confidence interval" in t for t in texts)
    plots.save(fig, tmp_path / "f")
    # one seed: no band
    ax1 = plots.latency_vs_threads(_fake(n_seeds=1))[0]
    assert not any(str(c.get_gid()).endswith(":ci") for c in ax1.collections)
