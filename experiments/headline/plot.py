#!/usr/bin/python3
"""Table script of the headline: reads OUT/headline_data.csv, writes OUT/headline.csv, .json and .txt (fastwake.headline)."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1] / "python") not in sys.path:  # this repository's fastwake package
    sys.path.insert(0, str(HERE.parents[1] / "python"))

import json  # noqa: E402

import pandas as pd  # noqa: E402

import fastwake  # noqa: E402
from fastwake import experiments, headline  # noqa: E402
from fastwake.results import write_text_atomic  # noqa: E402

DEFAULT_TPC = fastwake.default_config()["workload"]["threads_per_core"]


def plot(out: Path) -> list:
    data = pd.read_csv(out / "headline_data.csv")
    table = headline.headline(data)
    text = headline.format_table(table, default_tpc=DEFAULT_TPC)
    doc = {
        "description": json.loads((HERE / "sweep.json").read_text())["description"],
        "default_threads_per_core": DEFAULT_TPC,
        "model_version": fastwake.MODEL_VERSION,
        "columns": {
            "p50_reduction_pct": "latency reduction vs interrupt at p50, % (positive = faster)",
            "p99_reduction_pct": "latency reduction vs interrupt at p99, %",
            "p50_above_busy_poll_ns": "p50 minus busy_poll's p50, ns",
            "p50_ratio_to_busy_poll": "p50 / busy_poll's p50",
            "power_overhead_w": "host power minus interrupt's, W (model estimate)",
            "power_overhead_pct": "host power vs interrupt's, %",
        },
        "summary": headline.summary(table),
        "rows": table.to_dict(orient="records"),
    }
    paths = [out / "headline.csv", out / "headline.json", out / "headline.txt"]
    write_text_atomic(paths[0], table.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(paths[1], json.dumps(doc, indent=2) + "\n")
    write_text_atomic(paths[2], text + "\n")
    return paths


if __name__ == "__main__":
    experiments.script_plot(plot, __doc__)
