#!/usr/bin/python3
"""Runner of fig2_latency_cdf: runs each point of sweep.json with per-request samples; writes the CDF table OUT/fig2_latency_cdf.csv (+ .json: scenario, request counts)."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1] / "python") not in sys.path:  # this repository's fastwake package
    sys.path.insert(0, str(HERE.parents[1] / "python"))

import fastwake  # noqa: E402
from fastwake import experiments, plots  # noqa: E402
from fastwake.sweeps import make_points  # noqa: E402

NAME = "fig2_latency_cdf"


def run(ctx: experiments.Context) -> None:
    spec = experiments.load_spec(HERE / "sweep.json", ctx.quick)
    sets = [f"{k}={fastwake.canonical_json(v)}" for k, v in spec["set"].items()]
    samples, scenario = {}, None
    for p in make_points(spec["base"], spec["grid"], sets=sets):
        r = fastwake.run(p.config, samples=True)  # samples are not cached: one short run per platform
        samples[r.config["platform"]["name"]] = {s: r.latencies_us(s) for s in r.samples}
        scenario = plots.scenario_text(r.frame())
    cdf = plots.cdf_frame(samples)
    ctx.write_csv(cdf, f"{NAME}.csv")
    ctx.write_json({"scenario": scenario, "model_version": fastwake.MODEL_VERSION,
                    "requests": {plat: {s: len(v) for s, v in d.items()} for plat, d in samples.items()}},
                   f"{NAME}.json")


if __name__ == "__main__":
    experiments.script_run(run, __doc__)
