"""fastwake.advise / `fastwake advise`: the pick equals the best of an independent fastwake.run over the
strategies (the rule of docs/advise.md applied here again), no-strategy and power-cap cases, bad input,
the plot and the command line."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import fastwake
from fastwake.advise import NO_STRATEGY, default_strategies, polling_strategies
from conftest import REPO, build_dir

SEEDS = [1, 2, 3]
#: Short runs; every strategy of the workloads below measures more than this in 5 ms (asserted), so
#: advise never lengthens a run and the independent runs use the same configs.
MIN_REQ = 100
RUN = dict(duration_ms=5, warmup_ms=1, min_requests=MIN_REQ, seeds=SEEDS, progress=False)

#: Constructed workloads: advise keywords, and the config the test builds for them by hand.
WORKLOADS = {
    # closed loop, the paper's 4 x 8 threads, 50 µs think: polling wins p99, irq strategies power
    "closed": dict(cores=4, threads_per_core=8, think_us=50, service_us=1, message_bytes=64),
    # open loop, 2 cores x 4 threads at 100k req/s
    "open": dict(cores=2, threads_per_core=4, load_rps=100_000, service_us=2, message_bytes=256),
    # light closed loop: 2 threads per core, 50 µs think (the cores mostly idle)
    "light": dict(cores=2, threads_per_core=2, think_us=50, service_us=1, message_bytes=64),
}


def by_hand(w: dict) -> dict:
    """The config for workload `w`, written out key by key (docs/advise.md's mapping table)."""
    doc = fastwake.default_config()
    doc["strategies"] = default_strategies()
    doc["host"]["app_cores"] = w["cores"]
    doc["workload"]["threads_per_core"] = w["threads_per_core"]
    if "load_rps" in w:
        doc["workload"].update(kind="poisson", think_ns=0,
                               rate_rps=w["load_rps"] / (w["cores"] * w["threads_per_core"]))
    else:
        doc["workload"].update(kind="pingpong", think_ns=int(w["think_us"] * 1000), rate_rps=0)
    doc["workload"]["service_ns"] = int(w["service_us"] * 1000)
    doc["workload"]["message_bytes"] = w["message_bytes"]
    doc["run"].update(duration_ms=RUN["duration_ms"], warmup_ms=RUN["warmup_ms"])
    return doc


def run_directly(name: str, cap=None) -> dict:
    """strategy -> per-seed (p99, power, saturated) from fastwake.run, one run per seed. With a cap, the
    config carries it as adaptive.power_cap_w when the build knows that key (as advise does)."""
    doc = by_hand(WORKLOADS[name])
    if cap is not None:
        try:
            fastwake.resolve_config(dict(doc, adaptive={"power_cap_w": cap}))
            doc["adaptive"] = {"power_cap_w": cap}
        except fastwake.ConfigError:
            pass
    per = {}
    for seed in SEEDS:
        doc["run"]["seed"] = seed
        for r in fastwake.run(doc).results:
            assert r["requests"] >= MIN_REQ, (name, r["strategy"], r["requests"])
            per.setdefault(r["strategy"], []).append((r["latency_us"]["p99"], r["power_w"],
                                                      bool(r.get("saturated", False))))
    return per


@pytest.fixture(scope="module")
def direct():
    """Per workload: the direct runs without a cap."""
    return {name: run_directly(name) for name in WORKLOADS}


def expected_pick(per: dict, target, cap, tol=0.01):
    """docs/advise.md's rule, from the independent runs: qualify = no seed saturated, worst-seed p99 <=
    target, worst-seed power <= cap; with a target the lowest mean power (within tol counts equal,
    then the lowest mean p99), without one the lowest mean p99. None when nothing qualifies."""
    ok = {}
    for s, rows in per.items():
        p99 = [r[0] for r in rows]
        pw = [r[1] for r in rows]
        if any(r[2] for r in rows):
            continue
        if target is not None and max(p99) > target:
            continue
        if cap is not None and max(pw) > cap:
            continue
        ok[s] = (float(np.mean(p99)), float(np.mean(pw)))
    if not ok:
        return None
    if target is None:
        return min(ok, key=lambda s: (ok[s][0], ok[s][1]))
    low = min(v[1] for v in ok.values())
    tied = [s for s, v in ok.items() if v[1] <= low * (1 + tol)]
    return min(tied, key=lambda s: (ok[s][0], ok[s][1]))


def worst(per, strategy, i):
    return max(r[i] for r in per[strategy])


@pytest.mark.parametrize("name", list(WORKLOADS))
def test_pick_equals_the_best_of_the_direct_runs(name, direct, cache_dir):
    per = direct[name]
    p99s = sorted(worst(per, s, 0) for s in per)
    # three targets from the runs themselves: only the fastest qualifies, about half do, all do
    targets = [p99s[0] * 1.001, p99s[len(p99s) // 2] * 1.001, p99s[-1] * 2]
    for target in targets:
        a = fastwake.advise(**WORKLOADS[name], p99_target_us=target, cache=cache_dir, **RUN)
        want = expected_pick(per, target, None)
        assert want is not None
        assert a.recommended == want, (name, target, a.reason, a.table.to_string())
        assert a.closest is None and NO_STRATEGY not in a.reason
        # the table's numbers are the direct runs' (mean and worst over the seeds)
        for s in per:
            row = a.table.set_index("strategy").loc[s]
            assert row["p99_worst_us"] == pytest.approx(worst(per, s, 0))
            assert row["power_w"] == pytest.approx(np.mean([r[1] for r in per[s]]))
            assert row["meets_target"] == (worst(per, s, 0) <= target and not any(r[2] for r in per[s]))
    # without a target: the lowest p99
    a = fastwake.advise(**WORKLOADS[name], cache=cache_dir, **RUN)
    assert a.recommended == expected_pick(per, None, None)
    assert a.attrs["computed"] == 0  # every point came from the cache of the first call


def test_table_has_a_row_per_strategy_and_the_documented_columns(direct, cache_dir):
    a = fastwake.advise(**WORKLOADS["closed"], p99_target_us=50, cache=cache_dir, **RUN)
    assert list(a.table["strategy"]) == default_strategies()
    for c in ("p50_us", "p99_us", "power_w", "meets_target", "within_cap", "pareto", "p99_ci_us",
              "p99_worst_us", "power_worst_w", "n_seeds"):
        assert c in a.table.columns, c
    assert (a.table["n_seeds"] == len(SEEDS)).all()
    # the Pareto flags: no flagged strategy is beaten in both p99 and power by another
    t = a.table
    for _, r in t.iterrows():
        beaten = ((t["p99_us"] <= r["p99_us"]) & (t["power_w"] <= r["power_w"])
                  & ((t["p99_us"] < r["p99_us"]) | (t["power_w"] < r["power_w"]))).any()
        assert r["pareto"] == (not beaten)
    # the mapping names every config key it set
    keys = {m.key for m in a.mapping}
    assert {"host.app_cores", "workload.threads_per_core", "workload.kind", "workload.think_ns",
            "workload.service_ns", "workload.message_bytes", "strategies"} <= keys
    assert a.config["host"]["app_cores"] == 4 and a.config["workload"]["think_ns"] == 50_000


def test_a_target_no_strategy_meets(direct, cache_dir):
    per = direct["closed"]
    target = min(worst(per, s, 0) for s in per) / 2
    assert expected_pick(per, target, None) is None
    a = fastwake.advise(**WORKLOADS["closed"], p99_target_us=target, cache=cache_dir, **RUN)
    assert a.recommended is None and not a.feasible
    assert a.reason.startswith(NO_STRATEGY)
    assert not a.table["meets_target"].any()
    # the closest is the lowest p99
    assert a.closest == min(per, key=lambda s: np.mean([r[0] for r in per[s]]))
    assert a.choice == a.closest
    assert NO_STRATEGY in a.text()


def test_a_tight_power_cap_excludes_the_polling_strategies(direct, cache_dir):
    per = direct["light"]
    polling = [s for s in polling_strategies() if s in per]
    others = [s for s in per if s not in polling]
    assert polling and others
    lo_poll = min(worst(per, s, 1) for s in polling)
    hi_other = min(worst(per, s, 1) for s in others)
    assert hi_other < lo_poll, "the light workload should make polling cost power"
    cap = (hi_other + lo_poll) / 2
    loose = max(worst(per, s, 0) for s in per) * 2
    per = run_directly("light", cap)  # a strategy that honours the cap at run time runs under it
    a = fastwake.advise(**WORKLOADS["light"], p99_target_us=loose, power_cap_w=cap, cache=cache_dir, **RUN)
    t = a.table.set_index("strategy")
    assert not t.loc[polling, "within_cap"].any()
    assert a.recommended not in polling
    assert a.recommended == expected_pick(per, loose, cap)
    # a cap and no target: the lowest p99 within the cap
    b = fastwake.advise(**WORKLOADS["light"], power_cap_w=cap, cache=cache_dir, **RUN)
    assert b.recommended == expected_pick(per, None, cap) and b.recommended not in polling
    # a cap nothing stays under: no strategy meets it, the closest is the lowest power
    c = fastwake.advise(**WORKLOADS["light"], p99_target_us=loose, power_cap_w=1.0, cache=cache_dir, **RUN)
    assert c.recommended is None and c.reason.startswith(NO_STRATEGY)
    per = run_directly("light", 1.0)
    assert c.closest == min(per, key=lambda s: (worst(per, s, 1), np.mean([r[0] for r in per[s]])))


@pytest.mark.parametrize("kwargs, message", [
    (dict(load_rps=1000, think_us=10), "load_rps and think_us: give one of them"),
    (dict(cores=-1), "cores: expected at least 1"),
    (dict(cores=2.5), "cores: expected an integer"),
    (dict(threads_per_core=0), "threads_per_core: expected at least 1"),
    (dict(service_us=-3), "service_us: must not be negative"),
    (dict(think_us=float("nan")), "think_us: expected a finite number"),
    (dict(load_rps=0), "load_rps: expected a number > 0"),
    (dict(load_rps=1e13), "per connection"),
    (dict(message_bytes=0), "message_bytes: expected at least 1"),
    (dict(p99_target_us=0), "p99_target_us: expected a number > 0"),
    (dict(p99_target_us=-10), "p99_target_us: expected a number > 0"),
    (dict(p99_target_us="10"), "p99_target_us: expected a number"),
    (dict(power_cap_w=-1), "power_cap_w: expected a number > 0"),
    (dict(platform="sparc"), "unknown platform 'sparc'"),
    (dict(platform=3), "platform: expected a platform name"),
    (dict(service_dist="normal"), "service_dist: expected 'fixed' or 'exp'"),
    (dict(strategies=["nope"]), "unknown strategy 'nope'"),
    (dict(strategies=[]), "strategies: expected at least one"),
    (dict(seeds=0), "seeds: expected a count"),
    (dict(cores=8, host_cores=4), "host_cores: 4 cores cannot hold cores=8"),
])
def test_bad_input_is_a_clear_error(kwargs, message):
    with pytest.raises(fastwake.ConfigError) as e:
        fastwake.advise(**kwargs, cache=False, **{k: v for k, v in RUN.items() if k not in kwargs})
    assert message in str(e.value)


def test_the_plot_marks_the_front_the_constraints_and_the_pick(direct, cache_dir, tmp_path):
    a = fastwake.advise(**WORKLOADS["closed"], p99_target_us=50, power_cap_w=60, cache=cache_dir, **RUN)
    ax = a.plot()
    assert "p99" in ax.get_xlabel() and "(µs)" in ax.get_xlabel()
    assert "power" in ax.get_ylabel() and "(W)" in ax.get_ylabel()
    gids = {c.get_gid() for c in ax.get_children() if c.get_gid()} | \
           {ln.get_gid() for ln in ax.get_lines() if ln.get_gid()}
    assert {"pareto", "target", "cap", "recommended"} <= gids
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for s in default_strategies():
        assert any(lab.startswith(s) for lab in labels), s
    assert f"recommended: {a.recommended}" in labels
    # the front's vertices are the Pareto strategies' points
    front = next(ln for ln in ax.get_lines() if ln.get_gid() == "pareto")
    pts = set(zip(np.round(front.get_xdata(), 6), np.round(front.get_ydata(), 6)))
    for _, r in a.table[a.table["pareto"]].iterrows():
        assert (round(r["p99_us"], 6), round(r["power_w"], 6)) in pts
    # drawing into a given axes returns it; saving writes PNG and PDF
    from matplotlib.figure import Figure

    ax2 = Figure().add_subplot()
    assert a.plot(ax=ax2) is ax2
    files = a.save_plot(tmp_path / "pareto")
    assert [f.suffix for f in files] == [".png", ".pdf"]
    assert files[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files[1].read_bytes()[:4] == b"%PDF"


def test_local_and_dask_give_the_same_advice(cache_dir):
    w = dict(WORKLOADS["closed"], strategies=["fastwake_poll", "interrupt"])
    run = dict(RUN, seeds=[1, 2])
    local = fastwake.advise(**w, p99_target_us=30, cache=False, **run)
    dask = fastwake.advise(**w, p99_target_us=30, executor="dask", jobs=2, cache=cache_dir, **run)
    pd.testing.assert_frame_equal(local.table, dask.table)
    assert local.recommended == dask.recommended and local.reason == dask.reason


def fw(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), FASTWAKE_BUILD_DIR=str(build_dir()),
               MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "fastwake", *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=300, cwd=cwd)


SHORT = ["--duration-ms", 5, "--warmup-ms", 1, "--min-requests", MIN_REQ, "--no-progress"]


def test_cli_prints_the_table_and_writes_the_plot(tmp_path, direct):
    w = WORKLOADS["closed"]
    p = fw("advise", "--cores", w["cores"], "--threads-per-core", w["threads_per_core"], "--think-us",
           w["think_us"], "--service-us", w["service_us"], "--message-bytes", w["message_bytes"],
           "--p99-target-us", 50, *SHORT, "--cache", tmp_path / "c", "--plot", tmp_path / "adv.png",
           "--csv", tmp_path / "adv.csv", "--json", tmp_path / "adv.json")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "workload -> config keys:" in out and "host.app_cores = 4" in out and "workload.think_ns = 50000" in out
    for s in default_strategies():
        assert s in out
    want = expected_pick(direct["closed"], 50, None)
    assert f"recommended: {want}" in out and "reason: lowest power" in out
    assert f"plot: {tmp_path / 'adv.png'}" in out
    assert (tmp_path / "adv.png").read_bytes()[:4] == b"\x89PNG"
    t = pd.read_csv(tmp_path / "adv.csv")
    assert list(t["strategy"]) == default_strategies()
    doc = json.loads((tmp_path / "adv.json").read_text())
    assert doc["recommended"] == want and doc["reason"] and len(doc["table"]) == len(t)
    # no strategy meets a 0.01 µs target: exit 3, the table and the closest still printed; the
    # default plot goes under the cache folder given
    p = fw("advise", "--cores", 4, "--think-us", 50, "--p99-target-us", 0.01, *SHORT, "--cache", tmp_path / "c")
    assert p.returncode == 3, p.stderr
    assert NO_STRATEGY in p.stdout and "closest" in p.stdout
    plots = [ln.split(": ", 1)[1] for ln in p.stdout.splitlines() if ln.startswith("plot: ")]
    assert plots and all(f.startswith(str(tmp_path / "c" / "advise")) and os.path.getsize(f) > 0 for f in plots)


def test_cli_never_writes_its_default_plot_into_the_source_tree(tmp_path):
    p = fw("advise", "--cores", 1, "--threads-per-core", 1, "--think-us", 20, "--strategies", "interrupt",
           "--seeds", 1, *SHORT, "--no-cache", cwd=REPO)
    assert p.returncode == 0, p.stderr
    plots = [ln.split(": ", 1)[1] for ln in p.stdout.splitlines() if ln.startswith("plot: ")]
    assert plots
    for f in plots:
        assert not os.path.realpath(f).startswith(str(REPO.resolve()) + os.sep), f
        os.unlink(f)


@pytest.mark.parametrize("args, message", [
    (["--load", 1000, "--think-us", 5], "--load and --think-us: give one of them"),
    (["--p99-target-us", 0], "--p99-target-us: expected a number > 0"),
    (["--cores", -2], "--cores: expected at least 1"),
    (["--platform", "sparc"], "unknown platform 'sparc'"),
    (["--power-cap-w", -5], "--power-cap-w: expected a number > 0"),
    (["--plot", "/nonexistent-dir/x.png"], "folder /nonexistent-dir does not exist"),
])
def test_cli_bad_input_exits_2(args, message):
    p = fw("advise", *args, "--no-progress", "--no-cache")
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert message in p.stderr and "Traceback" not in p.stderr


def test_cli_help_explains_every_option_with_units():
    p = fw("advise", "--help")
    assert p.returncode == 0
    text = " ".join(p.stdout.split())
    for opt, unit in [("--cores", "host.app_cores"), ("--threads-per-core", "threads_per_core"),
                      ("--load", "requests/s"), ("--think-us", "µs"), ("--service-us", "µs"),
                      ("--message-bytes", "bytes"), ("--p99-target-us", "µs"), ("--power-cap-w", "W"),
                      ("--platform", "host-NAME"), ("--seeds", "seeds"), ("--duration-ms", "ms"),
                      ("--plot", ".png")]:
        assert opt in text and unit in text, opt
