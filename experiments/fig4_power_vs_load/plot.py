#!/usr/bin/python3
"""Plot script of fig4_power_vs_load: reads OUT/fig4_power_vs_load.csv, draws OUT/fig4_power_vs_load.png and .pdf (fastwake.plots.power_vs_load)."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1] / "python") not in sys.path:  # this repository's fastwake package
    sys.path.insert(0, str(HERE.parents[1] / "python"))

import pandas as pd  # noqa: E402

from fastwake import experiments, plots  # noqa: E402

NAME = "fig4_power_vs_load"


def plot(out: Path) -> list:
    df = pd.read_csv(out / f"{NAME}.csv")
    return plots.save(plots.power_vs_load(df), out / NAME)


if __name__ == "__main__":
    experiments.script_plot(plot, __doc__)
