#!/usr/bin/python3
"""Plot script of fig1_latency_vs_threads: reads OUT/fig1_latency_vs_threads.csv, draws OUT/fig1_latency_vs_threads.png and .pdf (fastwake.plots.latency_vs_threads)."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1] / "python") not in sys.path:  # this repository's fastwake package
    sys.path.insert(0, str(HERE.parents[1] / "python"))

import pandas as pd  # noqa: E402

from fastwake import experiments, plots  # noqa: E402

NAME = "fig1_latency_vs_threads"


def plot(out: Path) -> list:
    df = pd.read_csv(out / f"{NAME}.csv")
    return plots.save(plots.latency_vs_threads(df), out / NAME)


if __name__ == "__main__":
    experiments.script_plot(plot, __doc__)
