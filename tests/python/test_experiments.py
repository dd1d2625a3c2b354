"""experiments/ as data: every folder's experiment.json names a registered runner and plot, the one runner
(fastwake.experiments.run_experiment) runs any of them, bad folders and names are clear errors."""
import io
import json

import pandas as pd
import pytest

import fastwake
from conftest import REPO
from fastwake import experiments as ex

PAPER = {  # name -> (runner, spec, data file, plot, files the plot writes)
    "fig1_latency_vs_threads": ("sweep", "sweep.json", "fig1_latency_vs_threads.csv", "latency-vs-threads", ("png", "pdf")),
    "fig2_latency_cdf": ("latency-cdf", "sweep.json", "fig2_latency_cdf.csv", "cdf", ("png", "pdf")),
    "fig3_breakdown": ("sweep", "sweep.json", "fig3_breakdown.csv", "breakdown", ("png", "pdf")),
    "fig4_power_vs_load": ("sweep", "sweep.json", "fig4_power_vs_load.csv", "power-vs-load", ("png", "pdf")),
    "fig5_power_vs_latency": ("sweep", "sweep.json", "fig5_power_vs_latency.csv", "power-vs-latency", ("png", "pdf")),
    "fig6_latency_fixed_load": ("sweep", "sweep.json", "fig6_latency_fixed_load.csv",
                                "latency-vs-threads-fixed-load", ("png", "pdf")),
    "fig7_latency_vs_load": ("sweep", "sweep.json", "fig7_latency_vs_load.csv", "latency-vs-load", ("png", "pdf")),
    "fig8_adaptive": ("sweep", "sweep.json", "fig8_adaptive.csv", "adaptive-vs-load", ("png", "pdf")),
    "fig9_state_residency": ("sweep", "sweep.json", "fig9_state_residency.csv", "state-residency", ("png", "pdf")),
    "headline": ("sweep", "sweep.json", "headline_data.csv", "headline", ("csv", "json", "txt")),
}


def test_every_folder_is_a_registered_experiment_with_its_spec_and_plot():
    folders = sorted(p.name for p in (REPO / "experiments").iterdir() if p.is_dir())
    exps = ex.discover()
    assert [e.name for e in exps] == folders  # no folder without an experiment.json
    for e in exps:
        assert e.spec_path.is_file(), e.name
        assert e.runner in ex.RUNNERS and e.plot in ex.PLOTS, e.name
        assert e.description, e.name  # the spec says what the figure shows
        assert not list(e.folder.glob("*.py")), f"{e.name}: code belongs in the registries, not the folder"
    assert {e.name: (e.runner, e.spec, e.data, e.plot) for e in ex.paper_experiments()} == \
        {k: v[:4] for k, v in PAPER.items()}
    incast = ex.find("incast")
    assert (incast.runner, incast.spec, incast.data, incast.plot, incast.paper) == \
        ("incast", "incast.json", "incast.csv", "incast", False)
    assert incast.default_out == REPO / "results" / "incast"
    assert ex.find("headline").default_out == ex.DEFAULT_OUT


def test_the_plot_command_offers_the_registered_figures():
    from fastwake.cli import build_parser

    figures = ex.figure_plots()
    assert figures == ["latency-vs-threads", "latency-vs-threads-fixed-load", "latency-vs-load", "cdf", "breakdown",
                       "state-residency", "power-vs-load", "power-vs-latency", "adaptive-vs-load", "incast"]
    plot = next(a for a in build_parser()._subparsers._group_actions[0].choices["plot"]._actions
                if a.dest == "figure")
    assert list(plot.choices) == [*figures, "all"]
    assert not ex.PLOTS["headline"].is_figure  # a table: drawn by `plot all`, not `plot NAME DATA`


def test_unknown_experiment_lists_the_known_ones(tmp_path):
    with pytest.raises(fastwake.ConfigError) as e:
        ex.run_experiment("fig9_nothing", tmp_path)
    assert str(e.value) == ("unknown experiment 'fig9_nothing' (known: fig1_latency_vs_threads, fig2_latency_cdf, "
                            "fig3_breakdown, fig4_power_vs_load, fig5_power_vs_latency, fig6_latency_fixed_load, "
                            "fig7_latency_vs_load, fig8_adaptive, fig9_state_residency, headline, incast)")
    assert not list(tmp_path.iterdir())
    from fastwake.paper import paper

    with pytest.raises(fastwake.ConfigError, match=r"incast is not a paper experiment: run it with "
                                                   r"`fastwake experiment incast`"):
        paper(tmp_path / "p", only=["incast"])


def test_quick_run_writes_the_sweep_rows_and_the_figure(tmp_path, cache_dir):
    files = ex.run_experiment("fig3_breakdown", tmp_path, quick=True, cache=cache_dir, progress=False)
    assert files == [tmp_path / "fig3_breakdown.csv", tmp_path / "fig3_breakdown.png", tmp_path / "fig3_breakdown.pdf"]
    df = pd.read_csv(files[0])
    spec = ex.load_spec(REPO / "experiments" / "fig3_breakdown" / "sweep.json", quick=True)
    direct = fastwake.sweep(spec["base"], spec["grid"], sets=ex.set_args(spec["set"]), cache=cache_dir,
                            progress=False, seeds=spec["seeds"], min_requests=spec["min_requests"])
    assert direct.attrs["computed"] == 0  # the same points, served from the run's cache
    assert sorted(df["seed"].unique()) == [1, 2, 3] and (df["requests"] >= 5000).all()
    pd.testing.assert_frame_equal(df, pd.read_csv(io.StringIO(direct.to_csv(index=False))))
    assert set(df["platform"]) == {"x86", "arm"} and (df["config.run.duration_ms"] >= 10).all()
    assert files[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and files[2].read_bytes()[:5] == b"%PDF-"
    # data only, then the figure alone from it
    files[1].unlink()
    assert ex.run_experiment("fig3_breakdown", tmp_path, quick=True, cache=cache_dir, plot=False) == [files[0]]
    assert not files[1].exists()
    assert ex.find("fig3_breakdown").draw(tmp_path) == files[1:]


def test_the_cdf_runner_writes_the_table_and_its_sidecar(tmp_path):
    files = ex.run_experiment("fig2_latency_cdf", tmp_path, quick=True, cache=False, plot=False)
    assert files == [tmp_path / "fig2_latency_cdf.csv", tmp_path / "fig2_latency_cdf.json"]
    cdf = pd.read_csv(files[0])
    assert list(cdf.columns) == ["platform", "strategy", "quantile", "latency_us"]
    side = json.loads(files[1].read_text())
    assert side["model_version"] == fastwake.MODEL_VERSION and "8 threads sharing each of 4 cores" in side["scenario"]
    assert set(side["requests"]) == {"x86", "arm"}


def _folder(root, name, experiment, spec=None):
    d = root / name
    d.mkdir(parents=True)
    (d / "experiment.json").write_text(json.dumps(experiment))
    if spec is not None:
        (d / "sweep.json").write_text(json.dumps(spec))
    return d


SMALL = {"description": "two strategies, x86 and arm, 5 ms", "base": None,
         "set": {"run.duration_ms": 5, "run.warmup_ms": 1, "strategies": ["fastwake_poll", "interrupt"]},
         "grid": {"platform": ["x86", "arm"]}}


def test_a_new_figure_is_a_folder_of_data(tmp_path, monkeypatch):
    """sweep.json + experiment.json naming a registered plot: no code, and `fastwake paper` runs it."""
    root = tmp_path / "experiments"
    _folder(root, "my_breakdown", {"plot": "breakdown"}, SMALL)
    _folder(root, "my_private", {"plot": "breakdown", "paper": False}, SMALL)
    (root / "notes").mkdir()  # no experiment.json: not an experiment
    monkeypatch.setenv("FASTWAKE_EXPERIMENTS", str(root))
    assert [e.name for e in ex.discover()] == ["my_breakdown", "my_private"]
    from fastwake.paper import paper

    manifest = paper(tmp_path / "out", cache=False, progress=False, log=lambda m: None)
    assert list(manifest["experiments"]) == ["my_breakdown"]
    assert manifest["files"] == ["my_breakdown.csv", "my_breakdown.pdf", "my_breakdown.png"]
    # The manifest says what made it: versions, commit, UTC date, host, libraries.
    meta = manifest["meta"]
    assert meta["tool"] == "fastwake paper" and meta["model_version"] == fastwake.MODEL_VERSION
    assert meta["toolkit_version"] == fastwake.__version__ and meta["date"].endswith("Z")
    assert {"numpy", "pandas", "matplotlib", "nlohmann_json"} <= set(meta["libraries"])
    assert len(pd.read_csv(tmp_path / "out" / "my_breakdown.csv")) == 4


@pytest.mark.parametrize("experiment, spec, message", [
    ({"plot": "breakdown", "plto": 1}, SMALL, r"experiment.json: unknown key\(s\) plto \(known: data, paper, plot, runner, spec\)"),
    ({"runner": "sweep"}, SMALL, r"experiment.json: 'plot' is required \(one of latency-vs-threads, latency-vs-threads-fixed-load, "),
    ({"plot": "pie"}, SMALL, r"experiment.json: plot: unknown plot 'pie' \(known: latency-vs-threads, "
                             r"latency-vs-threads-fixed-load, latency-vs-load, cdf, breakdown, "
                             r"state-residency, power-vs-load, power-vs-latency, adaptive-vs-load, incast, headline\)"),
    ({"plot": "cdf", "runner": "magic"}, SMALL, r"runner: unknown runner 'magic' \(known: sweep, latency-cdf, incast\)"),
    ({"plot": "cdf"}, None, r"spec: .*/bad/sweep.json does not exist"),
    ({"plot": "cdf", "data": "../x.csv"}, SMALL, r"data: expected a file name, got '../x.csv'"),
    ({"plot": "cdf", "paper": "yes"}, SMALL, r"paper: expected true or false, got 'yes'"),
])
def test_a_bad_experiment_json_names_the_key(tmp_path, monkeypatch, experiment, spec, message):
    _folder(tmp_path, "bad", experiment, spec)
    monkeypatch.setenv("FASTWAKE_EXPERIMENTS", str(tmp_path))
    with pytest.raises(fastwake.ConfigError, match=message):
        ex.discover()


def test_incast_spec_points():
    spec = ex.load_incast_spec(REPO / "experiments" / "incast" / "incast.json", quick=True)
    assert spec["clients"] == [1, 16, 256] and spec["set"]["run.duration_ms"] == 5
    assert spec["set"]["host.cores"] == 8  # quick settings are merged over the full ones
    assert ex.incast_points(spec, "simgrid") == [
        {"fabric.kind": "simgrid", "host.app_cores": 1, "workload.threads_per_core": 1},
        {"fabric.kind": "simgrid", "host.app_cores": 8, "workload.threads_per_core": 2},
        {"fabric.kind": "simgrid", "host.app_cores": 8, "workload.threads_per_core": 32}]
    with pytest.raises(fastwake.ConfigError, match="12 clients do not spread evenly over 8 cores"):
        ex.incast_points(dict(spec, clients=[12]), "simple")
