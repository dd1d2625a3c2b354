#!/usr/bin/python3
"""Runner of fig4_power_vs_load: sweeps sweep.json (x86 and arm) and writes OUT/fig4_power_vs_load.csv."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1] / "python") not in sys.path:  # this repository's fastwake package
    sys.path.insert(0, str(HERE.parents[1] / "python"))

from fastwake import experiments  # noqa: E402

NAME = "fig4_power_vs_load"


def run(ctx: experiments.Context) -> None:
    df = ctx.sweep(HERE / "sweep.json", desc=NAME)
    ctx.write_csv(df, f"{NAME}.csv")


if __name__ == "__main__":
    experiments.script_run(run, __doc__)
