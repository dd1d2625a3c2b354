#!/usr/bin/python3
"""Plot script of fig2_latency_cdf: reads OUT/fig2_latency_cdf.csv (+ .json), draws OUT/fig2_latency_cdf.png and .pdf."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1] / "python") not in sys.path:  # this repository's fastwake package
    sys.path.insert(0, str(HERE.parents[1] / "python"))

import pandas as pd  # noqa: E402

from fastwake import experiments, plots  # noqa: E402

NAME = "fig2_latency_cdf"


def plot(out: Path) -> list:
    cdf = pd.read_csv(out / f"{NAME}.csv")
    return plots.save(plots.latency_cdf(cdf, scenario=plots.sidecar_scenario(out / f"{NAME}.csv")), out / NAME)


if __name__ == "__main__":
    experiments.script_plot(plot, __doc__)
