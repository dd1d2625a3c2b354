#!/usr/bin/python3
"""Plot script of fig5_power_vs_latency: reads OUT/fig5_power_vs_latency.csv, draws OUT/fig5_power_vs_latency.png and .pdf (fastwake.plots.power_vs_latency)."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1] / "python") not in sys.path:  # this repository's fastwake package
    sys.path.insert(0, str(HERE.parents[1] / "python"))

import pandas as pd  # noqa: E402

from fastwake import experiments, plots  # noqa: E402

NAME = "fig5_power_vs_latency"


def plot(out: Path) -> list:
    df = pd.read_csv(out / f"{NAME}.csv")
    return plots.save(plots.power_vs_latency(df), out / NAME)


if __name__ == "__main__":
    experiments.script_plot(plot, __doc__)
