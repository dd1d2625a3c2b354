"""The `fastwake` command line (python3 -m fastwake, ./fastwake): run, sweep, plot, paper, experiment,
incast, list, and on real threads bench, calibrate, compare."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

_T0 = time.perf_counter()  # the command's start, before the heavy imports

EPILOG = """examples:
  fastwake paper                                 # every figure + headline table -> results/paper/
  fastwake paper --quick --out /tmp/p            # small and fast
  fastwake run --platform arm --set workload.threads_per_core=16
  fastwake sweep --grid platform=x86,arm --grid workload.threads_per_core=1,4,16 --out sweep.csv
  fastwake sweep --spec experiments/fig1_latency_vs_threads/sweep.json --executor dask \\
                 --scheduler tcp://scheduler-host:8786 --out fig1.csv
  fastwake plot latency-vs-threads sweep.csv --out fig
  fastwake plot all results/paper                # redraw every paper figure from its data
  fastwake experiment fig3_breakdown --quick     # one experiments/ folder: data + figure
  fastwake bench configs/compare.json            # real threads, loopback NIC
  fastwake calibrate                             # this host's costs -> configs/platforms/host-NAME.json
  fastwake compare --out results/compare         # model (calibrated) vs loopback: table (errors in signed %) + figure
  fastwake incast                                # SimGrid fabric: 1..256 clients -> results/incast/
exit status: 0 ok, 2 bad input (the message names the key), 1 other errors
"""


def _parse_grid_arg(text: str) -> tuple[str, list]:
    """'PATH=V1,V2,...' or 'PATH=[json list]' -> (PATH, values); each
    comma-separated value is JSON when it parses, else a string."""
    from ._fastwake import ConfigError

    if "=" not in text:
        raise ConfigError(f"--grid '{text}': expected PATH=V1,V2,... or PATH=[JSON list]")
    path, _, vals = text.partition("=")
    vals = vals.strip()
    if vals.startswith("["):
        try:
            values = json.loads(vals)
        except ValueError as e:
            raise ConfigError(f"--grid '{text}': not a JSON list: {e}") from None
    else:
        values = []
        for v in vals.split(","):
            v = v.strip()
            if not v:
                raise ConfigError(f"--grid '{text}': empty value")
            try:
                values.append(json.loads(v))
            except ValueError:
                values.append(v)
    return path.strip(), values


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="config JSON file (default: configs/default.json, embedded)")
    p.add_argument("--platform", help="built-in platform profile (x86, arm)")
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override one config value (repeatable; as fastwake-sim --set)")
    p.add_argument("--force", action="store_true",
                   help="run even when the pre-run estimate (events, memory, backlog) is over the limits")


def _output_file(option: str, path) -> Path | None:
    """An output file named on the command line: its folder must exist (never
    created) and it must not be a folder. Checked before anything runs;
    ConfigError naming the option otherwise."""
    from ._fastwake import ConfigError

    if path is None:
        return None
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise ConfigError(f"{option} {path}: is a folder, not a file")
    if not parent.exists():
        raise ConfigError(f"{option} {path}: folder {parent} does not exist (it is not created)")
    if not parent.is_dir():
        raise ConfigError(f"{option} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: folder {parent} is not writable")
    return p


def _add_exec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=("local", "dask"), default="local",
                   help="local threads (default) or dask.distributed")
    p.add_argument("--jobs", type=int, default=None,
                   help="parallel simulations (local threads / LocalCluster workers); default: cores")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler (tcp://host:8786); default: a LocalCluster on loopback")
    p.add_argument("--cache", metavar="DIR", help="result cache folder (default $FASTWAKE_CACHE_DIR, else $XDG_CACHE_HOME/fastwake, "
                        "else ~/.cache/fastwake)")
    p.add_argument("--no-cache", action="store_true", help="recompute every point, write no cache")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _cache_arg(a) -> object:
    if a.no_cache:
        return False
    return a.cache if a.cache else True


def version_line() -> str:
    """What `fastwake --version` prints: "fastwake 0.1.0 (commit abc123)", as the C++ tools'
    version_line() (the one version is CMake's project(VERSION), through the native module)."""
    from ._fastwake import COMMIT, VERSION

    return f"fastwake {VERSION} (commit {COMMIT})"


class _VersionAction(argparse.Action):
    """--version: prints version_line() and exits 0 (the native module is read only then)."""

    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS,
                         help="print the version and the commit it was built from, and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            print(version_line())
        except ImportError as e:
            parser.exit(1, f"fastwake: {e}\n")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="fastwake",
        description="FastWake toolkit: simulate interrupt-mode RDMA wake-up strategies, sweep configs "
                    "(locally or on a Dask cluster) and draw the paper-style figures.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action=_VersionAction)
    sub = ap.add_subparsers(dest="cmd", metavar="COMMAND")

    p = sub.add_parser("paper", help="reproduce every figure and the headline table (main command)",
                       description="Runs experiments/*/ (sweeps on x86 and arm), draws every figure as PNG "
                                   "and PDF, writes the headline table (CSV, JSON, text) and prints it "
                                   "with the wall time.")
    p.add_argument("--out", type=Path, default=None, help="output folder (default results/paper/)")
    p.add_argument("--quick", action="store_true", help="small grids and 10 ms runs (a few seconds)")
    p.add_argument("--only", action="append", metavar="EXPERIMENT", help="run only this experiment folder (repeatable)")
    _add_exec_args(p)

    p = sub.add_parser("experiment", help="run one experiments/ folder and draw its figure",
                       description="Runs experiments/NAME/ as its experiment.json says (runner, spec, data "
                                   "file, plot): writes the data, then the figure (PNG + PDF) or table. "
                                   "Paper experiments write to results/paper/, the others to results/NAME/. "
                                   "`fastwake list` shows the experiments.")
    p.add_argument("name", metavar="NAME", help="experiment folder, e.g. fig1_latency_vs_threads or incast")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default results/paper/, or results/NAME/ outside the paper)")
    p.add_argument("--quick", action="store_true", help="the spec's quick settings (small grid, short runs)")
    p.add_argument("--no-plot", action="store_true", help="write the data only")
    _add_exec_args(p)

    p = sub.add_parser("run", help="simulate one config, print the table",
                       description="Simulates a config with each of its strategies and prints p50/p99, "
                                   "throughput, CPU, power, energy per request.")
    _add_config_args(p)
    p.add_argument("--json", metavar="FILE", help="write the result document (fastwake-result/1)")
    p.add_argument("--csv", metavar="FILE", help="write the flat rows (one per strategy)")
    p.add_argument("--samples", metavar="FILE.npz", help="record every request; save latencies etc. as .npz")

    p = sub.add_parser("sweep", help="simulate a grid of configs, write a CSV",
                       description="Runs every combination of the --grid values (or a sweep spec file) "
                                   "applied to the config, with every strategy; one CSV row per point x strategy.")
    _add_config_args(p)
    p.add_argument("--grid", action="append", default=[], metavar="PATH=V1,V2,...",
                   help="one sweep axis (repeatable): values comma-separated or a JSON list")
    p.add_argument("--spec", type=Path, help="sweep spec file (an experiment's sweep.json); --grid adds axes")
    p.add_argument("--quick", action="store_true", help="with --spec: use its quick settings")
    p.add_argument("--seeds", type=int, metavar="N",
                   help="run every point with seeds 1..N (default: the spec's \"seeds\", else the config's seed)")
    p.add_argument("--min-requests", type=int, metavar="N",
                   help="lengthen a point's run until every strategy measured N requests (default: the spec's)")
    p.add_argument("--out", type=Path, help="write the rows as CSV (default: print a summary only)")
    p.add_argument("--json", type=Path, help="write the rows as JSON records")
    _add_exec_args(p)

    from .experiments import figure_plots

    p = sub.add_parser("plot", help="draw a figure from result data (CSV)",
                       description="Draws one figure of the plot registry (fastwake.experiments.PLOTS) "
                                   "from the CSV a sweep or experiment wrote, or with FIGURE=all every "
                                   "paper figure and table from a `fastwake paper` output folder.")
    p.add_argument("figure", choices=(*figure_plots(), "all"))
    p.add_argument("data", type=Path, help="CSV file (a folder for 'all')")
    p.add_argument("--out", type=Path, help="output stem (default: next to the data); .png and .pdf are written")
    p.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                   help="draw only the rows where column KEY (e.g. workload.threads_per_core) equals VALUE "
                        "(repeatable); a figure of one scenario (breakdown, state-residency) needs it when the "
                        "CSV holds several, and the error lists the choices")

    sub.add_parser("list", help="strategies, platforms, model version")

    # --- issue 7 (SimGrid fabric): the incast experiment, experiments/incast/ ---
    p = sub.add_parser("incast", help="incast of 1..256 clients on the SimGrid fabric: latency, power",
                       description="Runs experiments/incast/ (needs a build with SimGrid): 1..256 clients "
                                   "share the server's link; FastWake strategies vs interrupt on the "
                                   "SimGrid and the simple fabric; writes incast.csv (+ .json), .png and .pdf. "
                                   "The same as `fastwake experiment incast`.")
    p.add_argument("--out", type=Path, default=None, help="output folder (default results/incast/)")
    p.add_argument("--quick", action="store_true", help="3 client counts, 5 ms runs (a few seconds)")
    p.set_defaults(name="incast", no_plot=False)
    _add_exec_args(p)

    def hw_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("config", nargs="?", help="config JSON file")
        p.add_argument("--platform", help="platform profile (name or .json file)")
        p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                       help="override one config value (repeatable)")
        p.add_argument("--cpus", help="CPU of each application core, e.g. 0 or 2,3")
        p.add_argument("--nic-cpu", type=int, help="CPU of the loopback NIC thread")

    p = sub.add_parser("bench", help="run the strategies on real threads (loopback NIC)",
                       description="Every strategy of the config on real pinned threads with the "
                                   "loopback NIC (fastwake-bench loopback): same schema, backend "
                                   "\"loopback\". Needs app_cores + 1 CPUs.")
    hw_args(p)
    p.add_argument("--json", metavar="FILE", help="write the result document")

    p = sub.add_parser("calibrate", help="fit this host's cost parameters into a platform profile",
                       description="Measures wake-up paths on this host (futex, eventfd, yield, "
                                   "dispatcher hand-off, cache-line hand-off, idle wake-ups), fits the "
                                   "model's costs by non-negative least squares and writes "
                                   "configs/platforms/host-<hostname>.json with residuals, date, machine.")
    p.add_argument("--out", help="profile path")
    p.add_argument("--iterations", type=int, help="round trips per microbenchmark (default 20000)")

    p = sub.add_parser("compare", help="predicted (model, calibrated) vs measured (loopback)",
                       description="Simulates the config (default configs/compare.json) with this "
                                   "host's profile, calibrated right before measuring (costs drift on VMs; "
                                   "the profile goes to the cache folder, CACHE/platforms/host-NAME.json, "
                                   "not into the source tree) and measures it on the loopback NIC; prints "
                                   "p50/p99 in µs side by side with the model error (predicted - measured) / "
                                   "measured as a signed percentage (+34% = the model predicts higher) and "
                                   "draws OUT.png/.pdf.")
    hw_args(p)
    p.add_argument("--recalibrate", action="store_true", help="(the default: compare always calibrates first unless --platform)")
    p.add_argument("--out", type=Path, default=Path("results/compare"),
                   help="output stem for the figure and JSON (default results/compare)")

    # --- issue 13: which strategy to run for a workload (python/fastwake/advise.py, docs/advise.md) ---
    from .advise import DEFAULT_DURATION_MS, DEFAULT_MIN_REQUESTS, DEFAULT_SEEDS, DEFAULT_WARMUP_MS

    p = sub.add_parser(
        "advise", help="recommend a strategy for a workload: p50/p99/power of each, the reason, a Pareto plot",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Describe a workload and its constraints: every registered strategy is simulated\n"
                    "(seeds 1..N, cached; locally or on Dask) and the table of p50/p99/power per strategy,\n"
                    "the recommendation, the reason and a Pareto plot (p99 vs power) are printed/written.\n"
                    "Workload options left out keep the base config's value (configs/default.json); the\n"
                    "mapping onto config keys is printed first.\n\n"
                    "How the choice is made (docs/advise.md): a strategy qualifies when its worst seed\n"
                    "meets the p99 target and the power cap and it did not saturate. Among those the\n"
                    "lowest mean power wins (powers within 1 % count as equal: the lower p99 decides);\n"
                    "without a target, the lowest p99. If none qualifies: 'no strategy meets the target'\n"
                    "and the closest (lowest p99 within the cap; lowest power if none is within it).",
        epilog="examples:\n"
               "  fastwake advise --cores 4 --threads-per-core 8 --think-us 50 --service-us 1 --p99-target-us 40\n"
               "  fastwake advise --cores 2 --threads-per-core 4 --load 200000 --p99-target-us 30 \\\n"
               "                  --power-cap-w 30 --platform arm --plot /tmp/advice.png\n"
               "  fastwake advise --platform host-$(hostname) --think-us 100 --p99-target-us 50 --executor dask\n"
               "exit status: 0 a strategy qualifies, 3 no strategy meets the target (the table and the\n"
               "closest are still printed), 2 bad input, 1 other errors")
    p.add_argument("config", nargs="?", help="base config JSON file (default: configs/default.json, embedded)")
    g = p.add_argument_group("workload (each maps onto one config key; left out: the base config's value)")
    g.add_argument("--platform", metavar="NAME|FILE.json",
                   help="cost profile: x86, arm, a calibrated host-NAME (configs/platforms/host-NAME.json, "
                        "`fastwake calibrate`) or a profile file -> platform")
    g.add_argument("--cores", type=int, metavar="N", help="application cores -> host.app_cores")
    g.add_argument("--host-cores", type=int, metavar="N",
                   help="cores of the whole host -> host.cores (default: the base's, at least --cores)")
    g.add_argument("--threads-per-core", type=int, metavar="N",
                   help="application threads per core, one connection (QP + CQ) each -> workload.threads_per_core")
    g.add_argument("--load", type=float, metavar="REQ/S", dest="load_rps",
                   help="offered load of the whole host in requests/s: open loop, Poisson arrivals -> "
                        "workload.kind=poisson, workload.rate_rps = REQ/S / (cores x threads per core). "
                        "Not with --think-us")
    g.add_argument("--think-us", type=float, metavar="US",
                   help="think time in µs between a reply and the connection's next request: closed "
                        "loop -> workload.kind=pingpong, workload.think_ns (its distribution stays the "
                        "base's workload.think_dist). Not with --load")
    g.add_argument("--service-us", type=float, metavar="US",
                   help="application time per request in µs -> workload.service_ns")
    g.add_argument("--service-dist", choices=("fixed", "exp"),
                   help="service time fixed or exponential (mean --service-us) -> workload.service_dist")
    g.add_argument("--message-bytes", type=int, metavar="B", help="request and reply size in bytes -> workload.message_bytes")
    g.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="any other config value (repeatable; as fastwake-sim --set; applied first)")
    g = p.add_argument_group("constraints")
    g.add_argument("--p99-target-us", type=float, metavar="US",
                   help="the p99 round trip (client's view) the workload needs, µs, > 0; without it the "
                        "lowest p99 within the cap wins")
    g.add_argument("--power-cap-w", type=float, metavar="W",
                   help="host power (cores + package) the strategy may draw, W, > 0; also given to "
                        "strategies that honour a cap at run time (adaptive.power_cap_w) when the config "
                        "has that key")
    g = p.add_argument_group("run")
    g.add_argument("--strategies", metavar="A,B,...",
                   help="strategies to compare (default: every registered one except simulator-only proposals)")
    g.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, metavar="N",
                   help=f"seeds 1..N per strategy (default {DEFAULT_SEEDS}); the table shows mean ± 95 %% "
                        "interval and the worst seed")
    g.add_argument("--duration-ms", type=float, default=DEFAULT_DURATION_MS, metavar="MS",
                   help=f"simulated measurement window per run, ms (default {DEFAULT_DURATION_MS:g}; an "
                        "open loop is lengthened to reach --min-requests)")
    g.add_argument("--warmup-ms", type=float, default=DEFAULT_WARMUP_MS, metavar="MS",
                   help=f"simulated warm-up before the window, ms (default {DEFAULT_WARMUP_MS:g})")
    g.add_argument("--min-requests", type=int, default=DEFAULT_MIN_REQUESTS, metavar="N",
                   help=f"requests each strategy must measure per seed; shorter runs are lengthened "
                        f"(default {DEFAULT_MIN_REQUESTS}: a p99 on 20 requests beyond it)")
    g.add_argument("--force", action="store_true",
                   help="run even when the pre-run estimate (events, memory, backlog) is over the limits")
    g = p.add_argument_group("output")
    g.add_argument("--plot", metavar="FILE",
                   help="the Pareto plot: FILE.png, .pdf or .svg, or STEM for STEM.png + STEM.pdf (the "
                        "folder must exist). Default: CACHE/advise/advise-HASH.png + .pdf, or with "
                        "--no-cache the current folder (a temporary folder when that is in the source tree)")
    g.add_argument("--no-plot", action="store_true", help="draw no plot")
    g.add_argument("--csv", metavar="FILE", help="write the table (one row per strategy) as CSV")
    g.add_argument("--json", metavar="FILE", help="write the table, recommendation, reason and mapping as JSON")
    _add_exec_args(p)
    return ap


def cmd_paper(a) -> int:
    from .experiments import DEFAULT_OUT
    from .paper import paper, print_report

    out = a.out or DEFAULT_OUT
    print(f"fastwake paper{' --quick' if a.quick else ''}: writing to {out}/", file=sys.stderr)
    manifest = paper(out, quick=a.quick, executor=a.executor, jobs=a.jobs, scheduler=a.scheduler,
                     cache=_cache_arg(a), progress=False if a.no_progress else None, only=a.only, t0=_T0)
    print_report(out, manifest)
    return 0


def cmd_run(a) -> int:
    from . import run
    from .results import write_text_atomic

    for opt in ("json", "csv", "samples"):
        _output_file(f"--{opt}", getattr(a, opt))
    r = run(a.config, platform=a.platform, sets=a.set, samples=bool(a.samples), force=a.force)
    print(r.table())
    if a.json:
        r.write_json(a.json, make_dirs=False)
        print(f"result document: {a.json}", file=sys.stderr)
    if a.csv:
        write_text_atomic(a.csv, r.frame().to_csv(index=False), make_dirs=False)
        print(f"rows: {a.csv}", file=sys.stderr)
    if a.samples:
        r.write_samples(a.samples)
        print(f"samples: {a.samples}", file=sys.stderr)
    return 0


def cmd_sweep(a) -> int:
    from . import sweep
    from .experiments import load_spec
    from .results import write_text_atomic

    base, grid, sets = a.config, {}, list(a.set)
    seeds, min_requests = a.seeds, a.min_requests
    if a.spec:
        spec = load_spec(a.spec, a.quick)
        seeds = seeds if seeds is not None else spec["seeds"]
        min_requests = min_requests if min_requests is not None else spec["min_requests"]
        if a.config is None:
            base = spec["base"]
        if isinstance(spec["grid"], list):  # a list of points: --grid axes cannot combine with it
            grid = spec["grid"]
        else:
            grid.update(spec["grid"])
        sets = [f"{k}={json.dumps(v)}" for k, v in spec["set"].items()] + sets
    for g in a.grid:
        k, v = _parse_grid_arg(g)
        if isinstance(grid, list):
            from ._fastwake import ConfigError

            raise ConfigError(f"--grid {g}: the spec's grid is a list of points; edit the spec instead")
        grid[k] = v
    _output_file("--out", a.out)
    _output_file("--json", a.json)
    df = sweep(base, grid or None, platform=a.platform, sets=sets, executor=a.executor, jobs=a.jobs,
               scheduler=a.scheduler, cache=_cache_arg(a), progress=False if a.no_progress else None,
               seeds=seeds, min_requests=min_requests, force=a.force)
    keys = list(dict.fromkeys(k for pt in grid for k in pt)) if isinstance(grid, list) else list(grid)
    cols = ["point", *[k for k in [*keys, "run.seed"] if k in df.columns and k != "platform"], "platform", "strategy",
            "latency_us.p50", "latency_us.p99", "throughput_rps", "power_w"]
    with_pd_opts(lambda: print(df[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}")))
    if a.out:
        write_text_atomic(a.out, df.to_csv(index=False), make_dirs=False)
        print(f"rows: {a.out}", file=sys.stderr)
    if a.json:
        write_text_atomic(a.json, df.to_json(orient="records", indent=1), make_dirs=False)
        print(f"rows: {a.json}", file=sys.stderr)
    at = df.attrs
    print(f"{at['points']} points x strategies = {len(df)} rows; {at['computed']} simulated, "
          f"{at['cached']} from cache{' (' + at['cache'] + ')' if at.get('cache') else ''}", file=sys.stderr)
    return 0


def with_pd_opts(fn) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 50):
        fn()


def cmd_plot(a) -> int:
    from ._fastwake import ConfigError
    from .experiments import PLOTS, paper_experiments

    if a.figure == "all":
        if not a.data.is_dir():
            raise ConfigError(f"{a.data}: expected the folder `fastwake paper` wrote")
        for e in paper_experiments():
            if not (a.data / e.data).exists():
                print(f"  {e.name}: no data in {a.data}, skipped", file=sys.stderr)
                continue
            for p in e.draw(a.data):
                print(p)
        return 0
    for p in PLOTS[a.figure].render(a.data, a.out or a.data.with_suffix(""), where=a.where):
        print(p)
    return 0


def cmd_experiment(a) -> int:
    """`fastwake experiment NAME` (and `fastwake incast`, NAME = incast): fastwake.experiments.run_experiment."""
    from .experiments import run_experiment

    files = run_experiment(a.name, a.out, quick=a.quick, executor=a.executor, jobs=a.jobs, scheduler=a.scheduler,
                           cache=_cache_arg(a), progress=False if a.no_progress else None, plot=not a.no_plot)
    for f in files:
        print(f)
    what = "incast" if a.cmd == "incast" else f"experiment {a.name}"
    print(f"fastwake {what}{' --quick' if a.quick else ''}: wall time {time.perf_counter() - _T0:.1f} s",
          file=sys.stderr)
    return 0


def cmd_list(_a) -> int:
    import fastwake

    print("strategies:")
    for s in fastwake.strategies():
        print(f"  {s['name']:<28}{s['description']}")
    print("platforms:")
    for p in fastwake.platforms():
        print(f"  {p}")
    print("experiments (fastwake experiment NAME; * = part of fastwake paper):")
    from .experiments import discover

    for e in discover():
        print(f"  {e.name:<28}{'*' if e.paper else ' '} {e.runner} {e.spec} -> {e.data}, plot {e.plot}")
    print(f"model version: {fastwake.MODEL_VERSION}")
    print(f"cache: {fastwake.default_cache_dir()}")
    return 0


def _cpus(text):
    return [int(c) for c in text.split(",")] if text else None


def cmd_bench(a) -> int:
    from . import hw
    from .results import Result, write_text_atomic

    _output_file("--json", a.json)
    doc = hw.bench(a.config, platform=a.platform, sets=a.set, cpus=_cpus(a.cpus),
                   nic_cpu=a.nic_cpu, quiet=False)
    print(Result(doc).table())
    if a.json:
        write_text_atomic(a.json, json.dumps(doc, indent=2) + "\n", make_dirs=False)
        print(f"wrote {a.json}")
    return 0


def cmd_calibrate(a) -> int:
    from . import hw

    _profile, text = hw.calibrate(a.out, iterations=a.iterations)
    print(text, end="")
    return 0


def cmd_compare(a) -> int:
    from . import hw

    cmp = hw.compare(a.config, platform=a.platform, sets=a.set, recalibrate=a.recalibrate,
                     cpus=_cpus(a.cpus), nic_cpu=a.nic_cpu, quiet=False)
    from .results import compare_table

    print(compare_table(cmp))
    a.out.parent.mkdir(parents=True, exist_ok=True)
    hw.plot_compare(cmp, a.out)
    a.out.with_suffix(".json").write_text(json.dumps(cmp, indent=2) + "\n")
    for ext in ("png", "pdf", "json"):
        print(f"wrote {a.out.with_suffix('.' + ext)}")
    return 0


#: advise()'s argument names -> the command line's options (errors name what the user typed).
ADVISE_OPTIONS = {"cores": "--cores", "host_cores": "--host-cores", "threads_per_core": "--threads-per-core",
                  "load_rps and think_us": "--load and --think-us", "load_rps": "--load",
                  "think_us": "--think-us", "service_us": "--service-us", "service_dist": "--service-dist",
                  "message_bytes": "--message-bytes", "p99_target_us": "--p99-target-us",
                  "power_cap_w": "--power-cap-w", "platform": "--platform", "strategies": "--strategies",
                  "seeds": "--seeds", "duration_ms": "--duration-ms", "warmup_ms": "--warmup-ms",
                  "min_requests": "--min-requests"}


def _advise_plot_path(a, advice) -> Path:
    """Where the plot goes without --plot: under the cache, else the current folder unless that is the
    source tree (then a temporary folder): never into the source tree."""
    import tempfile

    from . import default_cache_dir
    from ._native import REPO

    name = f"advise-{advice.key()}"
    if not a.no_cache:
        d = Path(a.cache) if a.cache else default_cache_dir()
        d = d / "advise"
        d.mkdir(parents=True, exist_ok=True)
        return d / name
    cwd = Path.cwd().resolve()
    repo = Path(REPO).resolve()
    if cwd == repo or repo in cwd.parents:
        d = Path(tempfile.gettempdir()) / "fastwake-advise"
        d.mkdir(exist_ok=True)
        return d / name
    return cwd / name


def cmd_advise(a) -> int:
    from ._fastwake import ConfigError
    from .advise import advise
    from .results import write_text_atomic

    for opt in ("csv", "json"):
        _output_file(f"--{opt}", getattr(a, opt))
    if a.plot:
        if a.no_plot:
            raise ConfigError("--plot and --no-plot: give one of them")
        _output_file("--plot", a.plot)
    strategies = None
    if a.strategies is not None:
        strategies = [s.strip() for s in a.strategies.split(",")]
        if not all(strategies):
            raise ConfigError(f"--strategies {a.strategies}: empty name (give names separated by commas)")
    try:
        advice = advise(a.config, cores=a.cores, host_cores=a.host_cores, threads_per_core=a.threads_per_core,
                        load_rps=a.load_rps, think_us=a.think_us, service_us=a.service_us,
                        service_dist=a.service_dist, message_bytes=a.message_bytes,
                        p99_target_us=a.p99_target_us, power_cap_w=a.power_cap_w, platform=a.platform,
                        sets=a.set, strategies=strategies, seeds=a.seeds, duration_ms=a.duration_ms,
                        warmup_ms=a.warmup_ms, min_requests=a.min_requests, executor=a.executor,
                        jobs=a.jobs, scheduler=a.scheduler, cache=_cache_arg(a),
                        progress=False if a.no_progress else None, force=a.force)
    except ConfigError as e:
        msg = str(e)
        for arg in sorted(ADVISE_OPTIONS, key=len, reverse=True):
            if msg.startswith(arg + ":"):
                msg = ADVISE_OPTIONS[arg] + msg[len(arg):]
                break
        raise ConfigError(msg) from None
    print("workload -> config keys:")
    for m in advice.mapping:
        print(f"  {m}")
    print(advice.text())
    if not a.no_plot:
        for f in advice.save_plot(a.plot or _advise_plot_path(a, advice)):
            print(f"plot: {f}")
    if a.csv:
        write_text_atomic(a.csv, advice.table.to_csv(index=False), make_dirs=False)
        print(f"table: {a.csv}", file=sys.stderr)
    if a.json:
        doc = {"recommended": advice.recommended, "closest": advice.closest, "reason": advice.reason,
               "p99_target_us": advice.p99_target_us, "power_cap_w": advice.power_cap_w,
               "seeds": advice.seeds, "mapping": [vars(m) for m in advice.mapping],
               "table": json.loads(advice.table.to_json(orient="records")), "config": advice.config}
        write_text_atomic(a.json, json.dumps(doc, indent=2, default=str) + "\n", make_dirs=False)
        print(f"advice: {a.json}", file=sys.stderr)
    at = advice.attrs
    print(f"{at.get('computed', 0)} runs simulated, {at.get('cached', 0)} from cache; "
          f"wall time {time.perf_counter() - _T0:.1f} s", file=sys.stderr)
    return 0 if advice.recommended else 3


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    a = ap.parse_args(argv)
    if a.cmd is None:
        ap.print_help()
        return 2
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        import fastwake  # noqa: F401 - a missing build is reported here
    except ImportError as e:
        print(f"fastwake: {e}", file=sys.stderr)
        return 1
    from ._fastwake import ConfigError

    try:
        return {"paper": cmd_paper, "run": cmd_run, "sweep": cmd_sweep, "plot": cmd_plot,
                "list": cmd_list, "bench": cmd_bench, "calibrate": cmd_calibrate,
                "compare": cmd_compare, "experiment": cmd_experiment, "incast": cmd_experiment,
                "advise": cmd_advise}[a.cmd](a)
    except ConfigError as e:
        print(f"fastwake {a.cmd}: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # bad data for a plot
        print(f"fastwake {a.cmd}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastwake {a.cmd}: interrupted; finished points are cached, run again to resume",
              file=sys.stderr)
        return 130
    except (FileNotFoundError, RuntimeError) as e:  # fastwake-bench missing or failed
        print(f"fastwake {a.cmd}: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # writing an output (disk full, permissions): one line, no traceback
        print(f"fastwake {a.cmd}: {e}", file=sys.stderr)
        return 1
