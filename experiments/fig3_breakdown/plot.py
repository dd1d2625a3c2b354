#!/usr/bin/python3
"""Plot script of fig3_breakdown: reads OUT/fig3_breakdown.csv, draws OUT/fig3_breakdown.png and .pdf (fastwake.plots.breakdown)."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1] / "python") not in sys.path:  # this repository's fastwake package
    sys.path.insert(0, str(HERE.parents[1] / "python"))

import pandas as pd  # noqa: E402

from fastwake import experiments, plots  # noqa: E402

NAME = "fig3_breakdown"


def plot(out: Path) -> list:
    df = pd.read_csv(out / f"{NAME}.csv")
    return plots.save(plots.breakdown(df), out / NAME)


if __name__ == "__main__":
    experiments.script_plot(plot, __doc__)
